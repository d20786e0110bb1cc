"""CSRF synchronizer tokens: minted, checked, found in a request (CSRFProtect's token mode).

A token is the session's CSRF secret (32 random bytes, kept in the session by the
:class:`~headerware.layers.sessions.Sessions` layer, read through its published
session's ``csrf_secret()`` and ``current_csrf_secret()``), XOR-masked with a fresh
random pad on every call and signed (itsdangerous, :class:`~headerware.crypto.CookieSigner`),
so a compressed response never repeats the same secret bytes (BREACH).

:meth:`CSRFTokens.submitted` finds the token of a request: the header first (then
the body is never read), else the form field of an
``application/x-www-form-urlencoded`` or ``multipart/form-data`` body of at most
``max_form_size`` bytes and ``max_form_fields`` fields; over either limit it raises
``RequestEntityTooLarge`` before a field is decoded. The body stays readable by the
application.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import os
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote_plus

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from .crypto import CookieSigner, KeysOption

if TYPE_CHECKING:
    from .core.context import Context

__all__ = ["SESSION_KEY", "CSRFSession", "CSRFTokens", "session_of"]

#: The published key of the request's session (the Sessions layer's documented key).
SESSION_KEY = "headerware.session"

_SECRET_BYTES = 32
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class CSRFSession(Protocol):
    """What token mode uses of the published session (see :mod:`~headerware.layers.sessions`)."""

    def csrf_secret(self) -> str: ...

    def current_csrf_secret(self) -> str | None: ...


def session_of(ctx: Context) -> CSRFSession:
    """The session a Sessions layer published for this request; ``LookupError`` without."""
    session = ctx.published(SESSION_KEY)
    if session is None or not callable(getattr(session, "csrf_secret", None)):
        raise LookupError(
            "CSRFProtect(mode='token') needs a Sessions layer before it in the stack "
            "(no session was published under 'headerware.session')"
        )
    return session  # type: ignore[no-any-return]


class CSRFTokens:
    """Mints and checks the masked, signed tokens of one CSRFProtect layer."""

    def __init__(
        self,
        *,
        secret_keys: KeysOption,
        salt: str,
        max_age: int | None,
        allow_dev_key: bool,
        field_name: str,
        header_name: str,
        max_form_size: int,
        max_form_fields: int,
    ) -> None:
        self._signer = CookieSigner(
            secret_keys, salt=salt, max_age=max_age, allow_dev_key=allow_dev_key
        )
        self.field_name = field_name
        self._header_lower = header_name.lower()
        self.max_form_size = max_form_size
        self.max_form_fields = max_form_fields

    def make(self, session: CSRFSession) -> str:
        """A fresh masked token for the session's secret (creates the secret)."""
        secret = base64.urlsafe_b64decode(session.csrf_secret() + "=")
        pad = os.urandom(_SECRET_BYTES)
        masked = pad + bytes(a ^ b for a, b in zip(pad, secret, strict=True))
        payload = base64.urlsafe_b64encode(masked).rstrip(b"=").decode("ascii")
        return self._signer.sign(payload)

    def matches(self, session: CSRFSession, token: str) -> bool:
        """True when ``token`` is a valid, unexpired token of the session's secret."""
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
        stored = session.current_csrf_secret()
        if stored is None:
            return False
        secret = base64.urlsafe_b64decode(stored + "=")
        return hmac.compare_digest(candidate, secret)

    def submitted(self, ctx: Context) -> str | None:
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
