"""Caching headers and conditional GET.

``Caching`` sets ``Cache-Control`` by rule, keeps personalised responses out of
shared caches, adds an ``ETag`` to in-memory bodies and answers conditional
requests with ``304 Not Modified``.

Cache-Control, in order of precedence
    1. *Authenticated* requests — an ``Authorization`` header, or one of
       ``session_cookies`` — get ``authenticated`` (default ``no-store``) unless the
       application already said ``private`` or ``no-store``: a shared cache must
       never hand one user's page to another. ``None`` disables this.
    2. ``rules`` — ``{"/static/*": "public, max-age=31536000, immutable"}``, path
       patterns of :mod:`headerware.paths` (most specific wins) — then
       ``content_types`` — ``{"text/html": "no-cache", "image/*": "max-age=86400"}``
       (exact type beats ``type/*``) — applied when the application set no
       ``Cache-Control`` (or always, with ``override=True``).
    3. ``private`` is added (and ``public`` removed) when the response is
       personalised: it carries this request's CSP nonce (environ
       ``headerware.csp.nonce``), ``Vary: Cookie``, or a ``Set-Cookie``. A
       response with none of those and no rule is left alone.

ETag and 304 (``etag="weak"`` default, ``"strong"``, or ``None``)
    For ``GET`` ``200`` responses without an ``ETag`` of their own whose body the
    application returned as a list or tuple (already in memory) of at most
    ``max_etag_size`` bytes (1 MiB), the engine hands the body over
    (``ctx.buffer_body``) and an ETag of its SHA-1 is added (werkzeug's
    ``generate_etag``). Streamed bodies and ``wsgi.file_wrapper`` responses are
    never buffered; responses with a CSP nonce (different every time) or
    ``no-store`` get no computed ETag. ``HEAD`` responses get none either (their
    body is empty): the application's own ``ETag`` is used there.

    ``If-None-Match`` (weak comparison, ``*`` matches any current representation)
    and, only when there is no ``If-None-Match``, ``If-Modified-Since`` against the
    application's ``Last-Modified`` are answered with ``304`` for ``GET``/``HEAD``
    and ``2xx`` application responses — whether the ETag is the application's or
    computed. The 304 has no body; per RFC 9110 §15.4.5 it keeps ``ETag``,
    ``Cache-Control``, ``Expires``, ``Vary``, ``Content-Location`` and ``Date`` and
    every non-representation header (``Set-Cookie``, security headers), and drops
    the representation metadata (``Content-Type``, ``Content-Length``,
    ``Content-Encoding``, ``Last-Modified`` ... — werkzeug's
    ``remove_entity_headers``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.http import (
    generate_etag,
    parse_date,
    parse_etags,
    quote_etag,
    remove_entity_headers,
    unquote_etag,
)

from .._headers import HeaderList, check_header
from ..engine import Context, Layer
from ..paths import PathRules

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = ["Caching"]

NONCE_KEY = "headerware.csp.nonce"
_NOT_MODIFIED = "304 Not Modified"
_KEEP_ON_304 = ("expires", "content-location")


def _tokens(value: str) -> set[str]:
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",")}


def _not_modified(environ: WSGIEnvironment, etag: str | None, last_modified: str | None) -> bool:
    """True when the client's validators show it has the current representation."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = parse_etags(if_none_match.strip())  # werkzeug 3.1 loops forever on a trailing \n
        if tags.star_tag:
            return True
        if etag is None:
            return False
        tag, _ = unquote_etag(etag)
        return tags.contains_weak(tag)
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if if_modified_since and last_modified:
        since = parse_date(if_modified_since)
        modified = parse_date(last_modified)
        if since is not None and modified is not None:
            return modified.replace(microsecond=0) <= since
    return False


