"""Bearer-token authentication (RFC 6750) for path-scoped APIs.

:class:`BearerAuth` (config name ``bearer_auth``) refuses requests to the paths it
guards unless they carry ``Authorization: Bearer <token>`` with a token the
verifier accepts. The answers follow RFC 6750 section 3:

- no credentials (or another scheme, e.g. ``Basic``): ``401`` with
  ``WWW-Authenticate: Bearer realm="api"`` and no error code;
- a ``Bearer`` header that is not well-formed (empty, several tokens, characters
  outside ``b64token``): ``400`` with ``error="invalid_request"``;
- a well-formed token the verifier refuses (unknown, tampered, expired):
  ``401`` with ``error="invalid_token"``.

The body is JSON ``{"error": "Unauthorized"}`` (``"Bad Request"`` for 400), or a
short HTML page when the client's ``Accept`` prefers ``text/html``. Every refusal is
logged as ``bearer_auth_refused`` with the reason and path - never the token.
CORS preflights (``OPTIONS`` with ``Access-Control-Request-Method``) pass untouched:
browsers never send credentials on them, so the CORS layer must answer them.

On success the verified claims are in ``environ["headerware.auth.claims"]``, read
with :func:`bearer_claims`. The token itself is never put in the environ.

Options (exactly one verifier: ``verifier``, ``tokens`` or ``signed=True``):

``paths=("/*",)``
    Exact paths or ``fnmatch`` globs (``*`` crosses ``/``), matched case-sensitively
    on the normalised path (``//`` collapsed, ``.``/``..`` resolved), so
    ``//api/../api/x`` cannot slip past ``/api/*``. Default: every path.
``verifier=None``
    A callable ``(token) -> claims | None``; ``None`` (or ``False``) refuses.
``tokens=None``
    A static collection of accepted tokens, or a mapping token -> claims. Compared in
    constant time against every configured token (HMAC-SHA256 digests under a
    per-process random key, ``hmac.compare_digest`` over all, no early exit), so the
    timing says neither which token matched nor how long they are. Claims of a plain
    collection: ``{"token_id": <position>}``.
``signed=False``
    Accept tokens made by :meth:`BearerAuth.issue_token` (itsdangerous, HMAC-SHA256,
    timestamped, key rotation); their claims are the JSON object they carry.
``secret_keys=None``, ``allow_dev_key=False``, ``salt="headerware.bearer"``
    Keys for ``signed`` (``None`` reads ``HEADERWARE_SECRET_KEYS``).
``max_age=3600``
    Seconds a signed token stays valid (``None``: no expiry; think twice).
``realm="api"``
    The ``realm`` parameter of ``WWW-Authenticate``.
``report_only=False``
    Log what would be refused (``report_only=True`` in the event) and let it through
    (without claims).

Also here: :func:`error_response` (JSON or HTML by Accept, used by the CSRF and
session layers) and :func:`compile_paths`, a matcher over :mod:`headerware.paths`
patterns.
"""

from __future__ import annotations

import base64
import hmac
import html
import json
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._log import logger, security_event
from ..engine import Context, Layer, Response
from ..paths import PathRules
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

    from .._headers import HeaderList

__all__ = ["CLAIMS_KEY", "BearerAuth", "bearer_claims", "compile_paths", "error_response"]

#: The environ key holding the verified claims of the request's bearer token.
CLAIMS_KEY = "headerware.auth.claims"

#: RFC 6750 ``b64token``.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*\Z")

_OFFERED = ["application/json", "text/html"]


def bearer_claims(environ: WSGIEnvironment) -> Any:
    """The claims of the request's verified bearer token, or ``None``."""
    return environ.get(CLAIMS_KEY)


_REPEATED_SLASHES = re.compile(r"/{2,}")


def compile_paths(
    patterns: Iterable[str], *, option: str, exempt: bool = False
) -> Callable[[str], bool]:
    """A matcher for path patterns as :mod:`headerware.paths` defines them.

    Exact paths and ``/prefix/*`` (segment boundary; the prefix itself included),
    matched on the normalised ``PATH_INFO``; validated here, at start-up.

    Servers decode ``%2f`` into ``PATH_INFO`` and frameworks route the raw value
    (a ``<path:...>`` converter accepts ``../x``), so when the raw path has dot
    segments both forms are matched (slashes merged in each), failing safe: a
    guard (``exempt=False``) applies when either matches, an exemption
    (``exempt=True``) only when both do.
    """
    if isinstance(patterns, str):
        raise ValueError(
            f"{option}: give a list of paths, not the string {patterns!r}; "
            f"e.g. {option}=[{patterns!r}]"
        )
    rules: PathRules[bool] = PathRules([(pattern, True) for pattern in patterns], option=option)

    def matches(path: str) -> bool:
        found = rules.resolve(path) is not None
        if "/." not in path:
            return found  # no dot segment: normalising only merged slashes
        raw = rules.lookup(_REPEATED_SLASHES.sub("/", path)) is not None
        return (found and raw) if exempt else (found or raw)

    return matches


