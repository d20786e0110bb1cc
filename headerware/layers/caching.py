"""Caching headers and conditional GET.

``Caching`` sets ``Cache-Control`` by rule, keeps personalised responses out of
shared caches, adds an ``ETag`` to in-memory bodies and answers conditional
requests with ``304 Not Modified``.

Cache-Control, in order of precedence
    0. A view's own choice, :func:`cache_policy` (below), stands for the
       application's ``Cache-Control`` and is never replaced by 2.
    1. *Authenticated* requests — an ``Authorization`` header, or one of
       ``session_cookies`` — get ``authenticated`` (default ``no-store``) unless the
       application already said ``private`` or ``no-store``: a shared cache must
       never hand one user's page to another. ``None`` disables this.
    2. ``rules`` — ``{"/static/*": "public, max-age=31536000, immutable"}``, path
       patterns of :mod:`headerware.paths` (most specific wins) — then
       ``content_types`` — ``{"text/html": "no-cache", "image/*": "max-age=86400"}``
       (exact type beats ``type/*``) — applied when the application set no
       ``Cache-Control`` (or always, with ``override=True``). A path rule may make
       a response publicly cacheable, so it follows the path model's rule for
       anything laxer (:meth:`~headerware.paths.PathRules.agreed`): it applies only
       when the raw and the resolved path pick the same rule.
    3. ``private`` is added (and ``public`` removed) when the response is
       personalised: it carries ``Vary: Cookie`` (or ``Vary: *``), a
       ``Set-Cookie``, or this request's CSP nonce (see below). A response with
       none of those and no rule is left alone.

A view's cache policy (any framework, decided at run time)
    ``cache_policy(environ, "public, max-age=60")`` — ``environ`` is Flask's
    ``request.environ``, Django's ``request.META`` or a bare app's environ — records
    the value under ``headerware.caching.policy``; call it before the response
    starts (anywhere in a Flask or Django view; before ``start_response`` in a bare
    or streaming app). The value is checked like a configured rule when called
    (:class:`ValueError` for an empty value or a control character such as CR/LF).
    It replaces the application's ``Cache-Control`` header and beats ``rules`` and
    ``content_types`` (also with ``override=True``), but not the safety rules:
    1 still gives an authenticated request ``no-store`` unless the view's value is
    ``private`` or ``no-store``, and 3 still makes a personalised response
    ``private``. A view's ``public`` therefore never reaches a response to a
    request with ``Authorization`` or a session cookie, nor one that sets a cookie.
    A value written under the key by hand that could not be sent is ignored (the
    rules decide) and logged as ``cache_policy_ignored``.

Which responses carry a CSP nonce
    A nonce is different on every response, so a page that embeds one must not be
    shared or ETagged. The rule: a response is personalised because of a nonce
    only when it is a *document* — ``text/html``, ``application/xhtml+xml``,
    ``image/svg+xml``, or a response without ``Content-Type`` (the types whose
    markup can embed a nonce) — that carries, or will carry, a nonce policy:
    either its own ``Content-Security-Policy`` (or ``-Report-Only``) header
    contains ``'nonce-``, or the CSP layer published a nonce for this request
    (``headerware.csp.nonce``). The CSP layer sits outside this one (its response
    hook runs after this one's), so its header is not visible here yet; the
    published nonce stands for the nonce policy it gives documents. (When the
    application keeps a nonce-free policy of its own, the published nonce still
    counts: the page may have rendered it.) Stylesheets, scripts, images, JSON and
    every other non-document type never count, whatever their CSP header says —
    the CSP layer gives them its nonce-free policy, and a nonce in a header is not
    in their body. So with the CSP layer on, a rule such as
    ``"/static/*": "public, max-age=31536000, immutable"`` gives public, ETagged
    static files while HTML pages are ``private``; with ``nonce_directives=()``
    no nonce exists and pages follow their rules like any response.

ETag and 304 (``etag="weak"`` default, ``"strong"``, or ``None``)
    For ``GET`` ``200`` responses without an ``ETag`` of their own whose body the
    application returned as a list or tuple (already in memory) of at most
    ``max_etag_size`` bytes (1 MiB), the layer asks for the body
    (``response.hold_body``) and adds an ETag of its SHA-1 (werkzeug's
    ``generate_etag``). Streamed bodies and ``wsgi.file_wrapper`` responses are
    never held; responses with a CSP nonce or ``no-store`` get no computed ETag.
    ``HEAD`` responses get none either (their body is empty): the application's
    own ``ETag`` is used there.

    ``If-None-Match`` (weak comparison, ``*`` matches any current representation)
    and, only when there is no ``If-None-Match``, ``If-Modified-Since`` against the
    application's ``Last-Modified`` are answered with ``304`` for ``GET``/``HEAD``
    and ``2xx`` application responses — whether the ETag is the application's or
    computed. The 304 has no body (``response.drop_body()``); per RFC 9110
    §15.4.5 it keeps ``ETag``, ``Cache-Control``, ``Expires``, ``Vary``,
    ``Content-Location`` and ``Date`` and every non-representation header
    (``Set-Cookie``, security headers), and drops the representation metadata
    (``Content-Type``, ``Content-Length``, ``Content-Encoding``, ``Last-Modified``
    ... — werkzeug's entity headers).

Configuration mistakes raise :class:`~headerware.options.OptionError` naming the
option (``rules``, ``content_types``, ``etag``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.datastructures import ETags
from werkzeug.http import generate_etag, is_entity_header, parse_date, quote_etag, unquote_etag

from .._headers import DOCUMENT, is_safe_value, media_type
from .._log import security_event
from ..core.layer import Layer
from ..options import OptionError, boolean, choice, non_negative_int, string_list
from ..paths import PathRules

if TYPE_CHECKING:
    from ..core.context import Context
    from ..core.layer import BodyHook, ResponseHead

__all__ = ["POLICY_KEY", "Caching", "cache_policy"]

#: The published key of the request's CSP nonce (set by the CSP layer).
NONCE_KEY = "headerware.csp.nonce"
#: The environ key where :func:`cache_policy` records a view's Cache-Control value.
POLICY_KEY = "headerware.caching.policy"
_NOT_MODIFIED = "304 Not Modified"
_KEEP_ON_304 = frozenset({"expires", "content-location"})
_CSP_HEADERS = ("content-security-policy", "content-security-policy-report-only")


def _tokens(value: str) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",")}


def _etags_parser() -> Callable[[str], ETags]:
    """werkzeug's ETag-list parse: ``ETags.from_header`` (werkzeug >= 3.2, where
    ``parse_etags`` is deprecated), else ``parse_etags`` (3.1)."""
    from_header: Callable[[str], ETags] | None = getattr(ETags, "from_header", None)
    if from_header is not None:
        return from_header
    from werkzeug import http  # only here: on 3.2 even the import warns

    name = "parse_etags"  # looked up by name: 3.2's type stubs lack it
    parse: Callable[[str], ETags] = getattr(http, name)
    return parse


_parse_etags = _etags_parser()


def _not_modified(
    if_none_match: str | None,
    if_modified_since: str | None,
    etag: str | None,
    last_modified: str | None,
) -> bool:
    """True when the client's validators show it has the current representation."""
    if if_none_match is not None:
        tags = _parse_etags(if_none_match.strip())  # werkzeug 3.1 loops forever on a trailing \n
        if tags.star_tag:
            return True
        if etag is None:
            return False
        tag, _ = unquote_etag(etag)
        return tags.contains_weak(tag)
    if if_modified_since and last_modified:
        since = parse_date(if_modified_since)
        modified = parse_date(last_modified)
        if since is not None and modified is not None:
            return modified.replace(microsecond=0) <= since
    return False


