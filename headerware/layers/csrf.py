"""Cross-site request forgery protection, tokenless by default.

:class:`CSRFProtect` (config name ``csrf``) refuses unsafe cross-origin requests from
browsers, in the style of Go 1.25's ``net/http.CrossOriginProtection``:

1. ``GET``, ``HEAD`` and ``OPTIONS`` always pass (they must not change state).
2. ``Sec-Fetch-Site``, when present, decides: ``same-origin`` and ``none`` (the
   user typed the URL or used a bookmark) pass; ``cross-site``, ``same-site`` and
   anything else are refused unless the request's ``Origin`` is a trusted origin.
   Every browser sends it since 2023, and pages cannot forge it.
3. Otherwise the ``Origin`` header is compared with the request's own origin: the
   request's scheme and ``Host`` (or the server's name and port when the client
   sent none), i.e. as the server and the proxy-trust set-up resolved them. Host
   case and default ports are normalised. A mismatch (``null`` included) is refused
   unless the origin is trusted. Unlike Go, the scheme is compared too: an
   ``http://`` page cannot post to the ``https://`` site.
4. A request with neither header is not from a browser (curl, a server-to-server
   call, which no other site can make a user's browser send) and passes. An empty
   ``Origin:`` counts as absent, as in Go (no browser sends one).

The Origin fallback (step 3) meets a catch: a page served with
``Referrer-Policy: no-referrer`` makes browsers send ``Origin: null`` even on its
own form posts, so a browser too old for ``Sec-Fetch-Site`` is refused there.
:func:`origin_fallback_warning` says so for ``headerware check-config``.

No token is needed, so forms and ``fetch`` calls need no change. Refusals are
``403 Forbidden`` with a short reason, as JSON ``{"error": ...}`` or HTML by Accept,
logged as ``csrf_refused`` with ``reason``, ``origin`` and ``path``. Every request
that reaches the application carries the verdict under ``headerware.csrf.verdict``
(``None``: passed); read it with :func:`csrf_verdict`.

Token mode (``mode="token"``)
    Adds a classic synchronizer token, bound to the session (a :class:`Sessions`
    layer must run before this one; the tokens, :mod:`headerware.csrf_tokens`, use
    the session it published under ``headerware.session``): unsafe requests that
    pass the origin check must also carry a valid token, in the ``X-CSRF-Token``
    header or the ``csrf_token`` form field. The header is preferred: with it, the
    body is never read. The origin check runs first, so a cross-site request is
    refused before its body is touched. Only then is a form body
    (``application/x-www-form-urlencoded`` or ``multipart/form-data``) read, and
    only when its ``Content-Length`` is at most ``max_form_size`` bytes (else
    ``413``); a form of more than ``max_form_fields`` fields is refused with ``413``
    before one field is decoded (multipart: when the part over the limit is
    reached). The body stays readable by the application. Under ASGI the layer
    awaits it (at most ``max_form_size`` bytes, plus one chunk without a
    ``Content-Length``) exactly then; a client that leaves mid-body gets ``400``
    (``body_incomplete``). Tokens are signed (itsdangerous) and masked with a fresh
    random pad on every call, so a compressed response never repeats the same
    secret bytes (BREACH). Templates get one with :func:`csrf_token` (the
    zero-argument callable behind it is published under ``headerware.csrf.token``).
    ``session.regenerate()`` at login rotates the secret.

Options
    ``trusted_origins=()``: origins allowed to make cross-origin unsafe requests:
    exact ``scheme://host[:port]`` origins (``http``/``https``; no path, trailing
    slash or default port) and subdomain patterns ``https://*.example.com[:port]``
    (as Django >= 4.0's ``CSRF_TRUSTED_ORIGINS`` allows), matched by
    :class:`headerware.origins.OriginMatcher`, the structural matcher CORS uses:
    ``https://a.example.com`` and ``https://b.a.example.com`` match, the apex
    ``https://example.com`` only when listed itself, and never
    ``https://example.com.evil.example``, ``https://evilexample.com`` or another
    scheme or port. ``*`` and ``null`` are refused at start-up.
    ``exempt_paths=()``: patterns of :mod:`headerware.paths` (an exact path,
    ``/hooks/*``, ``/hooks/``) never checked (webhooks); a plain entry is exact,
    never a prefix. An exemption makes a request laxer, so it applies only when the
    raw *and* the resolved path match: ``/hooks/../admin`` is checked. A pattern
    covering every path (``/*``) is refused at start-up: remove the layer instead.
    ``mode="origin"`` or ``"token"``. ``field_name="csrf_token"``,
    ``header_name="X-CSRF-Token"``, ``max_form_size=1048576``, ``max_form_fields=1000``,
    ``token_max_age=None``
    (seconds a token stays valid; the session's timeouts bound it anyway),
    ``secret_keys=None``, ``allow_dev_key=False``, ``salt="headerware.csrf"``
    (token mode). ``report_only=False``: log what would be refused
    (``report_only=True`` in the event) and let it through.
    ``defer_to_framework=False``: see below.

Per-view exemptions (``defer_to_framework=True``)
    The check runs before the application, so a WSGI layer cannot know which view
    will answer. With ``defer_to_framework=True`` the layer refuses nothing itself:
    it publishes its verdict -- ``headerware.csrf.verdict``, ``None`` for a pass or
    the refusal reason (``"cross_site"``, ``"origin_mismatch"``, ``"token_missing"``,
    ``"token_invalid"``, ``"form_too_large"``, ``"body_incomplete"``) -- and the
    response it would have sent (:func:`csrf_refusal`), logs ``csrf_refused`` with
    ``deferred=True``, and the framework enforces it before the view runs, unless
    the view is exempt:

    * Flask: :func:`headerware.contrib.flask.init_app` and
      ``@headerware.contrib.flask.csrf_exempt``;
    * Django: ``headerware.contrib.django.middleware.CSRFMiddleware`` and
      ``@headerware.contrib.django.decorators.csrf_exempt`` (Django's own
      ``csrf_exempt`` is honoured too);
    * a bare WSGI app must check it itself, before doing anything::

          refusal = csrf_refusal(environ)   # or: if csrf_verdict(environ) is not None
          if refusal is not None and not view_is_exempt:
              start_response(refusal.status, refusal.headers)
              return [refusal.body]

    Deferring is never silently unsafe: reading the verdict (:func:`csrf_verdict`,
    :func:`csrf_refusal`, or an adapter) marks it as checked; when the application
    answers a refused request without having read it, the layer logs
    ``csrf_verdict_unchecked`` (``reason``, ``path``) and sends the refusal instead
    of the application's answer -- the view did run, so fix the set-up (install the
    adapter, or check the verdict) as the event says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from .._log import security_event
from ..core.layer import Layer, Response, ResponseHead
from ..crypto import KeysOption
from ..csrf_tokens import CSRFTokens, check_header_name, check_token_max_age, session_of
from ..csrf_verdict import (
    CHECKED_KEY,
    REFUSAL_KEY,
    TOKEN_KEY,
    VERDICT_KEY,
    csrf_refusal,
    csrf_token,
    csrf_verdict,
)
from ..options import OptionError, boolean, choice, non_negative_int, positive_int, text
from ..origins import OriginMatcher, canonical_origin
from ..paths import PathSet, covers
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context

__all__ = [
    "CHECKED_KEY",
    "REFUSAL_KEY",
    "TOKEN_KEY",
    "VERDICT_KEY",
    "CSRFProtect",
    "csrf_refusal",
    "csrf_token",
    "csrf_verdict",
    "origin_fallback_warning",
    "request_origin",
]

_STATE_KEY = "headerware.csrf"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_REASONS = {
    "cross_site": "cross-site request refused",
    "origin_mismatch": "cross-origin request refused",
    "token_missing": "CSRF token missing",
    "token_invalid": "CSRF token invalid or expired",
    "form_too_large": "form too large to look for a CSRF token; send it in the header",
    "body_incomplete": "request body incomplete",
}
_BODY_STATUS = {"form_too_large": "413 Content Too Large", "body_incomplete": "400 Bad Request"}
#: A DNS name or IPv4 address (lower-case), or the inside of an IPv6 literal.
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\Z|[0-9a-f:.]+\Z")


def origin_fallback_warning(referrer_policy: str | None) -> str | None:
    """A warning when ``Referrer-Policy`` (the header value the site sends) makes
    browsers send ``Origin: null`` on same-origin form posts, which the Origin
    fallback refuses; ``None`` when there is nothing to say."""
    if not referrer_policy:
        return None
    # The last policy a browser understands wins; "no-referrer" is understood by all.
    tokens = [token.strip().lower() for token in referrer_policy.split(",") if token.strip()]
    if not tokens or tokens[-1] != "no-referrer":
        return None
    return (
        "Referrer-Policy: no-referrer makes browsers send 'Origin: null' on the site's "
        "own form posts; CSRFProtect refuses them from browsers without Sec-Fetch-Site "
        "(the Origin fallback). Use 'strict-origin-when-cross-origin' or "
        "'same-origin', or accept that such browsers cannot post forms"
    )


def _normalise_origin(value: str) -> str | None:
    """``scheme://host[:port]`` with the host lower-cased and a default port dropped."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if (
        scheme not in _DEFAULT_PORTS
        or not host
        or _HOST.match(host) is None
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or value.endswith("/")
    ):
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def request_origin(ctx: Context) -> str:
    """The request's own origin as the server (and proxy trust) resolved it."""
    scheme = ctx.scheme.lower()
    host = ctx.host.lower()
    default = ":" + _DEFAULT_PORTS.get(scheme, "")
    if host.endswith(default) and not host.endswith("]"):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def _check_trusted(trusted_origins: Iterable[str]) -> OriginMatcher:
    if isinstance(trusted_origins, str):
        raise OptionError(
            "trusted_origins",
            trusted_origins,
            f"give a list, not the string {trusted_origins!r}",
            f"e.g. trusted_origins=[{trusted_origins!r}]",
        )
    entries = list(trusted_origins)
    for origin in entries:
        scheme = origin.partition("://")[0].lower() if isinstance(origin, str) else ""
        if scheme not in _DEFAULT_PORTS or origin in ("*", "null"):
            raise OptionError(
                "trusted_origins",
                origin,
                f"{origin!r} is not an http(s) origin or subdomain pattern",
                "write scheme://host[:port], e.g. 'https://app.example.com', or "
                "'https://*.example.com' for its subdomains ('*' and 'null' would "
                "turn the check off)",
            )
        if "*" not in origin:
            normal = canonical_origin(origin, option="trusted_origins")
            if normal != origin.lower():
                raise OptionError(
                    "trusted_origins",
                    origin,
                    f"{origin!r} is not an exact origin",
                    f"write {normal!r} (no default port)",
                )
    return OriginMatcher(entries, option="trusted_origins")


