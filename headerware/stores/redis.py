"""Server-side sessions in Redis, via redis-py (extra ``redis``): for many hosts.

``RedisStore(url)`` keeps each session as one string key with the session's idle
timeout as its TTL, so Redis expires abandoned sessions by itself. redis-py's
connection pool re-opens its connections after a fork, so one store serves every
gunicorn worker. Each command has a short socket timeout: when Redis is down or
unreachable, the request is answered with a ``503`` in about that time (never a
hung worker, never a 500), and :class:`~headerware.stores.StoreUnavailable` is what
the session layer sees. Redis failing never deletes anything.

Conditional saves: a loaded session is written back by a Lua script that compares
the stored text with the text loaded and writes only when they are equal (a new
session only when its key is absent), in one atomic step on one key, so a session
revoked or logged out meanwhile stays gone. Every command touches a single key, so
the store works unchanged on a Redis Cluster.

Log out everywhere: each save adds the session's key to a set per user
(``<prefix>user:<sha256>``, expiring with the user's longest-lived session);
``revoke_user(user_id)`` deletes the sessions listed there and the set itself.

Deployments
    - ``url="redis://host:port/db"`` (``rediss://`` for TLS, ``unix://`` for a socket):
      one server.
    - ``url="redis+sentinel://[:password@]host:26379[,host2:26379]/service[/db]"``
      (``rediss+sentinel://`` for TLS): Redis Sentinel; the store talks to the
      current master of ``service``, found through redis-py's ``Sentinel``. The
      password is the master's (and the sentinels' when they have one).
    - ``url="redis://host:port"`` with ``cluster=True``: Redis Cluster through
      redis-py's ``RedisCluster`` (built on first use, so a cluster that is down at
      start-up is a ``503`` per request, not a failed start).
    - ``client=``: an already built redis-py client (``redis.Redis``, a Sentinel's
      ``master_for(...)``, ``redis.cluster.RedisCluster``), used as it is.

Under ASGI
    The session layer awaits ``aload`` / ``asave`` / ... , the same operations (each
    written once, as steps both run) on redis-py's asyncio client. With ``url=``
    (plain, Sentinel or ``cluster=True``) the store builds that client itself from the
    same settings, once per running event loop: a ``redis.asyncio`` client is bound
    to the loop it first ran on, and a server runs one loop per process, but tests
    and scripts may run several ``asyncio.run`` calls. ``await store.aclose()`` (at
    lifespan shutdown) closes the running loop's client. With ``client=`` the store
    cannot know how to rebuild that client as an asyncio one (Sentinel, Cluster, a
    subclass): pass ``async_client=`` (a ``redis.asyncio`` client, used as it is on
    the app's one loop) beside it, or the async methods run the sync client's
    commands in worker threads (correct, never on the loop; a thread hop per
    command). Under trio (no asyncio loop) the store does the same.

Options: ``url`` (a password in the URL is never logged or described),
``prefix="headerware:session:"`` (key namespace), ``socket_timeout=1.0`` (seconds per
command and per connect), ``cluster=False``, ``client=None``, ``async_client=None``
(needs ``client=`` or ``url=`` too; a sync client given as ``client=`` and anything
else given as ``async_client=`` is an ``OptionError``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from ..options import OptionError, boolean, wait_seconds
from . import (
    Call,
    Loaded,
    ServerStore,
    Steps,
    StoreUnavailable,
    arun,
    off_loop,
    run,
    storage_key,
    user_id_text,
    user_index_key,
)

__all__ = ["RedisStore"]

_SCHEMES = {"redis", "rediss", "unix"}
_SENTINEL_SCHEMES = {"redis+sentinel", "rediss+sentinel"}

#: KEYS[1] the session; ARGV: expected text ("" for a new session), value, ttl ("" none).
_SAVE = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""
#: KEYS[1] the session; ARGV[1] the text loaded.
_DELETE_LOADED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisStore(ServerStore):
    """Session keys in Redis with a TTL; every Redis error becomes ``StoreUnavailable``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "headerware:session:",
        socket_timeout: float = 1.0,
        cluster: bool = False,
        client: Any = None,
        async_client: Any = None,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise OptionError(
                "url",
                _redact(url),
                "RedisStore needs redis-py",
                "install it with `pip install headerware[redis]`",
            ) from exc
        self.socket_timeout = _check_timeout(socket_timeout)
        if not isinstance(prefix, str) or not prefix:
            raise OptionError(
                "prefix", prefix, f"{prefix!r} must be a non-empty string", "e.g. 'myapp:session:'"
            )
        self.cluster = boolean("cluster", cluster)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._url = _redact(url)
        self.prefix = prefix
        self._lock = threading.Lock()
        _check_clients(url, client, async_client)
        self._client: Any = client
        self._async_client: Any = async_client
        self._factory: Callable[[], Any] | None = None
        #: Builds the asyncio client of one event loop; None: ``client=`` was given.
        self._async_factory: Callable[[], Any] | None = None
        #: The asyncio clients built, one per running event loop (closed loops pruned).
        self._loop_clients: dict[asyncio.AbstractEventLoop, Any] = {}
        if client is None:
            self._factory, self._async_factory = self._client_factories(url, self.cluster)
            if not self.cluster:
                self._client = self._factory()

    def _client_factories(
        self, url: str | None, cluster: bool
    ) -> tuple[Callable[[], Any], Callable[[], Any]]:
        """What builds the sync and the asyncio redis-py client ``url`` names, from the
        same settings (a Cluster client connects when built, so the store builds that
        one on first use; an asyncio client is built once per event loop)."""
        import redis
        import redis.asyncio
        import redis.asyncio.cluster
        import redis.asyncio.sentinel
        import redis.cluster
        import redis.sentinel

        timeout = self.socket_timeout
        scheme = urlsplit(url).scheme if url else ""
        options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if scheme in _SENTINEL_SCHEMES and not cluster:
            assert url is not None
            nodes, service, db, password, tls = _parse_sentinel(url)
            if tls:
                options["ssl"] = True
            auth: dict[str, Any] = {"password": password} if password else {}
            sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                nodes, sentinel_kwargs={**options, **auth}, **options
            )

            def async_master() -> Any:
                sentinels = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                    nodes, sentinel_kwargs={**options, **auth}, **options
                )
                return sentinels.master_for(service, db=db, **options, **auth)

            return (
                lambda: sentinel.master_for(service, db=db, **options, **auth),  # type: ignore[no-untyped-call]
                async_master,
            )
        if scheme not in _SCHEMES or (cluster and scheme == "unix"):
            raise OptionError(
                "url",
                self._url,
                f"{self._url!r} is not a Redis URL"
                + (" a cluster can use" if cluster and scheme else ""),
                "use e.g. 'redis://127.0.0.1:6379/0' or 'redis+sentinel://127.0.0.1:26379/mymaster'",
            )
        assert url is not None
        if cluster:
            return (
                lambda: redis.cluster.RedisCluster.from_url(url, **options),
                lambda: redis.asyncio.cluster.RedisCluster.from_url(url, **options),
            )
        return (
            lambda: redis.Redis.from_url(url, **options),
            lambda: redis.asyncio.Redis.from_url(url, **options),
        )

    def _redis(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    assert self._factory is not None
                    self._client = self._factory()
                client = self._client
        return client

    def _aredis(self) -> Any:
        """The asyncio client of the running event loop (built on first use in each
        loop: a redis.asyncio client is bound to one), or ``None`` for the sync
        client in a worker thread (only ``client=`` given, or no asyncio loop)."""
        if self._async_client is not None:
            return self._async_client
        factory = self._async_factory
        if factory is None:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio through anyio: no asyncio client to use
            return None
        client = self._loop_clients.get(loop)
        if client is None:
            with self._lock:
                for closed in [other for other in self._loop_clients if other.is_closed()]:
                    del self._loop_clients[closed]
                client = self._loop_clients[loop] = factory()
        return client

    def _call(self, call: Call) -> Any:
        try:
            return getattr(self._redis(), call.method)(*call.args)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc

    async def _acall(self, call: Call) -> Any:
        try:
            client = self._aredis()
            if client is None:
                return await off_loop(self._call, call)
            return await getattr(client, call.method)(*call.args)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        """Close the asyncio client this store built for the running event loop (call
        it at lifespan shutdown; a client passed as ``async_client=`` is the caller's)."""
        if self._async_factory is None:
            return
        with self._lock:
            client = self._loop_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    # -- each operation once, as steps; the sync and async methods run them ----------

    def _get_steps(self, key: str) -> Steps[str | None]:
        value = yield Call("get", (self.prefix + key,))
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    def _set_steps(self, key: str, value: str, ttl: int | None) -> Steps[None]:
        yield Call("set", (self.prefix + key, value.encode("utf-8"), ttl))

    def _save_steps(
        self, key: str, value: str, ttl: int | None, expected: object, user_id: str | None
    ) -> Steps[bool]:
        old = "" if expected is None else str(expected)
        ttl_arg = "" if ttl is None else str(ttl)
        saved = yield Call("eval", (_SAVE, 1, self.prefix + key, old, value, ttl_arg))
        if not int(saved):
            return False
        if user_id is not None:
            # List ``key`` under its user; the list lives as long as its longest session.
            index = self.prefix + "user:" + user_index_key(user_id)
            yield Call("sadd", (index, key))
            if ttl is None:
                yield Call("persist", (index,))
            else:
                remaining = yield Call("ttl", (index,))
                if isinstance(remaining, int) and 0 <= remaining < ttl:
                    yield Call("expire", (index, ttl))
        return True

    def _delete_loaded_steps(self, key: str, expected: object) -> Steps[bool]:
        deleted = yield Call("eval", (_DELETE_LOADED, 1, self.prefix + key, str(expected)))
        return bool(int(deleted))

    def _delete_steps(self, key: str) -> Steps[None]:
        yield Call("delete", (self.prefix + key,))

    def _revoke_user_steps(self, user_id: str | int) -> Steps[int]:
        user = user_id_text(user_id)
        if user is None:
            raise ValueError(f"revoke_user: {user_id!r} is not a user id (a str or an int)")
        index = self.prefix + "user:" + user_index_key(user)
        ended = 0
        for member in (yield Call("smembers", (index,))):
            key = member.decode("ascii") if isinstance(member, bytes) else str(member)
            # One key per command: sessions may sit on different Cluster slots.
            ended += int((yield Call("delete", (self.prefix + key,))))
        yield Call("delete", (index,))
        return ended

    def get(self, key: str) -> str | None:
        return run(self._get_steps(key), self._call)

    def load(self, key: str) -> Loaded | None:
        text = self.get(key)
        return None if text is None else Loaded(text, text)

    def set(self, key: str, value: str, ttl: int | None) -> None:
        run(self._set_steps(key, value, ttl), self._call)

    def save(
        self,
        key: str,
        value: str,
        ttl: int | None,
        *,
        expected: object = None,
        user_id: str | None = None,
    ) -> bool:
        return run(self._save_steps(key, value, ttl, expected, user_id), self._call)

    def delete_loaded(self, key: str, expected: object) -> bool:
        return run(self._delete_loaded_steps(key, expected), self._call)

    def delete(self, key: str) -> None:
        run(self._delete_steps(key), self._call)

    def revoke_user(self, user_id: str | int) -> int:
        return run(self._revoke_user_steps(user_id), self._call)

    async def aget(self, key: str) -> str | None:
        return await arun(self._get_steps(key), self._acall)

    async def aload(self, key: str) -> Loaded | None:
        text = await self.aget(key)
        return None if text is None else Loaded(text, text)

    async def aset(self, key: str, value: str, ttl: int | None) -> None:
        await arun(self._set_steps(key, value, ttl), self._acall)

    async def asave(
        self,
        key: str,
        value: str,
        ttl: int | None,
        *,
        expected: object = None,
        user_id: str | None = None,
    ) -> bool:
        return await arun(self._save_steps(key, value, ttl, expected, user_id), self._acall)

    async def adelete_loaded(self, key: str, expected: object) -> bool:
        return await arun(self._delete_loaded_steps(key, expected), self._acall)

    async def adelete(self, key: str) -> None:
        await arun(self._delete_steps(key), self._acall)

    async def arevoke(self, session_id: str) -> None:
        await self.adelete(storage_key(session_id))

    async def arevoke_user(self, user_id: str | int) -> int:
        return await arun(self._revoke_user_steps(user_id), self._acall)

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {"use": "headerware.stores.redis:RedisStore"}
        if self._url is not None and "***@" not in self._url:
            described["url"] = self._url  # a URL with a password is a secret: omitted
        described["prefix"] = self.prefix
        described["socket_timeout"] = self.socket_timeout
        if self.cluster:
            described["cluster"] = True
        return described


def _check_clients(url: str | None, client: object, async_client: object) -> None:
    """``client=`` must be a sync client, ``async_client=`` an asyncio one, and an
    asyncio client needs a sync one (or a URL) beside it for WSGI."""
    import redis.asyncio
    import redis.asyncio.cluster

    asyncio_clients = (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)
    if isinstance(client, asyncio_clients):
        raise OptionError(
            "client",
            type(client).__name__,
            "client= is a redis.asyncio client, which WSGI requests cannot use",
            "pass it as async_client= and give client= a sync client (or url=)",
        )
    if async_client is not None and not isinstance(async_client, asyncio_clients):
        raise OptionError(
            "async_client",
            type(async_client).__name__,
            "async_client= must be a redis.asyncio client",
            "use e.g. redis.asyncio.Redis.from_url(url), or leave it out: with url= "
            "the store builds its asyncio client itself",
        )
    if async_client is not None and client is None and not url:
        raise OptionError(
            "client",
            None,
            "async_client= serves ASGI requests only; the same store serves WSGI too",
            "pass client= (e.g. redis.Redis.from_url(url)) or url= as well",
        )


def _parse_sentinel(url: str) -> tuple[list[tuple[str, int]], str, int, str | None, bool]:
    """``(sentinel nodes, service name, db, password, tls)`` of a Sentinel URL."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    password = unquote(parts.password) if parts.password else None
    nodes: list[tuple[str, int]] = []
    for node in netloc.split(","):
        host, port = node, "26379"
        if ":" in node and not node.endswith("]"):
            host, _, port = node.rpartition(":")
        if not host or not port.isdigit():
            nodes = []
            break
        nodes.append((host.strip("[]"), int(port)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not nodes or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise OptionError(
            "url",
            _redact(url),
            f"{_redact(url)!r} is not a Sentinel URL",
            "use 'redis+sentinel://[:password@]host:26379[,host2:26379]/service_name[/db]'",
        )
    db = int(path[1]) if len(path) == 2 else 0
    return nodes, path[0], db, password, parts.scheme.startswith("rediss")


def _check_timeout(socket_timeout: object) -> float:
    return wait_seconds("socket_timeout", socket_timeout, maximum=30)


def _redact(url: str | None) -> str | None:
    """``url`` without its password, for messages."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()