class Caching(Layer):
    """Cache-Control by rule, ``private`` for personalised responses, ETag and 304."""

    name: ClassVar[str] = "caching"
    changes_body: ClassVar[bool] = True

    def __init__(
        self,
        app: WSGIApplication | None = None,
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
        rules = dict(rules or {})
        for pattern, value in rules.items():
            check_header("Cache-Control", value, option=f"rules[{pattern!r}]")
        self._rules = PathRules(rules, option="rules")
        self._rule_values = rules
        exact_types: dict[str, str] = {}
        major_types: dict[str, str] = {}
        for content_type, value in (content_types or {}).items():
            check_header("Cache-Control", value, option=f"content_types[{content_type!r}]")
            key = content_type.strip().lower()
            major, sep, minor = key.partition("/")
            if not sep or not major or not minor or major == "*":
                raise ValueError(
                    f"content_types: {content_type!r} must be a media type such as "
                    "'text/html' or 'image/*'"
                )
            if minor == "*":
                major_types[major] = value
            else:
                exact_types[key] = value
        self._exact_types = exact_types
        self._major_types = major_types
        if authenticated is not None:
            check_header("Cache-Control", authenticated, option="authenticated")
        self.authenticated = authenticated
        if isinstance(session_cookies, str):
            raise ValueError(
                f"session_cookies: give a list of cookie names, not one string: "
                f"[{session_cookies!r}]"
            )
        self.session_cookies = tuple(session_cookies)
        self.override = bool(override)
        if etag not in ("weak", "strong", None):
            raise ValueError(f"etag: {etag!r} must be 'weak', 'strong' or None")
        self.etag = etag
        if (
            isinstance(max_etag_size, bool)
            or not isinstance(max_etag_size, int)
            or max_etag_size < 0
        ):
            raise ValueError(f"max_etag_size: {max_etag_size!r} must be a number of bytes >= 0")
        self.max_etag_size = max_etag_size

    # -- Cache-Control -------------------------------------------------------------

    def _is_authenticated(self, ctx: Context) -> bool:
        environ = ctx.environ
        if environ.get("HTTP_AUTHORIZATION"):
            return True
        if self.session_cookies and environ.get("HTTP_COOKIE"):
            cookies = ctx.cookies
            return any(name in cookies for name in self.session_cookies)
        return False

    def _rule_for(self, environ: WSGIEnvironment, headers: HeaderList) -> str | None:
        if self._rules:
            value = self._rules.match_environ(environ)
            if value is not None:
                return value
        if self._exact_types or self._major_types:
            content_type = None
            for key, header in headers:
                if key.lower() == "content-type":
                    content_type = header
                    break
            if content_type:
                mimetype = content_type.split(";", 1)[0].strip().lower()
                found = self._exact_types.get(mimetype)
                if found is None:
                    found = self._major_types.get(mimetype.partition("/")[0])
                return found
        return None

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        environ = ctx.environ
        cache_control: str | None = None
        index = -1
        etag: str | None = None
        last_modified: str | None = None
        vary_cookie = set_cookie = False
        for position, (key, value) in enumerate(headers):
            name = key.lower()
            if name == "cache-control":
                cache_control, index = value, position
            elif name == "etag":
                etag = value
            elif name == "last-modified":
                last_modified = value
            elif name == "vary":
                lowered = value.lower()
                vary_cookie = vary_cookie or "cookie" in _tokens(lowered) or "*" in lowered
            elif name == "set-cookie":
                set_cookie = True

        nonce = NONCE_KEY in environ
        new_value = cache_control
        app_tokens = _tokens(cache_control) if cache_control else set()
        if (
            self.authenticated is not None
            and not ({"private", "no-store"} & app_tokens)
            and self._is_authenticated(ctx)
        ):
            new_value = self.authenticated
        elif cache_control is None or self.override:
            rule = self._rule_for(environ, headers)
            if rule is not None:
                new_value = rule
        if nonce or vary_cookie or set_cookie:
            new_value = _make_private(new_value)
        if new_value != cache_control:
            assert new_value is not None
            if index >= 0:
                headers[index] = (headers[index][0], new_value)
            else:
                headers.append(("Cache-Control", new_value))

        # -- conditional GET and ETag ----------------------------------------------
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or not status.startswith("2"):
            return None
        if etag is not None or last_modified is not None:
            if _not_modified(environ, etag, last_modified):
                return self._answer_304(ctx, headers)
            if etag is not None:
                return None
        elif environ.get("HTTP_IF_NONE_MATCH", "").strip() == "*":
            return self._answer_304(ctx, headers)
        if (
            self.etag is None
            or method != "GET"
            or not status.startswith("200")
            or nonce
            or (new_value is not None and "no-store" in _tokens(new_value))
        ):
            return None
        for key, value in headers:
            if key.lower() == "content-length":
                if not value.isdigit() or int(value) > self.max_etag_size:
                    return None
                break
        ctx.buffer_body(self)
        return None

    def _answer_304(self, ctx: Context, headers: HeaderList) -> str:
        ctx.drop_body = True
        remove_entity_headers(headers, _KEEP_ON_304)
        return _NOT_MODIFIED

    def on_body(
        self, ctx: Context, status: str, headers: HeaderList, chunks: list[bytes]
    ) -> tuple[str, HeaderList, list[bytes]]:
        size = sum(len(chunk) for chunk in chunks)
        if size > self.max_etag_size:
            return status, headers, chunks
        tag = quote_etag(generate_etag(b"".join(chunks)), weak=self.etag == "weak")
        headers = [*headers, ("ETag", tag)]
        if _not_modified(ctx.environ, tag, None):
            return self._answer_304(ctx, headers), headers, []
        return status, headers, chunks

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
