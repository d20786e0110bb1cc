"""Signed cookies, transparent to the application.

The application writes ``username=john_doe`` and reads ``request.cookies["username"]``
as usual. On the way out :class:`SignedCookies` signs the value of every configured
cookie with itsdangerous; on the way in it verifies and strips the signature before
the application runs. A value that is missing its signature, tampered with, expired,
signed for another cookie, or sent twice with different values is removed from the
request (``HTTP_COOKIE`` is rewritten, so Flask, Django and a bare parse all see the
same cookies) and logged as ``cookie_signature_invalid`` with the cookie name and a
reason - never the key or the value.

Reusable helpers (sessions, CSRF and auth build on them):

:class:`CookieSigner`
    ``sign(value) -> str`` / ``unsign(value) -> str | None`` for one salt, HMAC-SHA256
    through itsdangerous. Key rotation: the key list is newest first, the newest signs
    and every key verifies. Derived keys and the HMAC state are computed once, at
    construction, never per request.
:class:`CookieEncrypter`
    ``encrypt(value) -> str`` / ``decrypt(value) -> str | None``: AES-256-GCM (needs
    the ``crypto`` extra, ``cryptography``), one key per secret key derived with HKDF,
    the cookie name bound in as associated data. For values the client must not read.

Options of :class:`SignedCookies` (layer name ``"signed_cookies"``):

``cookies=()``
    Names or ``fnmatch`` patterns (``"pref_*"``) of the cookies to sign. Nothing is
    signed unless named: signing changes the value the browser stores.
``encrypted_cookies=()``
    Names or patterns of cookies to encrypt (and so authenticate) instead.
``secret_keys=None``
    The key list, newest first; ``None`` reads ``HEADERWARE_SECRET_KEYS``. No key is a
    start-up error naming the setting.
``allow_dev_key=False``
    Use the built-in development key (with a logged warning) when no key is set.
``max_age=None``
    Seconds a signature stays valid; when set, values carry a timestamp and older ones
    are removed as ``expired``. ``None``: the cookie's own lifetime decides.
``salt="headerware.signed-cookie"``
    The namespace of the signatures; the cookie name is appended, so a value signed for
    one cookie is never valid as another.
``report_only=False``
    Log invalid cookies (``report_only=True`` in the event) but leave them in place and
    sign nothing.

Details: deletions (``Max-Age=0``, a past ``Expires``) go out unsigned, so deleting
works as usual. A quoted value (``"a b"``) is signed inside its quotes and handed
back quoted, so the framework unquotes it as before. The ``(name, reason)`` of each
cookie removed from a request is in environ ``headerware.signed_cookies.rejected``
(helper :func:`rejected_cookies`); the header the client sent is kept under
``headerware.cookies.orig``. Stack :class:`~headerware.layers.cookies.CookiePolicy`
outside this layer (``Stack([CookiePolicy(), SignedCookies(...)], app)``) so its
flags and size limit apply to the signed value.

Cost: every signer, derived key and keyed HMAC state is built in ``__init__``
(pattern-matched names: on first use, then cached); verifying a cookie is one HMAC
update per key tried, newest first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int
from itsdangerous.signer import HMACAlgorithm, Signer
from itsdangerous.timed import TimestampSigner

from .._headers import HeaderList
from .._log import security_event
from ..cookies_parse import RequestCookies, apply_cookies
from ..engine import Context, Layer, Response
from ..crypto import CookieEncrypter, CookieSigner, KeysOption
from ..keys import load_secret_keys
from ..setcookie import SetCookie, parse_attributes, split_set_cookie
from ..cookie_names import NameMatcher

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = [
    "REJECTED_ENVIRON_KEY",
    "CookieEncrypter",
    "CookieSigner",
    "SignedCookies",
    "rejected_cookies",
]

#: Environ key: ``((name, reason), ...)`` of the cookies removed from this request.
REJECTED_ENVIRON_KEY = "headerware.signed_cookies.rejected"

#: A Cookie header's outcome: the cookies the application sees (``None``: unchanged)
#: and the rejected ``(name, reason)`` pairs.
_Outcome = tuple["RequestCookies | None", tuple[tuple[str, str], ...]]
#: Remembered outcomes per layer, by the canonical Cookie header (a client sends the
#: same one until a cookie changes). Bounded: cleared when full.
_OUTCOMES_SIZE = 512
_OUTCOMES_MAX_LENGTH = 4096

_SIGNED_CACHE_SIZE = 1024


def rejected_cookies(environ: WSGIEnvironment) -> tuple[tuple[str, str], ...]:
    """The ``(name, reason)`` of each signed cookie removed from this request."""
    value = environ.get(REJECTED_ENVIRON_KEY)
    return value if isinstance(value, tuple) else ()


def _unquote(value: str) -> tuple[str, bool]:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1], True
    return value, False


class SignedCookies(Layer):
    """Signs configured cookies on the way out; verifies and strips them on the way in."""

    name: ClassVar[str] = "signed_cookies"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        cookies: Sequence[str] = (),
        encrypted_cookies: Sequence[str] = (),
        secret_keys: KeysOption = None,
        allow_dev_key: bool = False,
        max_age: int | None = None,
        salt: str = "headerware.signed-cookie",
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        for option, value in (("cookies", cookies), ("encrypted_cookies", encrypted_cookies)):
            if isinstance(value, str):
                raise ValueError(
                    f"{option}: {value!r} is a string; pass a list of names or patterns, "
                    f"e.g. {option}=[{value!r}]"
                )
        if not cookies and not encrypted_cookies:
            raise ValueError(
                "cookies: no cookie to sign; name them, e.g. cookies=['username'] "
                "(or encrypted_cookies=[...])"
            )
        if not isinstance(salt, str) or not salt:
            raise ValueError(f"salt: {salt!r} must be a non-empty string")
        if not isinstance(report_only, bool):
            raise ValueError(f"report_only: {report_only!r} is not a boolean; use True or False")
        self._signed = NameMatcher(cookies, option="cookies")
        self._encrypted = NameMatcher(encrypted_cookies, option="encrypted_cookies")
        both = set(self._signed.entries) & set(self._encrypted.entries)
        if both:
            raise ValueError(
                f"cookies/encrypted_cookies: {sorted(both)} listed in both; encrypted "
                "cookies are authenticated too, list them once"
            )
        self.keys = load_secret_keys(secret_keys, allow_dev_key=allow_dev_key)
        self.max_age = max_age
        self.salt = salt
        self.report_only = report_only
        # The engine's shared scan: without a Set-Cookie, the response hook has
        # nothing to do (``_on_clean`` stays the base no-op).
        self._watched = frozenset({"set-cookie"})
        # One signer per cookie name (its own salt), built now for every exact name.
        self._signers: dict[str, CookieSigner] = {}
        for entry in self._signed.entries:
            if not any(char in entry for char in "*?["):
                self._signers[entry] = self._make_signer(entry)
        self._encrypter = (
            CookieEncrypter(self.keys, salt + ".encrypted", max_age) if encrypted_cookies else None
        )
        # The request hook's lookups: exact names -> kind; patterns need _kind().
        self._exact_kinds: dict[str, str] = {}
        if self._encrypter is not None:
            self._exact_kinds.update(
                (entry, "encrypted")
                for entry in self._encrypted.entries
                if not any(char in entry for char in "*?[") and self._signed.match(entry) is None
            )
        self._exact_kinds.update((entry, "signed") for entry in self._signers)
        self._has_patterns = len(self._exact_kinds) < len(self._signed.entries) + len(
            self._encrypted.entries
        )
        # Outcomes of whole Cookie headers (see on_request): only when an outcome depends
        # on nothing but the header - no expiry, no decryption - and is acted on.
        self._outcomes: dict[str, _Outcome] | None = (
            {} if max_age is None and self._encrypter is None and not report_only else None
        )

    def _make_signer(self, name: str) -> CookieSigner:
        return CookieSigner(self.keys, f"{self.salt}:{name}", self.max_age)

    def signer_for(self, name: str) -> CookieSigner:
        """The signer of cookie ``name`` (built once; pattern matches cached)."""
        signer = self._signers.get(name)
        if signer is None:
            signer = self._make_signer(name)
            if len(self._signers) < _SIGNED_CACHE_SIZE:
                self._signers[name] = signer
        return signer

    def describe(self) -> dict[str, Any]:
        return {
            "cookies": list(self._signed.entries),
            "encrypted_cookies": list(self._encrypted.entries),
            "secret_keys": f"<{len(self.keys)} key(s)>",
            "max_age": self.max_age,
            "salt": self.salt,
            "report_only": self.report_only,
        }

    def _kind(self, name: str) -> str | None:
        if self._signed.match(name) is not None:
            return "signed"
        if self._encrypter is not None and self._encrypted.match(name) is not None:
            return "encrypted"
        return None

    def _open(self, name: str, kind: str, raw: str) -> tuple[str | None, str]:
        if kind == "signed" and raw[:1] != '"':
            signer = self._signers.get(name) or self.signer_for(name)
            return signer.verify(raw)
        value, quoted = _unquote(raw)
        if kind == "signed":
            plain, reason = self.signer_for(name).verify(value)
        else:
            assert self._encrypter is not None
            plain, reason = self._encrypter.verify(value, name)
        if plain is not None and quoted:
            plain = f'"{plain}"'
        return plain, reason

    def _seal(self, name: str, kind: str, raw: str) -> str:
        value, quoted = _unquote(raw)
        if kind == "signed":
            sealed = self.signer_for(name).sign(value)
        else:
            assert self._encrypter is not None
            sealed = self._encrypter.encrypt(value, name)
        return f'"{sealed}"' if quoted else sealed

    # -- request --------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if not ctx.environ.get("HTTP_COOKIE"):
            return None
        cookies = ctx.cookies
        outcomes = self._outcomes
        header = cookies.header
        if outcomes is not None and header is not None:
            # Without expiry or decryption the outcome is a function of the header
            # alone: a repeat skips the per-cookie checks and the rewrite.
            outcome = outcomes.get(header)
            if outcome is None:
                outcome = self._decide(cookies)
                if len(header) <= _OUTCOMES_MAX_LENGTH:
                    if len(outcomes) >= _OUTCOMES_SIZE:
                        outcomes.clear()
                    outcomes[header] = outcome
        else:
            outcome = self._decide(cookies)
        rewritten, rejected = outcome
        if rewritten is None:
            return None
        report = self.report_only
        for name, reason in rejected:
            if report:
                security_event(
                    "cookie_signature_invalid", cookie=name, reason=reason, report_only=True
                )
            else:
                security_event("cookie_signature_invalid", cookie=name, reason=reason)
        if report:
            return None
        if rejected:
            ctx.environ[REJECTED_ENVIRON_KEY] = rejected
        apply_cookies(ctx, rewritten)
        return None

    def _decide(self, cookies: RequestCookies) -> _Outcome:
        """The verified cookies (``None`` when no cookie of this layer came) and the
        rejected ones."""
        changes: dict[str, str | None] = {}
        rejected: list[tuple[str, str]] = []
        exact = self._exact_kinds
        patterns = self._has_patterns
        duplicates = cookies.duplicates
        for name, raw in cookies.items():
            kind = exact.get(name)
            if kind is None:
                if not patterns:
                    continue
                kind = self._kind(name)
                if kind is None:
                    continue
            if duplicates and name in duplicates and cookies.conflicting(name):
                plain, reason = None, "conflicting_duplicate"
            else:
                plain, reason = self._open(name, kind, raw)
            changes[name] = plain
            if plain is None:
                rejected.append((name, reason))
        if not changes:
            return None, ()
        return cookies.rewrite(changes), tuple(rejected)

    # -- response -------------------------------------------------------------

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        if self.report_only:
            return None
        for index, (key, header) in enumerate(headers):
            if len(key) != 10 or key.lower() != "set-cookie":
                continue
            name, value, tail = split_set_cookie(header)
            if not name:
                continue
            kind = self._kind(name)
            if kind is None:
                continue
            if tail and SetCookie("", "", parse_attributes(tail)).is_deletion():
                continue
            headers[index] = (key, f"{name}={self._seal(name, kind, value)}{tail}")
        return None
