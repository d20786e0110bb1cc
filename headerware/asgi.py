"""The ASGI adapter: the same layers, chains and routes around an ASGI 3 application.

``ASGIStack(layers, app)`` (or ``load_config(path).asgi(app)``) is an ASGI
application. Everything the ASGI specification asks for lives here:

- an ``http`` scope is read into an :class:`~headerware.asgi_context.ASGIContext`
  (layers never see the scope); request hooks run before the application is
  called, and an early answer goes out as ``http.response.start`` +
  ``http.response.body`` messages;
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

from http import HTTPStatus
from typing import Any

from ._log import security_event
from .asgi_context import ASGIApp, ASGIContext, Message, Receive, Scope, Send
from .core.context import CONTEXT_KEY, current_context
from .core.engine import Chain
from .core.layer import ResponseHead
from .stack import AMBIGUOUS_ROUTE, StackBase

__all__ = ["CONTEXT_KEY", "ASGIApp", "ASGIContext", "ASGIStack", "current_context"]


_STATUS = {int(status): f"{int(status)} {status.phrase}" for status in HTTPStatus}


def status_line(code: int) -> str:
    """``200`` -> ``"200 OK"``: the status as the layers (and WSGI) spell it."""
    line = _STATUS.get(code)
    return line if line is not None else f"{code} Unknown"


def _decode(headers: Any) -> list[tuple[str, str]]:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers]


#: Response headers as ASGI sends them: names lower-cased ("header names must be
#: lowercased"; Starlette's Headers, so any middleware outside the stack, looks names
#: up in lower case only), both encoded. Most pairs a stack sends are the same on
#: every response (the security headers), so short ones are encoded once; the cache
#: is bounded and never evicts, so the first (static) pairs stay.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODED_SIZE = 2048
_ENCODED_VALUE = 200


def _encode_pair(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    name, value = pair
    encoded = (name.lower().encode("latin-1"), value.encode("latin-1"))
    if len(value) <= _ENCODED_VALUE and len(_ENCODED) < _ENCODED_SIZE:
        _ENCODED[pair] = encoded
    return encoded


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    known = _ENCODED.get
    return [known(pair) or _encode_pair(pair) for pair in headers]


def _status_code(head: ResponseHead) -> int:
    code = head.status_code
    return code if code else 500


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

    # Class-level defaults: most responses never set them.
    head: ResponseHead | None = None
    held: Message | None = None
    sent = False
    swallow = False

    def __init__(self, ctx: ASGIContext, chain: Chain, send: Send) -> None:
        self.ctx = ctx
        self.chain = chain
        self.send = send

    async def __call__(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            head = ResponseHead(status_line(int(message["status"])), _decode(message["headers"]))
            chain = self.chain
            if chain.async_response:
                head = await chain.arespond(self.ctx, head)
            else:
                head = chain.respond(self.ctx, head)
            if head.body_hooks and not head.body_dropped:
                if head.body is None:
                    self.head = head
                    self.held = message  # wait for the first body message
                    return
                # An inner layer replaced the body: the hooks see that body (as under WSGI).
                head = await self.chain.afinish_body(self.ctx, head, head.body)
            self.head = head
            ours = head.body_dropped or head.body is not None
            await self._start(message, head, ours)
            if ours:
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
                head = await self.chain.afinish_body(
                    self.ctx, head, [bytes(message.get("body") or b"")]
                )
                self.head = head
                await self._start(held, head, True)
                await self._body(b"" if head.body_dropped else b"".join(head.body or ()))
                self.swallow = True
                return
            head.body_hooks = None  # a stream: sent as it comes, never buffered
            await self._start(held, head, False)
        await self.send(message)

    async def _start(self, message: Message, head: ResponseHead, ours: bool) -> None:
        """Send the start message; ``ours``: the stack sends the body (and no trailers)."""
        start = {"type": "http.response.start", "status": head.status_code or 500}
        if len(message) > 3:  # extensions' keys (trailers, ...) go on
            start.update(message)
            start["status"] = head.status_code or 500
            if ours:
                start.pop("trailers", None)  # the application's trailers are swallowed too
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
            await self._start(held, head, True)
            await self._body(b"")


async def serve(chain: Chain, app: ASGIApp, ctx: ASGIContext, send: Send) -> None:
    """One HTTP request through ``chain`` around ``app``."""
    ctx.scope[CONTEXT_KEY] = ctx
    early = await chain.arequest(ctx) if chain.async_request else chain.request(ctx)
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
    if sender.held is not None:
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
