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

Options: ``url`` (a password in the URL is never logged or described),
``prefix="headerware:session:"`` (key namespace), ``socket_timeout=1.0`` (seconds per
command and per connect), ``cluster=False``, ``client=None``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from ..options import OptionError, boolean, wait_seconds
from . import Loaded, ServerStore, StoreUnavailable, user_id_text, user_index_key

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
        self._client: Any = client
        self._factory: Callable[[], Any] | None = None
        if client is None:
            self._factory = self._client_factory(url, self.cluster)
            if not self.cluster:
                self._client = self._factory()

    def _client_factory(self, url: str | None, cluster: bool) -> Callable[[], Any]:
        """What builds the redis-py client ``url`` names (a Cluster client connects when
        built, so the store builds that one on first use)."""
        import redis
        import redis.cluster
        import redis.sentinel

        timeout = self.socket_timeout
        scheme = urlsplit(url).scheme if url else ""
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        if scheme in _SENTINEL_SCHEMES and not cluster:
            assert url is not None
            nodes, service, db, password, tls = _parse_sentinel(url)
            if tls:
                options["ssl"] = True
            auth = {"password": password} if password else {}
            sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                nodes, sentinel_kwargs={**options, **auth}, **options
            )
            return lambda: sentinel.master_for(service, db=db, **options, **auth)  # type: ignore[no-untyped-call]
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
            return lambda: redis.cluster.RedisCluster.from_url(url, **options)
        return lambda: redis.Redis.from_url(url, **options)

    def _redis(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    assert self._factory is not None
                    try:
                        self._client = self._factory()
                    except self._errors as exc:
                        raise StoreUnavailable(
                            f"Redis session store: {type(exc).__name__}"
                        ) from exc
                client = self._client
        return client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._redis(), method)(*args, **kwargs)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc

    def _script(self, source: str, keys: list[str], args: list[str]) -> int:
        try:
            client = self._redis()
            return int(client.eval(source, len(keys), *keys, *args))
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc

    def get(self, key: str) -> str | None:
        value = self._call("get", self.prefix + key)
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    def load(self, key: str) -> Loaded | None:
        text = self.get(key)
        return None if text is None else Loaded(text, text)

    def set(self, key: str, value: str, ttl: int | None) -> None:
        self._call("set", self.prefix + key, value.encode("utf-8"), ex=ttl)

    def save(
        self,
        key: str,
        value: str,
        ttl: int | None,
        *,
        expected: object = None,
        user_id: str | None = None,
    ) -> bool:
        old = "" if expected is None else str(expected)
        ttl_arg = "" if ttl is None else str(ttl)
        if not self._script(_SAVE, [self.prefix + key], [old, value, ttl_arg]):
            return False
        if user_id is not None:
            self._index(key, user_id, ttl)
        return True

    def _index(self, key: str, user_id: str, ttl: int | None) -> None:
        """List ``key`` under its user; the list lives as long as its longest session."""
        index = self.prefix + "user:" + user_index_key(user_id)
        self._call("sadd", index, key)
        if ttl is None:
            self._call("persist", index)
            return
        remaining = self._call("ttl", index)
        if isinstance(remaining, int) and 0 <= remaining < ttl:
            self._call("expire", index, ttl)

    def delete_loaded(self, key: str, expected: object) -> bool:
        return bool(self._script(_DELETE_LOADED, [self.prefix + key], [str(expected)]))

    def delete(self, key: str) -> None:
        self._call("delete", self.prefix + key)

    def revoke_user(self, user_id: str | int) -> int:
        user = user_id_text(user_id)
        if user is None:
            raise ValueError(f"revoke_user: {user_id!r} is not a user id (a str or an int)")
        index = self.prefix + "user:" + user_index_key(user)
        ended = 0
        for member in self._call("smembers", index):
            key = member.decode("ascii") if isinstance(member, bytes) else str(member)
            # One key per command: sessions may sit on different Cluster slots.
            ended += int(self._call("delete", self.prefix + key))
        self._call("delete", index)
        return ended

    def describe(self) -> dict[str, object]:
        described: dict[str, object] = {"use": "headerware.stores.redis:RedisStore"}
        if self._url is not None and "***@" not in self._url:
            described["url"] = self._url  # a URL with a password is a secret: omitted
        described["prefix"] = self.prefix
        described["socket_timeout"] = self.socket_timeout
        if self.cluster:
            described["cluster"] = True
        return described


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
