"""Signing and encryption primitives shared by the layers that protect values.

:class:`CookieSigner` (itsdangerous' format, HMAC-SHA256, a list of keys as
rotation: the newest signs, all verify) and :class:`CookieEncrypter` (AES-GCM,
from the ``crypto`` extra) are used by signed cookies, sessions, CSRF tokens and
signed bearer tokens. They live here, not in a layer, so no layer imports another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Sequence
from typing import Any

from itsdangerous.encoding import base64_decode, base64_encode, bytes_to_int
from itsdangerous.signer import HMACAlgorithm, Signer
from itsdangerous.timed import TimestampSigner

from .keys import load_secret_keys

__all__ = ["CookieEncrypter", "CookieSigner", "KeysOption"]

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