def _check_exempt(exempt_paths: Iterable[str]) -> PathSet:
    exempt = PathSet(exempt_paths, option="exempt_paths")
    for pattern in exempt.patterns:
        if covers(pattern, "/*"):
            raise OptionError(
                "exempt_paths",
                pattern,
                f"{pattern!r} exempts every path: the layer would check nothing",
                "list the paths that need no check (e.g. '/hooks/*'), or remove the layer",
            )
    return exempt


class CSRFProtect(Layer):
    """Refuse unsafe cross-origin browser requests (and, in token mode, tokenless ones)."""

    name = "csrf"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        trusted_origins: Iterable[str] = (),
        exempt_paths: Iterable[str] = (),
        mode: str = "origin",
        field_name: str = "csrf_token",
        header_name: str = "X-CSRF-Token",
        max_form_size: int = 1 << 20,
        max_form_fields: int = 1000,
        token_max_age: int | None = None,
        secret_keys: KeysOption = None,
        allow_dev_key: bool = False,
        salt: str = "headerware.csrf",
        report_only: bool = False,
        defer_to_framework: bool = False,
    ) -> None:
        super().__init__(app)
        self._trusted = _check_trusted(trusted_origins)
        exempt = _check_exempt(exempt_paths)
        self._exempt = exempt if exempt else None
        self.exempt_paths = exempt.patterns
        self.mode = choice("mode", mode, ("origin", "token"))
        self.field_name = text("field_name", field_name)
        self.header_name = check_header_name(header_name)
        self.max_form_size = non_negative_int("max_form_size", max_form_size, example="1048576")
        self.max_form_fields = positive_int("max_form_fields", max_form_fields, example="1000")
        self.token_max_age = check_token_max_age(token_max_age)
        self.report_only = boolean("report_only", report_only)
        self.defer_to_framework = boolean("defer_to_framework", defer_to_framework)
        self._tokens: CSRFTokens | None = None
        if mode == "token":
            self._tokens = CSRFTokens(
                secret_keys=secret_keys,
                salt=salt,
                max_age=token_max_age,
                allow_dev_key=allow_dev_key,
                field_name=field_name,
                header_name=header_name,
                max_form_size=self.max_form_size,
                max_form_fields=self.max_form_fields,
            )
        self.handles_response = self.defer_to_framework
        self.request_is_async = self._tokens is not None  # only token mode reads a body

    @property
    def trusted_origins(self) -> tuple[str, ...]:
        """The trusted origins, normalised, then the subdomain patterns as given."""
        return tuple(self._trusted.describe()["origins"])

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "trusted_origins": list(self.trusted_origins),
            "exempt_paths": list(self.exempt_paths),
            "field_name": self.field_name,
            "header_name": self.header_name,
            "max_form_size": self.max_form_size,
            "max_form_fields": self.max_form_fields,
            "token_max_age": self.token_max_age,
            "report_only": self.report_only,
            "defer_to_framework": self.defer_to_framework,
        }

    def _token_factory(self, ctx: Context, tokens: CSRFTokens) -> Callable[[], str]:
        return lambda: tokens.make(session_of(ctx))

    def _trusts(self, origin: str | None) -> bool:
        return origin is not None and self._trusted.allows(origin)

    # -- hooks ------------------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        tokens = self._tokens
        if tokens is not None:
            ctx.publish(TOKEN_KEY, self._token_factory(ctx, tokens))
        if ctx.method in _SAFE_METHODS:
            ctx.publish(VERDICT_KEY, None)
            return None
        reason, origin, site = self._check(ctx, tokens)
        if reason is None:
            ctx.publish(VERDICT_KEY, None)
            return None
        return self._refuse(ctx, reason, origin, site)

    async def on_request_async(self, ctx: Context) -> Response | None:
        """:meth:`on_request` under ASGI, after awaiting the form body it will read."""
        if self._reads_body(ctx):
            await ctx.read_body_async(self.max_form_size)
        return self.on_request(ctx)

    def _reads_body(self, ctx: Context) -> bool:
        """Whether :meth:`on_request` reads the body (token mode, origin passed, a form)."""
        tokens = self._tokens
        if tokens is None or ctx.method in _SAFE_METHODS:
            return False
        checked = self._check_origin(ctx)
        return checked is not None and checked[0] is None and tokens.reads_body(ctx)

    def _check_origin(self, ctx: Context) -> tuple[str | None, str | None, str | None] | None:
        """``None`` on an exempt path, else ``(reason or None, origin, sec-fetch-site)``."""
        exempt = self._exempt
        if exempt is not None and exempt.both(ctx):
            return None
        site = ctx.header("sec-fetch-site")
        origin = ctx.header("origin") or None  # empty: absent, as in Go
        if site:
            if site not in ("same-origin", "none") and not self._trusts(origin):
                return "cross_site", origin, site
        elif (
            origin is not None
            and not self._trusts(origin)
            and _normalise_origin(origin) != request_origin(ctx)
        ):
            return "origin_mismatch", origin, None
        return None, origin, site

    def _check(
        self, ctx: Context, tokens: CSRFTokens | None
    ) -> tuple[str | None, str | None, str | None]:
        """``(reason or None, origin, sec-fetch-site)`` of an unsafe request."""
        checked = self._check_origin(ctx)
        if checked is None:
            return None, None, None
        reason, origin, site = checked
        if reason is not None or tokens is None:
            return checked
        try:
            token = tokens.submitted(ctx)
        except RequestEntityTooLarge:
            return "form_too_large", origin, site
        except ClientDisconnected:
            return "body_incomplete", origin, site
        if token is None:
            return "token_missing", origin, site
        if not tokens.matches(session_of(ctx), token):
            return "token_invalid", origin, site
        return None, origin, site

    def _refuse(
        self, ctx: Context, reason: str, origin: str | None, site: str | None
    ) -> Response | None:
        fields: dict[str, Any] = {"reason": reason, "origin": origin, "path": ctx.path}
        if site is not None:
            fields["sec_fetch_site"] = site
        if self.report_only:
            security_event("csrf_refused", report_only=True, **fields)
            ctx.publish(VERDICT_KEY, None)
            return None
        status = _BODY_STATUS.get(reason)  # a body refusal, else 403
        message = _REASONS[reason] if status else f"Forbidden: {_REASONS[reason]}"
        refusal = error_response(ctx, status or "403 Forbidden", message)
        if not self.defer_to_framework:
            security_event("csrf_refused", **fields)
            return refusal
        security_event("csrf_refused", deferred=True, **fields)
        ctx.publish(VERDICT_KEY, reason)
        ctx.publish(REFUSAL_KEY, refusal)
        ctx.state[_STATE_KEY] = (reason, refusal)
        return None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        deferred = ctx.state.get(_STATE_KEY)
        if deferred is None or ctx.published(CHECKED_KEY):
            return
        reason, refusal = deferred
        security_event(
            "csrf_verdict_unchecked",
            reason=reason,
            path=ctx.path,
            fix="the application ran without reading the deferred CSRF verdict: install "
            "the framework adapter or check csrf_verdict(environ) before acting",
        )
        response.replace(refusal)
