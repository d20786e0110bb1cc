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
from ..keys import load_secret_keys
from ..setcookie import SetCookie, parse_attributes, split_set_cookie
from .cookies import NameMatcher

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = [
    "REJECTED_ENVIRON_KEY",
    "CookieEncrypter",
    "CookieSigner",
    "SignedCookies",
    "rejected_cookies",
]

KeysOption = str | bytes | Sequence[str | bytes] | None

#: The digest of every headerware signature (HMAC-SHA256).
_DIGEST = hashlib.sha256
#: Remembered successful verifications per signer: cleared when full; longer signed
#: strings (beyond any browser's cookie size) are verified every time.
_VERIFIED_CACHE_SIZE = 512
_VERIFIED_MAX_LENGTH = 4096


class _PreparedHMAC(HMACAlgorithm):
    """HMAC whose keyed state is built once per derived key, then copied per call."""

    def __init__(self, derived_keys: Sequence[bytes]) -> None:
        super().__init__(_DIGEST)
        self.states = {key: hmac.new(key, digestmod=_DIGEST) for key in derived_keys}

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        prepared = self.states.get(key)
        if prepared is None:  # pragma: no cover - only keys derived at start-up are used
            return super().get_signature(key, value)
        mac = prepared.copy()
        mac.update(value)
        return mac.digest()


class _FastSigner(Signer):
    """An itsdangerous signer whose derived keys are computed once, at construction.

    itsdangerous derives the signing key from the secret key and salt on every call;
    here :meth:`derive_key` only looks the precomputed key up.
    """

    def __init__(self, secret_keys: list[bytes], salt: str) -> None:
        super().__init__(secret_keys, salt=salt, key_derivation="hmac", digest_method=_DIGEST)
        derived = {key: Signer.derive_key(self, key) for key in self.secret_keys}
        self._derived = derived
        self.prepared = _PreparedHMAC(list(derived.values()))
        self.algorithm = self.prepared

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:
            return self._derived[self.secret_keys[-1]]
        if isinstance(secret_key, str):
            secret_key = secret_key.encode("utf-8")
        return self._derived[secret_key]


class _FastTimestampSigner(TimestampSigner, _FastSigner):
    pass


