"""Session stores: where the data of a :class:`~headerware.layers.sessions.Sessions` lives.

``CookieStore`` (the default) keeps the whole session in the signed cookie: nothing on
the server, nothing to share between workers, but the client carries (and can read)
the data and a session cannot be revoked before it expires. ``SQLiteStore`` and
``RedisStore`` are server-side: the cookie carries only a signed random id of 256
bits, the data stays on the server, and ``store.revoke(session_id)`` ends a session
at once (log-out everywhere, a stolen cookie).

A server-side store implements four methods on opaque string keys and JSON text;
every failure to reach the backend (Redis down, SQLite locked past its busy timeout)
is raised as :class:`StoreUnavailable`, which the session layer turns into a ``503``.
A store never stores the session id itself: the key is a SHA-256 of the id, so a
leaked database or ``KEYS *`` listing does not hand out live session cookies.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import ClassVar

from .cookie import CookieStore

__all__ = ["CookieStore", "ServerStore", "SessionStore", "StoreUnavailable", "storage_key"]


class StoreUnavailable(Exception):
    """The session backend could not be reached or was busy past its timeout."""


def storage_key(session_id: str) -> str:
    """The key a server-side store files ``session_id`` under (SHA-256, hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class ServerStore(ABC):
    """Base class of server-side stores: the cookie carries only a signed session id."""

    server_side: ClassVar[bool] = True

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The JSON text stored under ``key``, or ``None`` when absent or expired."""

    @abstractmethod
    def set(self, key: str, value: str, ttl: int | None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl`` seconds (``None``: never)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when it is absent)."""

    def revoke(self, session_id: str) -> None:
        """End the session ``session_id`` (``session.id``) now, whoever holds its cookie."""
        self.delete(storage_key(session_id))

    def describe(self) -> dict[str, object]:
        """The store's effective options (never a password)."""
        return {"store": type(self).__name__}


SessionStore = CookieStore | ServerStore
