"""The context of one ASGI connection: the layers' view of an ASGI scope.

An :class:`ASGIContext` copies the scope once; request headers are decoded
(latin-1, repeated lines folded as a WSGI server folds them) on first use. What
layers change (headers, origin, published keys) changes the copy, which is what
the application receives (:meth:`ASGIContext.app_scope`). The request body is read
asynchronously and replayed to the application (:meth:`ASGIContext.receive_for_app`).
The adapter itself is :mod:`headerware.asgi`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .core.context import Context

__all__ = ["ASGIApp", "ASGIContext", "Message", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SECURE_SCHEMES = frozenset(("https", "wss"))


def _fold_headers(raw: Any) -> dict[str, str]:
    """Request headers by lower-case name; repeated lines fold as a server folds them
    for WSGI (``Cookie`` with ``; ``, the rest with ``,``)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        known = headers.get(name)
        if known is None:
            headers[name] = value
        else:
            headers[name] = f"{known}; {value}" if name == "cookie" else f"{known},{value}"
    return headers


class ASGIContext(Context):
    """The context of one ASGI connection (``http`` or ``websocket``), over its scope.

    The scope is copied once; what layers change (headers, origin, published keys)
    changes the copy, which is what the application receives.
    """

    # Class-level defaults: a request pays only for the state it uses.
    _headers: dict[str, str] | None = None
    _headers_changed = False
    _chunks: list[bytes] | None = None
    _received = 0
    _complete = False
    _replay_end: Message | None = None

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        self.scope = dict(scope)
        self.state = {}
        self._receive = receive

    # --- the request -----------------------------------------------------------------

    @property
    def method(self) -> str:
        method: str = self.scope.get("method") or "GET"
        return method if method.isupper() else method.upper()

    @property
    def raw_path(self) -> str:
        path: str = self.scope.get("path") or "/"
        root = self.root_path
        # ASGI's path includes the mount prefix; layers match below it (like PATH_INFO).
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        return path

    @property
    def root_path(self) -> str:
        return str(self.scope.get("root_path") or "")

    @property
    def query_string(self) -> str:
        query = self.scope.get("query_string") or b""
        return query.decode("latin-1") if isinstance(query, bytes) else str(query)

    @property
    def scheme(self) -> str:
        scheme = str(self.scope.get("scheme") or "http")
        if scheme == "ws":
            return "http"
        return "https" if scheme == "wss" else scheme

    @property
    def is_secure(self) -> bool:
        return self.scope.get("scheme") in _SECURE_SCHEMES

    @property
    def host(self) -> str:
        host = self.header("host")
        if host:
            return host
        server = self.scope.get("server")
        if not server:
            return ""
        name, port = str(server[0]), str(server[1]) if server[1] is not None else ""
        default = "443" if self.scheme == "https" else "80"
        return name if not port or port == default else f"{name}:{port}"

    @property
    def server_port(self) -> str:
        server = self.scope.get("server")
        return str(server[1]) if server and server[1] is not None else ""

    @property
    def client(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    def _header_map(self) -> dict[str, str]:
        headers = self._headers
        if headers is None:
            raw = self.scope.get("headers") or ()
            if not isinstance(raw, list | tuple):
                raw = list(raw)
            # The common case in one pass: lower-case names (as servers send them), no
            # repeated line; anything else is folded name by name.
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw}
            if len(headers) != len(raw) or not "".join(headers).islower():
                headers = _fold_headers(raw)
            self._headers = headers
        return headers

    def header(self, name: str) -> str | None:
        return self._header_map().get(name if name.islower() else name.lower())

    def header_items(self) -> list[tuple[str, str]]:
        return [(name.title(), value) for name, value in self._header_map().items()]

    # --- what layers change ----------------------------------------------------------

    def set_header(self, name: str, value: str | None) -> None:
        headers = self._header_map()
        name = name.lower()
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
        self._headers_changed = True

    def set_origin(
        self,
        *,
        scheme: str | None = None,
        host: str | None = None,
        port: str | None = None,
        client: str | None = None,
        root_path: str | None = None,
    ) -> None:
        scope = self.scope
        if scheme is not None:
            websocket = scope.get("type") == "websocket"
            scope["scheme"] = {"http": "ws", "https": "wss"}[scheme] if websocket else scheme
        server = scope.get("server") or ("", None)
        if host is not None:
            self.set_header("host", host)
            name, sep, rest = host.rpartition(":")
            hostname = name if sep and rest.isdigit() and not host.endswith("]") else host
            server = (hostname, server[1])
        if port is not None:
            server = (server[0], int(port) if port.isdigit() else server[1])
        if host is not None or port is not None:
            scope["server"] = server
        if client is not None:
            old = scope.get("client")
            scope["client"] = (client, old[1] if old else 0)
        if root_path is not None:
            old_root = str(scope.get("root_path") or "")
            path = str(scope.get("path") or "/")
            below = path[len(old_root) :] if old_root and path.startswith(old_root) else path
            scope["root_path"] = root_path
            scope["path"] = root_path + below

    def publish(self, key: str, value: Any) -> None:
        self.scope[key] = value

    def published(self, key: str, default: Any = None) -> Any:
        return self.scope.get(key, default)

    # --- the body --------------------------------------------------------------------

    def _declared_over(self, limit: int) -> bool:
        length = self.header("content-length")
        return length is not None and (not length.isdigit() or int(length) > limit)

    async def read_body_async(self, limit: int) -> bytes | None:
        receive = None if self._declared_over(limit) else self._receive  # over: read nothing
        while not self._complete and self._received <= limit and receive is not None:
            message = await receive()
            if message.get("type") != "http.request":
                self._replay_end = message  # a disconnect: the application sees it too
                break
            chunk = bytes(message.get("body") or b"")
            if self._chunks is None:
                self._chunks = []
            self._chunks.append(chunk)
            self._received += len(chunk)
            self._complete = not message.get("more_body", False)
        return self.read_body(limit)

    def read_body(self, limit: int) -> bytes | None:
        if self._received > limit or self._declared_over(limit):
            return None  # over the limit: as read_body_async answered, nothing read
        if not self._complete:
            if self._replay_end is not None:
                return None  # the client went away mid-body
            raise RuntimeError(
                "under ASGI a layer reads the request body with 'await "
                "ctx.read_body_async(limit)' (in on_request_async) before read_body()"
            )
        return b"".join(self._chunks or ())

    def receive_for_app(self) -> Receive | None:
        """The ``receive`` the application gets: what a layer read, then the rest."""
        receive = self._receive
        if not self._chunks and self._replay_end is None:
            return receive
        pending: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": True}
            for chunk in self._chunks or ()
        ]
        if self._complete and pending:
            pending[-1]["more_body"] = False
        end = self._replay_end
        if end is not None:
            pending.append(end)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            assert receive is not None
            return await receive()

        return replay

    def app_scope(self) -> Scope:
        """The scope the application gets: the copy, with the headers layers changed."""
        scope = self.scope
        if self._headers_changed:
            scope["headers"] = [
                (name.encode("latin-1"), value.encode("latin-1"))
                for name, value in self._header_map().items()
            ]
            self._headers_changed = False
        return scope
