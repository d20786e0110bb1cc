"""The signed-cookie session store (the default).

The whole session travels in the cookie: the JSON record, base64url-encoded and
signed with itsdangerous (HMAC-SHA256, key rotation, derived keys precomputed at
start-up by :class:`headerware.crypto.CookieSigner`). Nothing is kept on the
server, so any number of workers and hosts share sessions with no set-up; the price
is that the client can read (not change) the data, and a session cannot be revoked
before its timeouts end it. Use a server-side store for either.

``max_size=4000``
    The longest ``Set-Cookie`` line written. Browsers keep at most 4096 bytes per
    cookie and silently drop a longer one, which would log the user out with no
    trace; over the limit the layer refuses to write, logs ``session_too_large`` and
    keeps the client's previous cookie (the response is otherwise unchanged).
"""

from __future__ import annotations

from typing import ClassVar

from ..options import OptionError

__all__ = ["CookieStore"]

#: Browsers' per-cookie limit (RFC 6265 section 6.1 asks for at least 4096 bytes).
_BROWSER_LIMIT = 4096


class CookieStore:
    """Options of the signed-cookie backend; the session layer does the signing."""

    server_side: ClassVar[bool] = False

    __slots__ = ("max_size",)

    def __init__(self, *, max_size: int = 4000) -> None:
        if (
            isinstance(max_size, bool)
            or not isinstance(max_size, int)
            or not (256 <= max_size <= _BROWSER_LIMIT)
        ):
            raise OptionError(
                "max_size",
                max_size,
                f"{max_size!r} is out of range for a CookieStore",
                f"use a byte count between 256 and {_BROWSER_LIMIT} (browsers drop longer "
                "cookies), or a server-side store for larger sessions",
            )
        self.max_size = max_size

    def describe(self) -> dict[str, object]:
        """The store as the ``store`` option's factory table (pastes back into TOML)."""
        return {"use": "headerware.stores:CookieStore", "max_size": self.max_size}
