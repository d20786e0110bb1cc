"""The ASGI adapter: the same layers, chains and routes around an ASGI 3 application.

``ASGIStack(layers, app)`` (or ``load_config(path).asgi(app)``) is an ASGI
application. Everything the ASGI specification asks for lives here:

- an ``http`` scope is read into an :class:`ASGIContext` (layers never see the
  scope); request hooks run before the application is called, and an early answer
  goes out as ``http.response.start`` + ``http.response.body`` messages;
- the response hooks run on the application's ``http.response.start``; the body
  messages stream through untouched (``more_body``), unless a layer replaced or
  dropped the body, or held it (``ResponseHead.hold_body``) and the first body
  message is the complete body (``more_body`` false): the analogue of a WSGI list
  body. A streamed body is never buffered;
- an application (or hook) that raises before starting its response is answered
  with a logged 500 carrying the other layers' headers;
- a ``websocket`` scope runs the layers' ``on_websocket`` checks; a refusal closes
  the socket before it is accepted (HTTP 403 from the server, or the refusal itself
  where the server offers the ``websocket.http.response`` extension);
- ``lifespan`` (and any other scope type) passes through untouched.

Hooks run on the event loop. The few layers that do I/O (server-side sessions, a
request body read) await it in ``on_request_async`` / ``on_response_async``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from ._log import security_event
from .core.context import Context
from .core.engine import Chain
from .core.layer import ResponseHead
from .stack import AMBIGUOUS_ROUTE, StackBase

__all__ = ["CONTEXT_KEY", "ASGIApp", "ASGIContext", "ASGIStack", "current_context"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The scope key of the request's :class:`ASGIContext` (as under WSGI, in environ).
CONTEXT_KEY = "headerware.context"

_STATUS = {int(status): f"{int(status)} {status.phrase}" for status in HTTPStatus}


def status_line(code: int) -> str:
    """``200`` -> ``"200 OK"``: the status as the layers (and WSGI) spell it."""
    line = _STATUS.get(code)
    return line if line is not None else f"{code} Unknown"


def _decode(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _status_code(head: ResponseHead) -> int:
    code = head.status_code
    return code if code else 500


class ASGIContext(Context):
    """The context of one ASGI connection (``http`` or ``websocket``), over its scope.

    The scope is copied once; what layers change (headers, origin, published keys)
    changes the copy, which is what the application receives.
    """

    def __init__(self, scope: Scope, receive: Receive | None = None) -> None:
        self.scope = dict(scope)
        self.state = {}
        self._receive = receive
        self._headers: dict[str, str] | None = None
        self._headers_changed = False
        self._chunks: list[bytes] = []
        self._received = 0
        self._complete = False
        self._replay_end: Message | None = None

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
            headers = {}
            for raw_name, raw_value in self.scope.get("headers") or ():
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                known = headers.get(name)
                if known is None:
                    headers[name] = value
                else:  # repeated lines fold as a server folds them for WSGI
                    headers[name] = f"{known}; {value}" if name == "cookie" else f"{known},{value}"
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

    async def read_body_async(self, limit: int) -> bytes | None:
        length = self.header("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return None
        receive = self._receive
        while not self._complete and self._received <= limit and receive is not None:
            message = await receive()
            if message.get("type") != "http.request":
                self._replay_end = message  # a disconnect: the application sees it too
                break
            chunk = bytes(message.get("body") or b"")
            self._chunks.append(chunk)
            self._received += len(chunk)
            self._complete = not message.get("more_body", False)
        return self.read_body(limit)

    def read_body(self, limit: int) -> bytes | None:
        if self._received > limit:
            return None
        if not self._complete:
            if self._replay_end is not None:
                return None  # the client went away mid-body
            raise RuntimeError(
                "under ASGI a layer reads the request body with 'await "
                "ctx.read_body_async(limit)' (in on_request_async) before read_body()"
            )
        return b"".join(self._chunks)

    def receive_for_app(self) -> Receive | None:
        """The ``receive`` the application gets: what a layer read, then the rest."""
        receive = self._receive
        if not self._chunks and self._replay_end is None:
            return receive
        pending: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": True} for chunk in self._chunks
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


def current_context(scope: Scope) -> Context | None:
    """The headerware context of the connection behind ``scope``, if any."""
    ctx = scope.get(CONTEXT_KEY)
    return ctx if isinstance(ctx, Context) else None


async def send_head(ctx: ASGIContext, head: ResponseHead, send: Send) -> None:
    """Send a head whose body the engine decided (an early answer, an error)."""
    await send(
        {
            "type": "http.response.start",
            "status": _status_code(head),
            "headers": _encode(head.headers),
        }
    )
    body = b"" if head.body_dropped or ctx.method == "HEAD" else b"".join(head.body or ())
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Sender:
    """The ``send`` the application gets: runs the response hooks on its start."""

    __slots__ = ("chain", "ctx", "head", "held", "send", "sent", "swallow")

    def __init__(self, ctx: ASGIContext, chain: Chain, send: Send) -> None:
        self.ctx = ctx
        self.chain = chain
        self.send = send
        self.head: ResponseHead | None = None
        self.held: Message | None = None
        self.sent = False
        self.swallow = False

    async def __call__(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            head = ResponseHead(status_line(int(message["status"])), _decode(message["headers"]))
            head = await self.chain.arespond(self.ctx, head)
            self.head = head
            if head.body_hooks and head.body is None and not head.body_dropped:
                self.held = message  # wait for the first body message
                return
            await self._start(message, head)
            if head.body_dropped or head.body is not None:
                self.swallow = True  # the application's body is not what goes out
                await self._body(b"" if head.body_dropped else b"".join(head.body or ()))
            return
        if self.swallow:
            return
        held = self.held
        if held is not None:
            self.held = None
            known = self.head
            assert known is not None
            head = known
            if kind == "http.response.body" and not message.get("more_body", False):
                head = self.chain.finish_body(self.ctx, head, [bytes(message.get("body") or b"")])
                self.head = head
                await self._start(held, head)
                await self._body(b"" if head.body_dropped else b"".join(head.body or ()))
                self.swallow = True
                return
            head.body_hooks = None  # a stream: sent as it comes, never buffered
            await self._start(held, head)
        await self.send(message)

    async def _start(self, message: Message, head: ResponseHead) -> None:
        start = dict(message)
        start["status"] = _status_code(head)
        start["headers"] = _encode(head.headers)
        self.sent = True
        await self.send(start)

    async def _body(self, body: bytes) -> None:
        if self.ctx.method == "HEAD":
            body = b""
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    async def flush(self) -> None:
        """The application returned while its head was held: send what is known."""
        head = self.head
        if self.held is not None and head is not None:
            held, self.held = self.held, None
            head.body_hooks = None
            await self._start(held, head)
            await self._body(b"")


async def serve(chain: Chain, app: ASGIApp, ctx: ASGIContext, send: Send) -> None:
    """One HTTP request through ``chain`` around ``app``."""
    ctx.scope[CONTEXT_KEY] = ctx
    early = await chain.arequest(ctx)
    if early is not None:
        await send_head(ctx, early, send)
        return
    receive = ctx.receive_for_app()
    assert receive is not None
    if not chain.response_hooks:
        await app(ctx.app_scope(), receive, send)
        return
    sender = _Sender(ctx, chain, send)
    try:
        await app(ctx.app_scope(), receive, sender)
    except Exception:
        if sender.sent:
            raise
        await send_head(ctx, await chain.aapp_failed(ctx), send)
        return
    await sender.flush()


async def refuse_websocket(head: ResponseHead, scope: Scope, receive: Receive, send: Send) -> None:
    """Close a WebSocket before accepting it; a denial response where the server can."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    extensions = scope.get("extensions") or {}
    if "websocket.http.response" in extensions:
        await send(
            {
                "type": "websocket.http.response.start",
                "status": _status_code(head),
                "headers": _encode(head.headers),
            }
        )
        body = b"".join(head.body or ())
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
        return
    await send({"type": "websocket.close", "code": 1008})


