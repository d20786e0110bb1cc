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
logged as ``csrf_refused`` with ``reason``, ``origin`` and ``path``.

Token mode (``mode="token"``)
    Adds a classic synchronizer token, bound to the session (a :class:`Sessions`
    layer must run before this one; this layer reads the session it published
    under ``headerware.session``, through its ``csrf_secret()`` and
    ``current_csrf_secret()`` methods): unsafe requests that pass the origin check
    must also carry a valid token, in the ``X-CSRF-Token`` header or the
    ``csrf_token`` form field. The header is preferred: with it, the body is never
    read. The origin check runs first, so a cross-site request is refused before
    its body is touched. Only then is a form body
    (``application/x-www-form-urlencoded`` or ``multipart/form-data``) read, and
    only when its ``Content-Length`` is at most ``max_form_size`` bytes (else
    ``413``); a form of more than ``max_form_fields`` fields is refused with ``413``
    before one field is decoded (multipart: when the part over the limit is
    reached). The body stays readable by the application. Tokens are signed
    (itsdangerous) and masked with a fresh random pad on every call, so a compressed
    response never repeats the same secret bytes (BREACH). Templates get one with
    :func:`csrf_token` (the zero-argument callable behind it is published under
    ``headerware.csrf.token``). ``session.regenerate()`` at login rotates the secret.

Options
    ``trusted_origins=()``: exact ``scheme://host[:port]`` origins allowed to make
    cross-origin unsafe requests (validated at start-up; no path, no wildcard).
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
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote_plus, urlsplit

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from .._headers import is_token
from .._log import security_event
from ..core.layer import Layer, Response
from ..crypto import CookieSigner, KeysOption
from ..options import OptionError, boolean, choice, non_negative_int, positive_int, text
from ..paths import PathSet, covers
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

    from ..core.context import Context

__all__ = ["TOKEN_KEY", "CSRFProtect", "csrf_token", "origin_fallback_warning", "request_origin"]

#: The published key of the zero-argument callable that returns a fresh masked token.
TOKEN_KEY = "headerware.csrf.token"
#: The published key of the request's session (the Sessions layer's documented key).
SESSION_KEY = "headerware.session"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_REASONS = {
    "cross_site": "cross-site request refused",
    "origin_mismatch": "cross-origin request refused",
    "token_missing": "CSRF token missing",
    "token_invalid": "CSRF token invalid or expired",
    "form_too_large": "form too large to look for a CSRF token; send it in the header",
}
_SECRET_BYTES = 32
#: A DNS name or IPv4 address (lower-case), or the inside of an IPv6 literal.
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?\Z|[0-9a-f:.]+\Z")


class _CSRFSession(Protocol):
    """What token mode uses of the published session (see :mod:`~headerware.layers.sessions`)."""

    def csrf_secret(self) -> str: ...

    def current_csrf_secret(self) -> str | None: ...


def csrf_token(environ: WSGIEnvironment) -> str:
    """A fresh masked CSRF token for a form or header (needs ``mode="token"``)."""
    factory = environ.get(TOKEN_KEY)
    if not callable(factory):
        raise LookupError(
            "no CSRF token on this request: use CSRFProtect(mode='token') after a "
            "Sessions layer (the default origin mode needs no token)"
        )
    return str(factory())


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


def _check_trusted(trusted_origins: Iterable[str]) -> frozenset[str]:
    if isinstance(trusted_origins, str):
        raise OptionError(
            "trusted_origins",
            trusted_origins,
            f"give a list, not the string {trusted_origins!r}",
            f"e.g. trusted_origins=[{trusted_origins!r}]",
        )
    trusted: set[str] = set()
    for origin in trusted_origins:
        normal = _normalise_origin(origin) if isinstance(origin, str) else None
        if normal is None or normal != origin.lower():
            raise OptionError(
                "trusted_origins",
                origin,
                f"{origin!r} is not an exact origin",
                "write it as scheme://host[:port] with no path, trailing slash, wildcard "
                "or default port, e.g. 'https://app.example.com'",
            )
        trusted.add(normal)
    return frozenset(trusted)


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


def _check_header_name(header_name: object) -> str:
    if not isinstance(header_name, str) or not is_token(header_name):
        raise OptionError(
            "header_name",
            header_name,
            f"{header_name!r} is not a valid header name",
            "use e.g. 'X-CSRF-Token'",
        )
    return header_name