def _kept_on_304(name: str, value: str) -> bool:
    return not is_entity_header(name) or name.lower() in _KEEP_ON_304


def _answer_304(response: ResponseHead) -> None:
    """Turn ``response`` into a bodiless 304 without representation metadata."""
    response.status = _NOT_MODIFIED
    response.remove_if(_kept_on_304)
    response.drop_body()


def _carries_nonce(ctx: Context, response: ResponseHead) -> bool:
    """True when the response is a document that may embed this request's CSP nonce."""
    if response.kind != DOCUMENT:
        return False
    if ctx.published(NONCE_KEY) is not None:
        return True
    return any("'nonce-" in value for name in _CSP_HEADERS for value in response.get_all(name))


def _personalised_by_headers(response: ResponseHead) -> bool:
    """``Vary: Cookie`` / ``Vary: *`` or a ``Set-Cookie``: one user's response."""
    if response.has("set-cookie"):
        return True
    for value in response.get_all("vary"):
        lowered = value.lower()
        if "*" in lowered or "cookie" in _tokens(lowered):
            return True
    return False


def _value_problem(value: object) -> str | None:
    """Why ``value`` cannot be sent as a Cache-Control value (``None``: it can)."""
    if not isinstance(value, str) or not value.strip():
        return f"{value!r} must be a Cache-Control value"
    if not is_safe_value(value):
        return (
            f"the Cache-Control value {value!r} contains a control character "
            "(CR, LF, ...) or a non-latin-1 character"
        )
    return None


