"""The session cookie's ``Set-Cookie`` lines, for :mod:`headerware.layers.sessions`.

One place for the cookie's attributes (HttpOnly always; Secure, SameSite, Domain and
Path as configured) and for its size limit: a line longer than the store allows is
not written (browsers drop a cookie over 4096 bytes silently, which would log the
user out with no trace) and is logged as ``session_too_large`` instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from werkzeug.http import dump_cookie

from ._log import security_event

if TYPE_CHECKING:
    from .core.context import Context

__all__ = ["SessionCookie", "max_age"]


class SessionCookie:
    """The attributes of the session cookie, fixed at start-up."""

    __slots__ = ("domain", "max_size", "name", "path", "samesite", "secure")

    def __init__(
        self,
        name: str,
        secure: bool | None,
        samesite: str,
        domain: str | None,
        path: str,
        max_size: int,
    ) -> None:
        self.name = name
        self.secure = secure
        self.samesite = samesite
        self.domain = domain
        self.path = path
        self.max_size = max_size

    def is_secure(self, ctx: Context) -> bool:
        """Secure on HTTPS requests (``secure=None``), else as configured."""
        return ctx.is_secure if self.secure is None else self.secure

    def line(self, ctx: Context, value: str, max_age: int | None) -> str | None:
        """The ``Set-Cookie`` value carrying ``value``, or ``None`` (logged) when too long."""
        cookie = dump_cookie(
            self.name,
            value,
            max_age=max_age,
            path=self.path,
            domain=self.domain,
            secure=self.is_secure(ctx),
            httponly=True,
            samesite=self.samesite,
            max_size=0,  # checked below, with a logged refusal instead of a warning
        )
        if len(cookie) > self.max_size:
            security_event(
                "session_too_large",
                level=logging.ERROR,
                cookie=self.name,
                size=len(cookie),
                limit=self.max_size,
            )
            return None
        return cookie

    def deletion(self, ctx: Context) -> str:
        """The ``Set-Cookie`` value that deletes the session cookie."""
        return dump_cookie(
            self.name,
            "",
            max_age=0,
            expires=0,
            path=self.path,
            domain=self.domain,
            secure=self.is_secure(ctx),
            httponly=True,
            samesite=self.samesite,
        )


def max_age(idle: int | None, absolute: int | None, created: int, now: int) -> int | None:
    """The cookie's (and record's) lifetime: the sooner of the two timeouts."""
    ages = []
    if idle is not None:
        ages.append(idle)
    if absolute is not None:
        ages.append(max(1, created + absolute - now))
    return min(ages) if ages else None