def _check_token_max_age(token_max_age: object) -> int | None:
    if token_max_age is None:
        return None
    if isinstance(token_max_age, bool) or not isinstance(token_max_age, int) or token_max_age <= 0:
        raise OptionError(
            "token_max_age",
            token_max_age,
            f"{token_max_age!r} is not a positive number of seconds",
            "use e.g. 3600, or None (the session's timeouts bound tokens anyway)",
        )
    return token_max_age


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
    ) -> None:
        super().__init__(app)
        self.trusted_origins = _check_trusted(trusted_origins)
        exempt = _check_exempt(exempt_paths)
        self._exempt = exempt if exempt else None
        self.exempt_paths = exempt.patterns
        self.mode = choice("mode", mode, ("origin", "token"))
        self.field_name = text("field_name", field_name)
        self.header_name = _check_header_name(header_name)
        self._header_lower = header_name.lower()
        self.max_form_size = non_negative_int("max_form_size", max_form_size, example="1048576")
        self.max_form_fields = positive_int("max_form_fields", max_form_fields, example="1000")
        self.token_max_age = _check_token_max_age(token_max_age)
        self.report_only = boolean("report_only", report_only)
        self._signer: CookieSigner | None = None
        if mode == "token":
            self._signer = CookieSigner(
                secret_keys, salt=salt, max_age=token_max_age, allow_dev_key=allow_dev_key
            )

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "trusted_origins": sorted(self.trusted_origins),
            "exempt_paths": list(self.exempt_paths),
            "field_name": self.field_name,
            "header_name": self.header_name,
            "max_form_size": self.max_form_size,
            "max_form_fields": self.max_form_fields,
            "token_max_age": self.token_max_age,
            "report_only": self.report_only,
        }

    # -- tokens -----------------------------------------------------------------------

    @staticmethod
    def _session(ctx: Context) -> _CSRFSession:
        session = ctx.published(SESSION_KEY)
        if session is None or not callable(getattr(session, "csrf_secret", None)):
            raise LookupError(
                "CSRFProtect(mode='token') needs a Sessions layer before it in the stack "
                "(no session was published under 'headerware.session')"
            )
        return session  # type: ignore[no-any-return]

    def _make_token(self, ctx: Context) -> str:
        assert self._signer is not None
        secret = base64.urlsafe_b64decode(self._session(ctx).csrf_secret() + "=")
        pad = os.urandom(_SECRET_BYTES)
        masked = pad + bytes(a ^ b for a, b in zip(pad, secret, strict=True))
        payload = base64.urlsafe_b64encode(masked).rstrip(b"=").decode("ascii")
        return self._signer.sign(payload)

    def _token_factory(self, ctx: Context) -> Callable[[], str]:
        return lambda: self._make_token(ctx)

    def _token_matches(self, ctx: Context, token: str) -> bool:
        assert self._signer is not None
        payload = self._signer.unsign(token)
        if payload is None:
            return False
        try:
            masked = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            return False
        if len(masked) != 2 * _SECRET_BYTES:
            return False
        pad, hidden = masked[:_SECRET_BYTES], masked[_SECRET_BYTES:]
        candidate = bytes(a ^ b for a, b in zip(pad, hidden, strict=True))
        stored = self._session(ctx).current_csrf_secret()
        if stored is None:
            return False
        secret = base64.urlsafe_b64decode(stored + "=")
        return hmac.compare_digest(candidate, secret)

    def _submitted_token(self, ctx: Context) -> str | None:
        """The token of the header, else of the form field; raises
        ``RequestEntityTooLarge`` for a form over ``max_form_size``/``max_form_fields``."""
        header = ctx.header(self._header_lower)
        if header:
            return header.strip()
        mimetype, options = parse_options_header(ctx.header("content-type") or "")
        if mimetype not in _FORM_TYPES:
            return None
        body = ctx.read_body(self.max_form_size)
        if body is None:
            raise RequestEntityTooLarge()  # Content-Length over the limit: nothing read
        if not body:
            return None
        if mimetype == "application/x-www-form-urlencoded":
            return _urlencoded_field(body, self.field_name, self.max_form_fields)
        parser = FormDataParser(
            max_form_memory_size=self.max_form_size,
            max_form_parts=self.max_form_fields,
            silent=False,
        )
        try:
            _, form, files = parser.parse(io.BytesIO(body), mimetype, len(body), options)
        except RequestEntityTooLarge:
            raise
        except Exception:  # werkzeug refuses a malformed form: no token in it
            return None
        for storage in files.values():
            storage.close()
        value = form.get(self.field_name)
        return value if value else None

    # -- hooks ------------------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if self._signer is not None:
            ctx.publish(TOKEN_KEY, self._token_factory(ctx))
        if ctx.method in _SAFE_METHODS:
            return None
        exempt = self._exempt
        if exempt is not None and exempt.both(ctx):
            return None
        site = ctx.header("sec-fetch-site")
        origin = ctx.header("origin") or None  # empty: absent, as in Go
        if site:
            if site not in ("same-origin", "none") and origin not in self.trusted_origins:
                return self._refuse(ctx, "cross_site", origin, site)
        elif (
            origin is not None
            and origin not in self.trusted_origins
            and _normalise_origin(origin) != request_origin(ctx)
        ):
            return self._refuse(ctx, "origin_mismatch", origin, None)
        if self._signer is not None:
            try:
                token = self._submitted_token(ctx)
            except RequestEntityTooLarge:
                return self._refuse(ctx, "form_too_large", origin, site)
            if token is None:
                return self._refuse(ctx, "token_missing", origin, site)
            if not self._token_matches(ctx, token):
                return self._refuse(ctx, "token_invalid", origin, site)
        return None

    def _refuse(
        self, ctx: Context, reason: str, origin: str | None, site: str | None
    ) -> Response | None:
        fields: dict[str, Any] = {"reason": reason, "origin": origin, "path": ctx.path}
        if site is not None:
            fields["sec_fetch_site"] = site
        if self.report_only:
            security_event("csrf_refused", report_only=True, **fields)
            return None
        security_event("csrf_refused", **fields)
        if reason == "form_too_large":
            return error_response(ctx, "413 Content Too Large", _REASONS[reason])
        return error_response(ctx, "403 Forbidden", f"Forbidden: {_REASONS[reason]}")


def _urlencoded_field(body: bytes, name: str, max_fields: int) -> str | None:
    """The first non-empty value of ``name`` in an urlencoded body; raises
    ``RequestEntityTooLarge`` before decoding anything when it has too many fields."""
    if body.count(b"&") >= max_fields:
        raise RequestEntityTooLarge()
    text = body.decode("latin-1")
    for field in text.split("&"):
        key, _, value = field.partition("=")
        if unquote_plus(key, errors="replace") == name:
            found = unquote_plus(value, errors="replace")
            if found:
                return found
    return None