class ASGIStack(StackBase):
    """Ordered layers (and per-route variants) run around an ASGI 3 application."""

    app: ASGIApp | None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if app is None:
            raise TypeError("ASGIStack was created without an application; pass it the app")
        kind = scope.get("type")
        if kind != "http" and kind != "websocket":
            await app(scope, receive, send)  # lifespan and the rest: untouched
            return
        ctx = ASGIContext(scope, receive)
        chain = self.chain if self._router is None else self.chain_for(ctx)
        if kind == "websocket":
            await self._websocket(chain, app, ctx, receive, send)
            return
        if chain is None:
            security_event("ambiguous_route", raw_path=ctx.raw_path[:200], path=ctx.path[:200])
            await send_head(ctx, await self.chain.aanswer(ctx, AMBIGUOUS_ROUTE), send)
            return
        await serve(chain, app, ctx, send)

    async def _websocket(
        self, chain: Chain | None, app: ASGIApp, ctx: ASGIContext, receive: Receive, send: Send
    ) -> None:
        if chain is None:
            security_event("ambiguous_route", raw_path=ctx.raw_path[:200], path=ctx.path[:200])
            await refuse_websocket(
                self.chain.answer(ctx, AMBIGUOUS_ROUTE, ()), ctx.scope, receive, send
            )
            return
        refusal = chain.websocket(ctx)
        if refusal is not None:
            await refuse_websocket(refusal, ctx.scope, receive, send)
            return
        ctx.scope[CONTEXT_KEY] = ctx
        await app(ctx.app_scope(), receive, send)
