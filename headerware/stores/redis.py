"""Server-side sessions in Redis, via redis-py (extra ``redis``): for many hosts.

``RedisStore(url)`` keeps each session as one string key with the session's idle
timeout as its TTL, so Redis expires abandoned sessions by itself. redis-py's
connection pool re-opens its connections after a fork, so one store serves every
gunicorn worker. Each command has a short socket timeout: when Redis is down or
unreachable, the request is answered with a ``503`` in about that time (never a
hung worker, never a 500), and :class:`~headerware.stores.StoreUnavailable` is what
the session layer sees. Redis failing never deletes anything.

Options: ``url`` (``redis://host:port/db``, ``rediss://`` for TLS; a password in the
URL is never logged or described), ``prefix="headerware:session:"`` (key namespace),
``socket_timeout=1.0`` (seconds per command and per connect), ``client`` (an
existing ``redis.Redis`` to use instead of ``url``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..options import OptionError
from . import ServerStore, StoreUnavailable

__all__ = ["RedisStore"]


class RedisStore(ServerStore):
    """Session keys in Redis with a TTL; every Redis error becomes ``StoreUnavailable``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        prefix: str = "headerware:session:",
        socket_timeout: float = 1.0,
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
        if (
            isinstance(socket_timeout, bool)
            or not isinstance(socket_timeout, (int, float))
            or not (0 < socket_timeout <= 30)
        ):
            raise OptionError(
                "socket_timeout",
                socket_timeout,
                f"{socket_timeout!r} is not a bounded wait",
                "use seconds between 0 and 30",
            )
        if not isinstance(prefix, str) or not prefix:
            raise OptionError(
                "prefix", prefix, f"{prefix!r} must be a non-empty string", "e.g. 'myapp:session:'"
            )
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        if client is None:
            if not url or urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
                raise OptionError(
                    "url",
                    _redact(url),
                    f"{_redact(url)!r} is not a Redis URL",
                    "use e.g. 'redis://127.0.0.1:6379/0'",
                )
            client = redis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        self._client = client
        self._url = _redact(url)
        self.prefix = prefix
        self.socket_timeout = float(socket_timeout)

    def get(self, key: str) -> str | None:
        try:
            value = self._client.get(self.prefix + key)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl: int | None) -> None:
        try:
            self._client.set(self.prefix + key, value.encode("utf-8"), ex=ttl)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc

    def delete(self, key: str) -> None:
        try:
            self._client.delete(self.prefix + key)
        except self._errors as exc:
            raise StoreUnavailable(f"Redis session store: {type(exc).__name__}") from exc

    def describe(self) -> dict[str, object]:
        return {"store": "RedisStore", "url": self._url, "prefix": self.prefix}


def _redact(url: str | None) -> str | None:
    """``url`` without its password, for messages and ``describe()``."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()
