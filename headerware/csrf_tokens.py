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
application. Under ASGI the layer awaits the body first when :meth:`CSRFTokens.reads_body`
says it will be read; a client that leaves mid-body gets ``ClientDisconnected``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import os
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote_plus

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from ._headers import is_token
from .crypto import CookieSigner, KeysOption
from .options import OptionError

if TYPE_CHECKING:
    from .core.context import Context

__all__ = [
    "SESSION_KEY",
    "CSRFSession",
    "CSRFTokens",
    "check_header_name",
    "check_token_max_age",
    "session_of",
]

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


def check_header_name(header_name: object) -> str:
    """The ``header_name`` option: a header name (token syntax)."""
    if not isinstance(header_name, str) or not is_token(header_name):
        raise OptionError(
            "header_name",
            header_name,
            f"{header_name!r} is not a valid header name",
            "use e.g. 'X-CSRF-Token'",
        )
    return header_name


def check_token_max_age(token_max_age: object) -> int | None:
    """The ``token_max_age`` option: positive seconds, or ``None``."""
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

    def _form(self, ctx: Context) -> tuple[str, dict[str, str]] | None:
        """The form's media type and options when the token must come from the body
        (no header token, a form content type); ``None`` when the body is not read."""
        if ctx.header(self._header_lower):
            return None
        mimetype, options = parse_options_header(ctx.header("content-type") or "")
        return (mimetype, options) if mimetype in _FORM_TYPES else None

    def reads_body(self, ctx: Context) -> bool:
        """Whether :meth:`submitted` reads the request body (at most ``max_form_size``
        bytes): an ASGI layer awaits ``ctx.read_body_async`` exactly then."""
        return self._form(ctx) is not None

    def submitted(self, ctx: Context) -> str | None:
        """The token of the header, else of the form field; raises
        ``RequestEntityTooLarge`` for a form over ``max_form_size``/``max_form_fields``
        and ``ClientDisconnected`` for a body shorter than its ``Content-Length``."""
        found = self._form(ctx)
        if found is None:
            header = ctx.header(self._header_lower)
            return header.strip() if header else None
        mimetype, options = found
        body = ctx.read_body(self.max_form_size)
        if body is None:
            length = ctx.header("content-length") or ""
            if length.isdigit() and int(length) <= self.max_form_size:
                raise ClientDisconnected()  # ASGI: the client went away mid-body
            raise RequestEntityTooLarge()  # over the limit: nothing (or limit + 1 chunk) read
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