class BearerAuth(Layer):
    """Refuse requests to the guarded paths without a valid ``Bearer`` token."""

    name = "bearer_auth"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        paths: Iterable[str] = ("/*",),
        verifier: Callable[[str], Any] | None = None,
        tokens: Collection[str] | Mapping[str, Any] | None = None,
        signed: bool = False,
        secret_keys: str | bytes | Iterable[str | bytes] | None = None,
        allow_dev_key: bool = False,
        salt: str = "headerware.bearer",
        max_age: int | None = 3600,
        realm: str = "api",
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        paths = list(paths) if not isinstance(paths, str) else paths
        self._matches = compile_paths(paths, option="paths")
        self.paths = tuple(paths)
        chosen = [verifier is not None, tokens is not None, bool(signed)]
        if sum(chosen) != 1:
            raise ValueError(
                "BearerAuth: give exactly one verifier: verifier=<callable>, "
                "tokens=[...] or signed=True (with secret_keys)"
            )
        if (
            not isinstance(realm, str)
            or not realm
            or '"' in realm
            or "\\" in realm
            or any(ord(char) < 0x20 or ord(char) > 0x7E for char in realm)
        ):
            raise ValueError(
                f"realm: {realm!r} cannot be sent in WWW-Authenticate; use printable "
                "ASCII without quotes or backslashes, e.g. realm='api'"
            )
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0
        ):
            raise ValueError(
                f"max_age: {max_age!r} is not a positive number of seconds; use e.g. 3600"
            )
        self.realm = realm
        self.report_only = bool(report_only)
        self.max_age = max_age
        self._mode = (
            "verifier" if verifier is not None else "tokens" if tokens is not None else "signed"
        )
        self._verifier: Callable[[str], Any]
        if verifier is not None:
            if not callable(verifier):
                raise ValueError(f"verifier: {verifier!r} is not callable; pass a function")
            self._verifier = verifier
        elif tokens is not None:
            self._verifier = self._static_verifier(tokens)
        else:
            from ..crypto import CookieSigner

            self._signer = CookieSigner(
                secret_keys,  # type: ignore[arg-type]
                salt=salt,
                max_age=max_age if max_age is not None else None,
                allow_dev_key=allow_dev_key,
            )
            self._verifier = self._signed_verifier
        challenge = f'Bearer realm="{realm}"'
        self._challenge = [("WWW-Authenticate", challenge)]
        self._invalid_token = [
            ("WWW-Authenticate", f'{challenge}, error="invalid_token"'),
        ]
        self._invalid_request = [
            ("WWW-Authenticate", f'{challenge}, error="invalid_request"'),
        ]

    # -- verifiers ------------------------------------------------------------------

    @staticmethod
    def _static_verifier(tokens: Collection[str] | Mapping[str, Any]) -> Callable[[str], Any]:
        if isinstance(tokens, str):
            raise ValueError("tokens: give a list of tokens, not one string")
        items = (
            list(tokens.items())
            if isinstance(tokens, Mapping)
            else [(token, {"token_id": index}) for index, token in enumerate(tokens)]
        )
        if not items:
            raise ValueError("tokens: the list is empty; give at least one token")
        key = os.urandom(32)
        digests: list[tuple[bytes, Any]] = []
        for token, claims in items:
            if not isinstance(token, str) or _B64TOKEN.match(token) is None or len(token) < 8:
                raise ValueError(
                    "tokens: a configured token is not a valid bearer token (RFC 6750 "
                    "b64token, at least 8 characters); generate one with `headerware keygen`"
                )
            digests.append((hmac.digest(key, token.encode("ascii"), "sha256"), claims))
        frozen = tuple(digests)

        def verify(token: str) -> Any:
            candidate = hmac.digest(key, token.encode("latin-1"), "sha256")
            found: Any = None
            for digest, claims in frozen:
                # Every digest is compared; the loop never exits early.
                if hmac.compare_digest(candidate, digest):
                    found = claims
            return found

        return verify

    def _signed_verifier(self, token: str) -> Any:
        payload = self._signer.unsign(token)
        if payload is None:
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        return claims if isinstance(claims, dict) else None

    def issue_token(self, claims: Mapping[str, Any]) -> str:
        """A signed token carrying ``claims`` (a JSON object); needs ``signed=True``."""
        if self._mode != "signed":
            raise RuntimeError("issue_token: this BearerAuth was not built with signed=True")
        data = json.dumps(dict(claims), separators=(",", ":"), allow_nan=False)
        payload = base64.urlsafe_b64encode(data.encode("utf-8")).rstrip(b"=").decode("ascii")
        return self._signer.sign(payload)

    # -- hooks ------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths),
            "verifier": self._mode,
            "max_age": self.max_age if self._mode == "signed" else None,
            "realm": self.realm,
            "report_only": self.report_only,
        }

    def on_request(self, ctx: Context) -> Response | None:
        environ = ctx.environ
        if not self._matches(ctx.environ.get("PATH_INFO") or "/"):
            return None
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            return None  # a CORS preflight never carries credentials
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            return self._refuse(ctx, "missing", "401 Unauthorized", self._challenge)
        scheme, _, token = header.strip(" \t").partition(" ")
        if scheme.lower() != "bearer":
            return self._refuse(ctx, "other_scheme", "401 Unauthorized", self._challenge)
        token = token.strip(" \t")
        if not token or _B64TOKEN.match(token) is None:
            return self._refuse(
                ctx, "malformed", "400 Bad Request", self._invalid_request, "Bad Request"
            )
        try:
            claims = self._verifier(token)
        except Exception:
            logger.exception("bearer_auth: the verifier raised; refusing the token")
            claims = None
        if claims is None or claims is False:
            return self._refuse(ctx, "invalid_token", "401 Unauthorized", self._invalid_token)
        environ[CLAIMS_KEY] = claims
        return None

    def _refuse(
        self,
        ctx: Context,
        reason: str,
        status: str,
        headers: HeaderList,
        message: str = "Unauthorized",
    ) -> Response | None:
        level = logging.INFO if reason in {"missing", "other_scheme"} else logging.WARNING
        if self.report_only:
            security_event(
                "bearer_auth_refused", level=level, reason=reason, path=ctx.path, report_only=True
            )
            return None
        security_event("bearer_auth_refused", level=level, reason=reason, path=ctx.path)
        return error_response(ctx, status, message, headers)
