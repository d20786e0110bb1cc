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

CORS preflights
    Every request that reaches this layer on a guarded path is authenticated,
    ``OPTIONS`` included. Browsers never send credentials on a preflight, so a real
    preflight must be answered by the :class:`~headerware.layers.cors.CORS` layer,
    which runs before this one in the canonical order and answers it itself; an
    ``OPTIONS`` with ``Access-Control-Request-Method`` that no CORS rule answered is
    not a preflight anyone allowed, and gets a ``401`` like any other request.

On success the verified claims are published under ``headerware.auth.claims``
(``environ["headerware.auth.claims"]``), read with :func:`bearer_claims`. The token
itself is never published.

Options (exactly one verifier: ``verifier``, ``tokens`` or ``signed=True``):

``paths=("/*",)``
    Patterns of :mod:`headerware.paths` (exact ``/health``, ``/api/*`` for ``/api``
    and below, ``/api/`` for the subtree without ``/api``), case-sensitive. A guard:
    it applies when the raw *or* the resolved path matches, so neither
    ``//api/../api/x`` nor ``/public/../api/x`` slips past ``/api/*``, and a
    raw ``/api/..%2fother`` that the application may route to ``/api`` stays
    guarded too. Default: every path.
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
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._log import logger, security_event
from ..core.layer import Layer, Response
from ..crypto import CookieSigner, KeysOption
from ..options import OptionError, boolean
from ..paths import PathSet
from ..responses import error_response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

    from .._headers import HeaderList
    from ..core.context import Context

__all__ = ["CLAIMS_KEY", "BearerAuth", "bearer_claims"]

#: The published key holding the verified claims of the request's bearer token.
CLAIMS_KEY = "headerware.auth.claims"

#: RFC 6750 ``b64token``.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*\Z")


def bearer_claims(environ: WSGIEnvironment) -> Any:
    """The claims of the request's verified bearer token, or ``None``."""
    return environ.get(CLAIMS_KEY)


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
        secret_keys: KeysOption = None,
        allow_dev_key: bool = False,
        salt: str = "headerware.bearer",
        max_age: int | None = 3600,
        realm: str = "api",
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        self._guarded = PathSet(paths, option="paths")
        self.paths = self._guarded.patterns
        self.realm = _check_realm(realm)
        self.max_age = _check_max_age(max_age)
        self.report_only = boolean("report_only", report_only)
        self._mode = _check_mode(verifier, tokens, signed)
        self._verifier: Callable[[str], Any]
        if verifier is not None:
            if not callable(verifier):
                raise OptionError(
                    "verifier", verifier, f"{verifier!r} is not callable", "pass a function"
                )
            self._verifier = verifier
        elif tokens is not None:
            self._verifier = self._static_verifier(tokens)
        else:
            self._signer = CookieSigner(
                secret_keys, salt=salt, max_age=max_age, allow_dev_key=allow_dev_key
            )
            self._verifier = self._signed_verifier
        challenge = f'Bearer realm="{realm}"'
        self._challenge = [("WWW-Authenticate", challenge)]
        self._invalid_token = [("WWW-Authenticate", f'{challenge}, error="invalid_token"')]
        self._invalid_request = [("WWW-Authenticate", f'{challenge}, error="invalid_request"')]

    # -- verifiers ------------------------------------------------------------------

    @staticmethod
    def _static_verifier(tokens: Collection[str] | Mapping[str, Any]) -> Callable[[str], Any]:
        if isinstance(tokens, str):
            raise OptionError(
                "tokens", "***", "give a list of tokens, not one string", "write tokens=[...]"
            )
        items = (
            list(tokens.items())
            if isinstance(tokens, Mapping)
            else [(token, {"token_id": index}) for index, token in enumerate(tokens)]
        )
        if not items:
            raise OptionError("tokens", [], "the list is empty", "give at least one token")
        key = os.urandom(32)
        digests: list[tuple[bytes, Any]] = []
        for token, claims in items:
            if not isinstance(token, str) or _B64TOKEN.match(token) is None or len(token) < 8:
                raise OptionError(
                    "tokens",
                    "***",
                    "a configured token is not a valid bearer token (RFC 6750 b64token, "
                    "at least 8 characters)",
                    "generate one with `headerware keygen`",
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
        """Option-shaped: ``tokens`` (secrets) and a verifier that cannot be named as
        ``module:function`` are omitted; give them again."""
        described: dict[str, Any] = {"paths": list(self.paths)}
        if self._mode == "signed":
            described["signed"] = True
        elif self._mode == "verifier":
            reference = _reference(self._verifier)
            if reference is not None:
                described["verifier"] = reference
        described.update(max_age=self.max_age, realm=self.realm, report_only=self.report_only)
        return described

    def on_request(self, ctx: Context) -> Response | None:
        if not self._guarded.either(ctx):
            return None
        # No exception for OPTIONS: a real CORS preflight was answered by the CORS
        # layer before this one; whatever reaches here is authenticated.
        header = ctx.header("authorization")
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
        ctx.publish(CLAIMS_KEY, claims)
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


def _check_mode(verifier: object, tokens: object, signed: object) -> str:
    """Which verifier was chosen; exactly one must be."""
    chosen = [verifier is not None, tokens is not None, bool(signed)]
    if sum(chosen) != 1:
        raise OptionError(
            "verifier",
            None,
            "give exactly one verifier",
            "verifier=<callable>, tokens=[...] or signed=True (with secret_keys)",
        )
    return "verifier" if verifier is not None else "tokens" if tokens is not None else "signed"


def _reference(function: Callable[..., Any]) -> str | None:
    """``"module:qualname"`` of an importable function, else ``None``."""
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", "")
    if not module or not name or "<" in name:
        return None
    return f"{module}:{name}"


def _check_realm(realm: object) -> str:
    if (
        not isinstance(realm, str)
        or not realm
        or '"' in realm
        or "\\" in realm
        or any(ord(char) < 0x20 or ord(char) > 0x7E for char in realm)
    ):
        raise OptionError(
            "realm",
            realm,
            f"{realm!r} cannot be sent in WWW-Authenticate",
            "use printable ASCII without quotes or backslashes, e.g. realm='api'",
        )
    return realm


def _check_max_age(max_age: object) -> int | None:
    if max_age is None:
        return None
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0:
        raise OptionError(
            "max_age", max_age, f"{max_age!r} is not a positive number of seconds", "e.g. 3600"
        )
    return max_age
