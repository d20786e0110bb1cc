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

Under ASGI
    Every method has an awaitable twin (``aget``, ``aset``, ``adelete``, ``aload``,
    ``asave``, ``adelete_loaded``, ``arevoke``, ``arevoke_user``) that the session
    layer awaits, so no store call blocks the event loop. This base class runs the
    sync method in a worker thread (``anyio.to_thread.run_sync``: asyncio or trio;
    anyio is the ``asgi`` extra and is imported on first use), which is what
    ``SQLiteStore`` and a store of your own get; ``RedisStore`` overrides them with
    redis-py's asyncio client. An operation of several round trips (a save and its
    user index, a regenerate) is written once as *steps*, a generator yielding
    :class:`Call` s, which :func:`run` performs directly and :func:`arun` awaits: one
    copy of the logic for both adapters, with no generated code.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator
from typing import Any, ClassVar, NamedTuple, TypeVar

from .cookie import CookieStore

__all__ = [
    "Call",
    "CookieStore",
    "Loaded",
    "ServerStore",
    "SessionStore",
    "Steps",
    "StoreUnavailable",
    "arun",
    "off_loop",
    "run",
    "storage_key",
    "user_id_text",
    "user_index_key",
]


_T = TypeVar("_T")


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

    # -- the awaitable twins (ASGI): by default the sync method in a worker thread --

    async def aget(self, key: str) -> str | None:
        """:meth:`get` without blocking the event loop."""
        return await off_loop(self.get, key)

    async def aset(self, key: str, value: str, ttl: int | None) -> None:
        """:meth:`set` without blocking the event loop."""
        await off_loop(self.set, key, value, ttl)

    async def adelete(self, key: str) -> None:
        """:meth:`delete` without blocking the event loop."""
        await off_loop(self.delete, key)

    async def aload(self, key: str) -> Loaded | None:
        """:meth:`load` without blocking the event loop."""
        return await off_loop(self.load, key)

    async def asave(
        self,
        key: str,
        value: str,
        ttl: int | None,
        *,
        expected: object = None,
        user_id: str | None = None,
    ) -> bool:
        """:meth:`save` without blocking the event loop."""
        return await off_loop(self.save, key, value, ttl, expected=expected, user_id=user_id)

    async def adelete_loaded(self, key: str, expected: object) -> bool:
        """:meth:`delete_loaded` without blocking the event loop."""
        return await off_loop(self.delete_loaded, key, expected)

    async def arevoke(self, session_id: str) -> None:
        """:meth:`revoke` without blocking the event loop."""
        await off_loop(self.revoke, session_id)

    async def arevoke_user(self, user_id: str | int) -> int:
        """:meth:`revoke_user` without blocking the event loop."""
        return await off_loop(self.revoke_user, user_id)


async def off_loop(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``function(*args, **kwargs)`` in a worker thread (anyio: asyncio or trio), so
    a blocking store call never runs on the event loop."""
    try:
        import anyio.to_thread
    except ImportError as exc:
        raise RuntimeError(
            "a server-side session store under ASGI needs anyio: "
            "install it with `pip install headerware[asgi]`"
        ) from exc
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


SessionStore = CookieStore | ServerStore


# -- steps: a conversation with a backend written once, run sync or awaited -----------


class Call(NamedTuple):
    """One backend operation a step function yields: a method name and its arguments
    (the result is sent back into the generator)."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


#: A generator that yields :class:`Call` s and returns its result: the logic of an
#: operation that needs several backend round trips, shared by WSGI and ASGI.
Steps = Generator[Call, Any, _T]


def run(steps: Steps[_T], perform: Callable[[Call], Any]) -> _T:
    """Run ``steps``, performing each call synchronously (WSGI)."""
    try:
        call = next(steps)
        while True:
            call = steps.send(perform(call))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        steps.close()


async def arun(steps: Steps[_T], perform: Callable[[Call], Awaitable[Any]]) -> _T:
    """Run ``steps``, awaiting each call (ASGI): the same logic as :func:`run`."""
    try:
        call = next(steps)
        while True:
            call = steps.send(await perform(call))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        steps.close()