def _directive(option: str, where: str, value: object) -> str:
    """A Cache-Control value that can be sent as it is."""
    problem = _value_problem(value)
    if problem is not None:
        fix = "e.g. 'no-cache'" if not isinstance(value, str) or not value.strip() else "remove it"
        raise OptionError(option, value, f"{where}{problem}", fix)
    assert isinstance(value, str)
    return value


def cache_policy(environ: MutableMapping[str, Any], value: str) -> None:
    """Choose this response's ``Cache-Control`` from the application (a view).

    Call it before the response starts (before ``start_response``; in Flask and
    Django, anywhere in the view). ``environ`` is the request's WSGI environ
    (Flask's ``request.environ``, Django's ``request.META``). The value is checked
    like a configured rule: a :class:`ValueError` for an empty value or one with a
    control character (CR, LF, ...). A later call replaces an earlier one.

    The view's policy replaces the application's own ``Cache-Control`` header and
    wins over ``rules`` and ``content_types`` (with ``override=True`` too), but the
    safety rules still apply: an authenticated request gets ``authenticated``
    unless the policy says ``private`` or ``no-store``, and a personalised response
    (``Set-Cookie``, ``Vary: Cookie``, a CSP nonce) gets ``private`` instead of
    ``public``. Without the ``Caching`` layer in the stack it has no effect.
    """
    problem = _value_problem(value)
    if problem is not None:
        raise ValueError(f"cache_policy: {problem}")
    environ[POLICY_KEY] = value