class CookieSigner:
    """Signs and verifies cookie values under one salt; built once, used per request.

    ``secret_keys`` is newest first (as :func:`headerware.keys.load_secret_keys`
    returns it): the newest key signs, every key verifies. With ``max_age`` the
    signature carries a timestamp and expires after that many seconds.
    """

    __slots__ = ("_macs", "_signer", "_verified", "max_age", "salt")

    def __init__(
        self,
        secret_keys: KeysOption = None,
        salt: str = "headerware.signed-cookie",
        max_age: int | None = None,
        *,
        allow_dev_key: bool = False,
        option: str = "secret_keys",
    ) -> None:
        if max_age is not None and (isinstance(max_age, bool) or max_age <= 0):
            raise ValueError(
                f"max_age: {max_age!r} is not a positive number of seconds; use e.g. "
                "max_age=86400, or None for no signature expiry"
            )
        keys = load_secret_keys(secret_keys, allow_dev_key=allow_dev_key, option=option)
        # itsdangerous lists keys oldest to newest and signs with the last one.
        ordered = list(reversed(keys))
        signer: _FastSigner | _FastTimestampSigner
        if max_age is None:
            signer = _FastSigner(ordered, salt)
        else:
            signer = _FastTimestampSigner(ordered, salt)
        self._signer = signer
        # Newest first: the key that signs is the one most tokens carry.
        self._macs = tuple(signer.prepared.states[signer._derived[key]] for key in keys)
        self.salt = salt
        self.max_age = max_age
        # Successful verifications only, by the full signed string (a tampered value
        # is a different key): signed -> (value, issued timestamp or None).
        self._verified: dict[str, tuple[str, int | None]] = {}

    def sign(self, value: str) -> str:
        """``value`` followed by ``.`` and its signature (URL-safe, cookie-safe)."""
        return self._signer.sign(value.encode("utf-8")).decode("utf-8")

    def verify(self, signed: str) -> tuple[str | None, str]:
        """``(value, "ok")``, or ``(None, reason)`` with reason ``unsigned``,
        ``bad_signature`` or ``expired``.

        The hot path of every request carrying a signed cookie: the token format is
        itsdangerous's (``value[.timestamp].signature``, URL-safe base64 without
        padding), checked here against the precomputed keyed HMAC states directly,
        newest key first, so a verification costs one HMAC update per key tried.
        A client sends the same cookie again and again, so successful verifications
        are remembered (bounded; keyed by the whole signed string, the keys never
        change): a repeat costs a dict lookup, and with ``max_age`` the age is still
        checked on every request.
        """
        known = self._verified.get(signed)
        if known is not None:
            value, issued = known
            if issued is None:
                return value, "ok"
            signer = self._signer
            assert isinstance(signer, TimestampSigner)
            age = signer.get_timestamp() - issued
            assert self.max_age is not None
            if age > self.max_age or age < 0:
                return None, "expired"
            return value, "ok"
        value, sep, sig = signed.rpartition(".")
        if not sep:
            return None, "unsigned"
        try:
            data = value.encode("utf-8")
            expected_sig = sig.encode("ascii")
        except UnicodeError:
            return None, "bad_signature"
        for prepared in self._macs:
            mac = prepared.copy()
            mac.update(data)
            if hmac.compare_digest(base64_encode(mac.digest()), expected_sig):
                break
        else:
            return None, "bad_signature"
        if self.max_age is None:
            self._remember(signed, value, None)
            return value, "ok"
        value, sep, stamp = value.rpartition(".")
        try:
            issued = bytes_to_int(base64_decode(stamp))
        except Exception:
            return None, "bad_signature"
        if not sep:
            return None, "bad_signature"
        self._remember(signed, value, issued)
        signer = self._signer
        assert isinstance(signer, TimestampSigner)
        age = signer.get_timestamp() - issued
        if age > self.max_age or age < 0:
            return None, "expired"
        return value, "ok"

    def _remember(self, signed: str, value: str, issued: int | None) -> None:
        if len(signed) <= _VERIFIED_MAX_LENGTH:
            verified = self._verified
            if len(verified) >= _VERIFIED_CACHE_SIZE:
                verified.clear()
            verified[signed] = (value, issued)

    def unsign(self, signed: str) -> str | None:
        """The original value when the signature is valid (and fresh), else ``None``."""
        return self.verify(signed)[0]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieEncrypter:
    """AES-256-GCM for cookie values the client must not read (``crypto`` extra).

    One AES key per secret key, derived with HKDF-SHA256 under ``salt``; the newest
    encrypts, all decrypt. ``context`` (the cookie name) is bound in as associated
    data, so a value encrypted for one cookie never opens as another. The token is
    ``v1.`` + base64url(nonce, ciphertext+tag); the plaintext carries its issue time
    so ``max_age`` can expire it.
    """

    __slots__ = ("_ciphers", "max_age")

    _PREFIX = "v1."

    def __init__(
        self,
        secret_keys: KeysOption = None,
        salt: str = "headerware.encrypted-cookie",
        max_age: int | None = None,
        *,
        allow_dev_key: bool = False,
        option: str = "secret_keys",
    ) -> None:
        try:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        except ImportError as exc:  # pragma: no cover - the extra is installed in dev
            raise ValueError(
                "encrypted_cookies: needs the 'cryptography' package; install "
                "headerware[crypto] or remove encrypted_cookies"
            ) from exc
        if max_age is not None and (isinstance(max_age, bool) or max_age <= 0):
            raise ValueError(
                f"max_age: {max_age!r} is not a positive number of seconds; use e.g. "
                "max_age=86400, or None for no expiry"
            )
        keys = load_secret_keys(secret_keys, allow_dev_key=allow_dev_key, option=option)
        ciphers = []
        for key in keys:
            derived = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=salt.encode("utf-8"),
                info=b"headerware cookie encryption v1",
            ).derive(key)
            ciphers.append(AESGCM(derived))
        self._ciphers = tuple(ciphers)
        self.max_age = max_age

    def encrypt(self, value: str, context: str = "") -> str:
        """The sealed token for ``value``, bound to ``context`` (the cookie name)."""
        nonce = os.urandom(12)
        plaintext = struct.pack(">Q", int(time.time())) + value.encode("utf-8")
        sealed = self._ciphers[0].encrypt(nonce, plaintext, context.encode("utf-8"))
        return self._PREFIX + _b64encode(nonce + sealed)

    def verify(self, token: str, context: str = "") -> tuple[str | None, str]:
        """``(value, "ok")`` or ``(None, reason)``: ``unsigned``, ``bad_signature``,
        ``expired``."""
        from cryptography.exceptions import InvalidTag

        if not token.startswith(self._PREFIX):
            return None, "unsigned"
        try:
            data = _b64decode(token[len(self._PREFIX) :])
        except ValueError:
            return None, "bad_signature"
        if len(data) < 12 + 16 + 8:
            return None, "bad_signature"
        nonce, sealed = data[:12], data[12:]
        aad = context.encode("utf-8")
        for cipher in self._ciphers:
            try:
                plaintext = cipher.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            (issued,) = struct.unpack(">Q", plaintext[:8])
            if self.max_age is not None and not 0 <= time.time() - issued <= self.max_age:
                return None, "expired"
            try:
                return plaintext[8:].decode("utf-8"), "ok"
            except UnicodeDecodeError:  # pragma: no cover - we only seal UTF-8
                return None, "bad_signature"
        return None, "bad_signature"

    def decrypt(self, token: str, context: str = "") -> str | None:
        """The original value when the token is authentic (and fresh), else ``None``."""
        return self.verify(token, context)[0]


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
