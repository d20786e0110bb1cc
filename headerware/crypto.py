"""Signing and encryption primitives shared by the layers that protect values.

:class:`CookieSigner` (itsdangerous' format, HMAC-SHA256, a list of keys as
rotation: the newest signs, all verify), :class:`NamedSigner` (the same format, one
salt per cookie name) and :class:`CookieEncrypter` (AES-GCM, from the ``crypto``
extra) are used by signed cookies, sessions, CSRF tokens and signed bearer tokens.
They live here, not in a layer, so no layer imports another.

The signed-cookie format
------------------------

A cookie signed by :class:`~headerware.layers.signing.SignedCookies` is exactly what
plain itsdangerous (2.x) writes and reads, with these parameters:

secret key
    Each key of ``secret_keys`` / ``HEADERWARE_SECRET_KEYS`` (comma-separated, newest
    first, surrounding white space stripped) as its UTF-8 bytes: the key is used as
    written, never base64-decoded. The newest key signs; every key verifies.
    itsdangerous lists keys the other way round (oldest first, the last one signs):
    pass ``list(reversed(keys))``.
salt
    ``f"{salt}:{name}"``: the layer's ``salt`` option (default
    ``"headerware.signed-cookie"``), a colon and the cookie's name, so
    ``username`` is signed under ``"headerware.signed-cookie:username"``.
key derivation
    itsdangerous' ``"hmac"``: the signing key is ``HMAC(secret key, salt)`` with the
    digest below (itsdangerous' default, ``"django-concat"``, is *not* used).
digest
    SHA-256 (``hashlib.sha256``), for the key derivation and the signature.
signature
    ``HMAC(signing key, signed part)``, in URL-safe base64 without ``=`` padding
    (itsdangerous' ``base64_encode``), after a ``.`` separator.
timestamp
    Only with ``max_age``: the signed part is ``value.timestamp``, the timestamp being
    the signing time in whole seconds since the Unix epoch as a big-endian unsigned
    integer of the fewest bytes, in the same base64 (itsdangerous'
    ``TimestampSigner``). A signature older than ``max_age`` seconds, or dated in the
    future, is refused as ``expired``.
value
    The cookie value as the application set it, as UTF-8. A quoted value
    (``"a b"``) is signed inside the quotes: the cookie is ``"a b.signature"``.

So ``username=john_doe`` goes out as ``username=john_doe.<signature>`` (without
``max_age``) or ``username=john_doe.<timestamp>.<signature>``, and::

    import hashlib
    from itsdangerous import Signer, TimestampSigner

    signer = Signer(                       # TimestampSigner when max_age is set
        list(reversed(keys)),              # newest key last
        salt="headerware.signed-cookie:username",
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )
    signer.unsign(cookie_value)            # b"john_doe", or BadSignature
    signer.sign("john_doe")                # a value SignedCookies accepts
    # with max_age: TimestampSigner(...).unsign(cookie_value, max_age=max_age)

``tests/test_itsdangerous_interop.py`` does exactly this, both ways, through real
requests. Encrypted cookies (``encrypted_cookies``, :class:`CookieEncrypter`) are
not itsdangerous tokens: AES-256-GCM, the key derived with HKDF-SHA256 under
``f"{salt}.encrypted"``, the cookie name as associated data (see the class). The
session cookie and CSRF tokens use :class:`CookieSigner` with their own salts and
payload formats, documented by their layers.

Cost
----

Everything is built once, at start-up: the derived keys and keyed HMAC states (or AES
keys) are computed in ``__init__``, never per request. Each signer remembers its
recent signature checks (a :class:`~headerware.memo.Memo`: a client sends the same
token on every request); expiry (``max_age``) is still checked every time.
Configuration errors (``max_age``, the keys) are
:class:`~headerware.options.OptionError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Sequence

from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int, int_to_bytes
from itsdangerous.signer import HMACAlgorithm, Signer
from itsdangerous.timed import TimestampSigner

from .keys import load_secret_keys
from .memo import Memo
from .options import OptionError, seconds

__all__ = ["CookieEncrypter", "CookieSigner", "KeysOption", "NameSigner", "NamedSigner"]

KeysOption = str | bytes | Sequence[str | bytes] | None

#: The digest of every headerware signature (HMAC-SHA256).
_DIGEST = hashlib.sha256

#: A signature check: ``(value, issued timestamp or None, "ok")`` or
#: ``(None, None, reason)``.
_Checked = tuple[str | None, int | None, str]

#: Only its clock is used (see :func:`_now`); it never signs.
_CLOCK = TimestampSigner(b"headerware: the clock only, never a signing key")


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


def _max_age(value: int | None) -> int | None:
    """``max_age`` when it is ``None`` (no expiry) or a whole number of seconds >= 1."""
    if value is None:
        return None
    return seconds("max_age", value, minimum=1, example="86400, or None for no expiry")


def _now() -> int:
    """Now in whole seconds, by itsdangerous's clock (``TimestampSigner.get_timestamp``,
    which tests move): every signer here stamps and checks ages by it."""
    return _CLOCK.get_timestamp()


def _split_token(signed: str) -> tuple[str, bytes, bytes] | str:
    """``(signed part as text, as bytes, signature)`` of an itsdangerous token
    (``value[.timestamp].signature``, URL-safe base64 without padding), or the
    reason it cannot be one: ``unsigned`` or ``bad_signature``."""
    value, sep, sig = signed.rpartition(".")
    if not sep:
        return "unsigned"
    try:
        return value, value.encode("utf-8"), sig.encode("ascii")
    except UnicodeError:
        return "bad_signature"


def _unstamp(value: str, timed: bool) -> _Checked:
    """The answer for an authentic signed part: with ``timed``, its timestamp split off."""
    if not timed:
        return value, None, "ok"
    value, sep, stamp = value.rpartition(".")
    if not sep:
        return None, None, "bad_signature"
    try:
        issued = bytes_to_int(base64_decode(stamp))
    except Exception:
        return None, None, "bad_signature"
    return value, issued, "ok"


def _fresh(checked: _Checked, max_age: int | None) -> tuple[str | None, str]:
    """A remembered check's answer now: ``expired`` once older than ``max_age`` (or
    issued in the future); the age is checked every time, never remembered."""
    value, issued, reason = checked
    if value is None or issued is None or max_age is None:
        return value, reason
    age = _now() - issued
    if age > max_age or age < 0:
        return None, "expired"
    return value, "ok"


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
        self.max_age = _max_age(max_age)
        self.salt = salt
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
        # Signature checks by the whole signed string (a tampered value is another
        # key; the keys never change): signed -> (value, issued, reason).
        self._verified: Memo[str, _Checked] = Memo(
            f"signer:{salt}", self._check, size=512, max_key_length=4096
        )

    def sign(self, value: str) -> str:
        """``value`` followed by ``.`` and its signature (URL-safe, cookie-safe)."""
        return self._signer.sign(value.encode("utf-8")).decode("utf-8")

    def verify(self, signed: str) -> tuple[str | None, str]:
        """``(value, "ok")``, or ``(None, reason)`` with reason ``unsigned``,
        ``bad_signature`` or ``expired``.

        The hot path of every request carrying a signed cookie: a client sends the
        same cookie again and again, so the signature check of a signed string is
        remembered (:class:`~headerware.memo.Memo`, bounded); with ``max_age`` the
        age is still checked on every request.
        """
        return _fresh(self._verified(signed), self.max_age)

    def _check(self, signed: str) -> _Checked:
        """The signature check proper: ``(value, issued or None, "ok")`` or
        ``(None, None, reason)``, against the precomputed keyed HMAC states directly,
        newest key first: one HMAC update per key tried."""
        parts = _split_token(signed)
        if isinstance(parts, str):
            return None, None, parts
        value, data, expected = parts
        for prepared in self._macs:
            mac = prepared.copy()
            mac.update(data)
            if hmac.compare_digest(base64_encode(mac.digest()), expected):
                return _unstamp(value, self.max_age is not None)
        return None, None, "bad_signature"

    def unsign(self, signed: str) -> str | None:
        """The original value when the signature is valid (and fresh), else ``None``."""
        return self.verify(signed)[0]


class NamedSigner:
    """Signs the values of any number of names, each under its own salt.

    The value of ``name`` is signed under the salt ``f"{salt}:{name}"``: exactly the
    token ``CookieSigner(secret_keys, f"{salt}:{name}", max_age)`` signs and
    verifies (itsdangerous' format and ``hmac`` key derivation), so a value signed
    for one name never verifies as another. What differs is the cost: the keyed
    HMAC state of each secret key is built once, here, and a name's key is derived
    from a copy of it by one HMAC evaluation when needed - no signer is built per
    name, nothing grows with the names a client invents. Checks are remembered
    (a bounded :class:`~headerware.memo.Memo` by name and token); expiry is still
    checked every time. :meth:`for_name` gives the one-name view.
    """

    __slots__ = ("_secrets", "_verified", "max_age", "salt")

    def __init__(
        self,
        secret_keys: KeysOption = None,
        salt: str = "headerware.signed-cookie",
        max_age: int | None = None,
        *,
        allow_dev_key: bool = False,
        option: str = "secret_keys",
    ) -> None:
        self.max_age = _max_age(max_age)
        self.salt = salt
        keys = load_secret_keys(secret_keys, allow_dev_key=allow_dev_key, option=option)
        # Newest first: the key that signs, and the one most tokens carry.
        self._secrets = tuple(hmac.new(key, digestmod=_DIGEST) for key in keys)
        # By f"{len(name)}:{name}{token}" (unambiguous whatever the name holds).
        self._verified: Memo[str, _Checked] = Memo(
            f"named_signer:{salt}", self._check, size=1024, max_key_length=4096
        )

    def _name_key(self, secret: hmac.HMAC, name: str) -> bytes:
        """The signing key of ``name`` under one secret key (itsdangerous' derivation)."""
        mac = secret.copy()
        mac.update(f"{self.salt}:{name}".encode())
        return mac.digest()

    def sign(self, name: str, value: str) -> str:
        """``value`` signed for ``name``: ``value[.timestamp].signature``."""
        data = value.encode("utf-8")
        if self.max_age is not None:
            data += b"." + base64_encode(int_to_bytes(_now()))
        key = self._name_key(self._secrets[0], name)
        return (data + b"." + base64_encode(hmac.digest(key, data, _DIGEST))).decode("utf-8")

    def verify(self, name: str, signed: str) -> tuple[str | None, str]:
        """``(value, "ok")``, or ``(None, reason)`` with reason ``unsigned``,
        ``bad_signature`` or ``expired`` (as :meth:`CookieSigner.verify`)."""
        return _fresh(self._verified(f"{len(name)}:{name}{signed}"), self.max_age)

    def unsign(self, name: str, signed: str) -> str | None:
        """The original value when the signature for ``name`` is valid (and fresh)."""
        return self.verify(name, signed)[0]

    def for_name(self, name: str) -> NameSigner:
        """The signer of ``name`` alone (``sign``/``verify``/``unsign`` of one value)."""
        return NameSigner(self, name)

    def _check(self, key: str) -> _Checked:
        length, _, rest = key.partition(":")
        split = int(length)
        name, signed = rest[:split], rest[split:]
        parts = _split_token(signed)
        if isinstance(parts, str):
            return None, None, parts
        value, data, expected = parts
        for secret in self._secrets:
            mac = hmac.digest(self._name_key(secret, name), data, _DIGEST)
            if hmac.compare_digest(base64_encode(mac), expected):
                return _unstamp(value, self.max_age is not None)
        return None, None, "bad_signature"


class NameSigner:
    """One name's view of a :class:`NamedSigner`: the interface of :class:`CookieSigner`."""

    __slots__ = ("name", "signer")

    def __init__(self, signer: NamedSigner, name: str) -> None:
        self.signer = signer
        self.name = name

    def sign(self, value: str) -> str:
        """``value`` signed for this name."""
        return self.signer.sign(self.name, value)

    def verify(self, signed: str) -> tuple[str | None, str]:
        """``(value, "ok")`` or ``(None, reason)``."""
        return self.signer.verify(self.name, signed)

    def unsign(self, signed: str) -> str | None:
        """The original value when the signature is valid (and fresh), else ``None``."""
        return self.signer.verify(self.name, signed)[0]


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
            raise OptionError(
                "encrypted_cookies",
                None,
                "needs the 'cryptography' package",
                "install headerware[crypto] or remove encrypted_cookies",
            ) from exc
        self.max_age = _max_age(max_age)
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