def _content_types(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``(exact types, major types)`` of the ``content_types`` option."""
    exact_types: dict[str, str] = {}
    major_types: dict[str, str] = {}
    for content_type, value in values.items():
        _directive("content_types", f"[{content_type!r}]: ", value)
        key = content_type.strip().lower() if isinstance(content_type, str) else ""
        major, sep, minor = key.partition("/")
        if not sep or not major or not minor or major == "*":
            raise OptionError(
                "content_types",
                content_type,
                f"{content_type!r} must be a media type",
                "e.g. 'text/html' or 'image/*'",
            )
        if minor == "*":
            major_types[major] = value
        else:
            exact_types[key] = value
    return exact_types, major_types


class Caching(Layer):
    """Cache-Control by rule, ``private`` for personalised responses, ETag and 304."""

    name: ClassVar[str] = "caching"

    def __init__(
        self,
        app: Any = None,
        *,
        rules: Mapping[str, str] | None = None,
        content_types: Mapping[str, str] | None = None,
        # A shared cache must never store a response meant for one user.
        authenticated: str | None = "no-store",
        # Flask's and headerware's default session cookie name.
        session_cookies: Sequence[str] = ("session",),
        # Keep the application's own Cache-Control unless told otherwise.
        override: bool = False,
        # Weak: a byte-identical guarantee is rarely needed and survives compression.
        etag: str | None = "weak",
        # Hash in-memory bodies up to 1 MiB; larger ones are rare and expensive.
        max_etag_size: int = 1 << 20,
    ) -> None:
        super().__init__(app)
        rule_values = dict(rules or {})
        for pattern, value in rule_values.items():
            _directive("rules", f"[{pattern!r}]: ", value)
        self._rules = PathRules(rule_values, option="rules")
        self._rule_values = rule_values
        self._exact_types, self._major_types = _content_types(content_types or {})
        if authenticated is not None:
            _directive("authenticated", "", authenticated)
        self.authenticated = authenticated
        self.session_cookies = string_list("session_cookies", session_cookies)
        self.override = boolean("override", override)
        self.etag = choice("etag", etag, ("weak", "strong", None))
        self.max_etag_size = non_negative_int("max_etag_size", max_etag_size, example=str(1 << 20))

    # -- Cache-Control -------------------------------------------------------------

    def _is_authenticated(self, ctx: Context) -> bool:
        if ctx.header("authorization"):
            return True
        if self.session_cookies and ctx.header("cookie"):
            cookies = ctx.cookies
            return any(name in cookies for name in self.session_cookies)
        return False

    def _rule_for(self, ctx: Context, response: ResponseHead) -> str | None:
        if self._rules:
            found = self._rules.agreed(ctx)  # public caching is laxer: both paths agree
            if found is not None:
                return found[1]
        if self._exact_types or self._major_types:
            mimetype = media_type(response.content_type)
            if mimetype:
                found_type = self._exact_types.get(mimetype)
                if found_type is None:
                    found_type = self._major_types.get(mimetype.partition("/")[0])
                return found_type
        return None

    def _cache_control(
        self, ctx: Context, response: ResponseHead, current: str | None, chosen: bool
    ) -> str | None:
        """The Cache-Control value by precedence 1 and 2 (before ``private``).

        ``chosen``: ``current`` is a view's :func:`cache_policy`, which rules never replace.
        """
        if (
            self.authenticated is not None
            and not (current and {"private", "no-store"} & _tokens(current))
            and self._is_authenticated(ctx)
        ):
            return self.authenticated
        if not chosen and (current is None or self.override):
            rule = self._rule_for(ctx, response)
            if rule is not None:
                return rule
        return current

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        current = response.get("cache-control")
        recorded = ctx.published(POLICY_KEY)
        chosen = None if recorded is None else _view_policy(recorded)
        if chosen is None:
            value = self._cache_control(ctx, response, current, False)
        else:
            value = self._cache_control(ctx, response, chosen, True)
        nonce = _carries_nonce(ctx, response)
        if nonce or _personalised_by_headers(response):
            value = _make_private(value)
        if value is not None and value != current:
            response.set("Cache-Control", value)
        if ctx.method in ("GET", "HEAD") and response.status.startswith("2"):
            self._conditional(
                ctx, response, nonce or (value is not None and "no-store" in _tokens(value))
            )

    # -- conditional GET and ETag ----------------------------------------------------

    def _conditional(self, ctx: Context, response: ResponseHead, varying: bool) -> None:
        """Answer 304 from the application's validators, or hold the body for an ETag.

        ``varying``: the response carries a nonce or is ``no-store`` (no computed ETag).
        """
        etag = response.get("etag")
        last_modified = response.get("last-modified")
        if_none_match = ctx.header("if-none-match")
        if etag is not None or last_modified is not None:
            since = ctx.header("if-modified-since")
            if _not_modified(if_none_match, since, etag, last_modified):
                _answer_304(response)
                return
            if etag is not None:
                return
        elif if_none_match is not None and if_none_match.strip() == "*":
            _answer_304(response)
            return
        if (
            self.etag is None
            or varying
            or ctx.method != "GET"
            or not response.status.startswith("200")
        ):
            return
        length = response.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_etag_size):
            return
        response.hold_body(self._etagger(if_none_match))

    def _etagger(self, if_none_match: str | None) -> BodyHook:
        """The body hook of one request: add the computed ETag, answer 304 on a match."""
        limit = self.max_etag_size
        weak = self.etag == "weak"

        def add_etag(response: ResponseHead, chunks: list[bytes]) -> None:
            if sum(len(chunk) for chunk in chunks) > limit:
                return
            tag = quote_etag(generate_etag(b"".join(chunks)), weak=weak)
            response.add("ETag", tag)
            if _not_modified(if_none_match, None, tag, None):
                _answer_304(response)

        return add_etag

    def describe(self) -> dict[str, Any]:
        return {
            "rules": dict(self._rule_values),
            "content_types": {
                **self._exact_types,
                **{f"{major}/*": value for major, value in self._major_types.items()},
            },
            "authenticated": self.authenticated,
            "session_cookies": list(self.session_cookies),
            "override": self.override,
            "etag": self.etag,
            "max_etag_size": self.max_etag_size,
        }


def _view_policy(value: object) -> str | None:
    """A recorded :func:`cache_policy` value; one written into the environ by hand
    that could not be sent is ignored (``None``: the rules decide) and logged."""
    if _value_problem(value) is None:
        assert isinstance(value, str)
        return value
    security_event("cache_policy_ignored", value=repr(value)[:100])
    return None


def _make_private(value: str | None) -> str:
    """``value`` with ``public`` replaced by ``private`` (``no-store`` is kept as is)."""
    if not value:
        return "private"
    parts = [part.strip() for part in value.split(",") if part.strip()]
    names = {part.split("=", 1)[0].lower() for part in parts}
    if "private" in names or "no-store" in names:
        return value
    kept = [part for part in parts if part.split("=", 1)[0].lower() != "public"]
    return ", ".join(["private", *kept])
