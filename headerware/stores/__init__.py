"""Session stores: where the data of a :class:`~headerware.layers.sessions.Sessions` lives.

``CookieStore`` (the default) keeps the whole session in the signed cookie: nothing on
the server, nothing to share between workers, but the client carries (and can read)
the data and a session cannot be revoked before it expires. ``SQLiteStore`` and
``RedisStore`` are server-side: the cookie carries only a signed random id of 256
bits, the data stays on the server, and ``store.revoke(session_id)`` ends a session
at once (log-out everywhere, a stolen cookie).

A server-side store implements ``get``, ``set`` and ``delete`` on opaque string keys
and JSON text; every failure to reach the backend (Redis down, SQLite locked past its
busy timeout) is raised as :class:`StoreUnavailable`, which the session layer turns
into a ``503``. A store never stores the session id itself: the key is a SHA-256 of
the id, so a leaked database or ``KEYS *`` listing does not hand out live session
cookies.

Conditional saves
    The session layer loads a record with :meth:`ServerStore.load` (its text and an
    opaque version) and writes it back with :meth:`ServerStore.save`, which succeeds
    only while the stored record is still the one loaded (or, for a new session,
    while there is none). So a request already in flight when the session was
    revoked or logged out cannot bring it back with its save. SQLite and Redis
    check and write atomically (a version column and a guarded ``UPDATE``; a Lua
    script); the fallback of this base class, for a store that implements only the
    three primitives, compares then writes and is not atomic.

Log out everywhere
    ``save`` receives the session's user id (the session value under the layer's
    ``user_key``, default ``"user_id"``) and the store keeps an index by user: a
    column with an SQL index, a Redis set per user. ``store.revoke_user(user_id)``
    (or ``Sessions.revoke_user``) deletes every session of that user without
    scanning all keys, and returns how many it deleted. A session that changes its
    user without ``regenerate()`` stays listed under the earlier one too (revoking
    either ends it).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

from .cookie import CookieStore

__all__ = [
    "CookieStore",
    "Loaded",
    "ServerStore",
    "SessionStore",
    "StoreUnavailable",
    "storage_key",
    "user_id_text",
    "user_index_key",
]


class StoreUnavailable(Exception):
    """The session backend could not be reached or was busy past its timeout."""


def storage_key(session_id: str) -> str:
    """The key a server-side store files ``session_id`` under (SHA-256, hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def user_index_key(user_id: str) -> str:
    """The key a store files the index of ``user_id``'s sessions under (SHA-256, hex)."""
    return hashlib.sha256(("user:" + user_id).encode("utf-8")).hexdigest()


def user_id_text(user_id: object) -> str | None:
    """The text a user id is indexed by (``42`` and ``"42"`` are one user), or ``None``
    when the value cannot identify a user (empty, a bool, a list...)."""
    if isinstance(user_id, str):
        return user_id or None
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        return str(user_id)
    return None


class Loaded(NamedTuple):
    """A stored record: its JSON text and the version a conditional save compares."""

    text: str
    version: object


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

    def load(self, key: str) -> Loaded | None:
        """The record under ``key`` with its version, or ``None``."""
        text = self.get(key)
        return None if text is None else Loaded(text, text)

    def save(
        self,
        key: str,
        value: str,
        ttl: int | None,
        *,
        expected: object = None,
        user_id: str | None = None,
    ) -> bool:
        """Write ``value`` only if the record is still the one loaded (``expected``, its
        version) or, with ``expected=None``, if there is none; False when it was not.

        This fallback is not atomic and keeps no user index; real stores override it.
        """
        current = self.load(key)
        if (current is None) != (expected is None) or (
            current is not None and current.version != expected
        ):
            return False
        self.set(key, value, ttl)
        return True

    def delete_loaded(self, key: str, expected: object) -> bool:
        """Delete ``key`` only if it is still the record loaded; False when it was not."""
        current = self.load(key)
        if current is None or current.version != expected:
            return False
        self.delete(key)
        return True

    def revoke(self, session_id: str) -> None:
        """End the session ``session_id`` (``session.id``) now, whoever holds its cookie."""
        self.delete(storage_key(session_id))

    def revoke_user(self, user_id: str | int) -> int:
        """End every session of ``user_id`` now (log out everywhere); how many ended."""
        raise NotImplementedError(f"{type(self).__name__} keeps no index of sessions by user")

    def describe(self) -> dict[str, object]:
        """The store as the ``store`` option's factory table ``{"use": "module:Class",
        option: value}`` (pastes back into TOML); never a password."""
        cls = type(self)
        return {"use": f"{cls.__module__}:{cls.__qualname__}"}


SessionStore = CookieStore | ServerStore
