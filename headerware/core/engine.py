"""The engine: runs one ordered chain of layers over one request, in plain code.

A :class:`Chain` is built once per stack (and per route variant) from the layers'
hooks. For a request the server adapter asks it three things:

1. :meth:`Chain.request` runs the ``on_request`` hooks in order. When one answers
   early, that :class:`~headerware.core.layer.Response` goes out through the
   ``on_response`` hooks of that layer and of the layers before it (outer ones),
   so a 401 still gets CORS and security headers.
2. :meth:`Chain.respond` runs every ``on_response`` hook in reverse order on the
   application's :class:`~headerware.core.layer.ResponseHead`.
3. :meth:`Chain.finish_body` runs the body hooks layers asked for with
   ``hold_body``, once a complete in-memory body is known.

Under ASGI the adapter calls the ``a``-prefixed twins (:meth:`Chain.arequest`,
:meth:`Chain.arespond`, ...), which await the hooks of layers that do I/O
(``request_is_async`` / ``response_is_async``) and call every other hook exactly
as the plain methods do; a chain without such layers runs the plain methods.
:meth:`Chain.websocket` runs the WebSocket handshake checks.

Failures are isolated here, whatever the server interface: a hook (or the
application, before it started its response) that raises is logged and answered
with a 500 that still carries the other layers' headers. An exception whose class
sets ``propagate = True`` (strict modes meant for tests) is re-raised instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .._log import logger
from .context import Context
from .layer import Layer, Response, ResponseHead

__all__ = ["ERROR_BODY", "ERROR_STATUS", "Chain"]

ERROR_STATUS = "500 Internal Server Error"
ERROR_BODY = b"Internal Server Error"

RequestHook = Callable[[Context], "Response | None"]
ResponseHook = Callable[[Context, ResponseHead], None]


def _propagates() -> bool:
    return bool(getattr(sys.exc_info()[1], "propagate", False))


def _owner(hook: Callable[..., object]) -> str:
    layer = getattr(hook, "__self__", None)
    return str(getattr(layer, "name", layer))


class Chain:
    """The hooks of an ordered list of layers, resolved once at construction."""

    __slots__ = (
        "async_request",
        "async_response",
        "layers",
        "outer",
        "request_hooks",
        "response_hooks",
        "websocket_hooks",
    )

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = tuple(layers)
        self.request_hooks: tuple[tuple[int, RequestHook], ...] = tuple(
            (index, layer.on_request)
            for index, layer in enumerate(self.layers)
            if layer.handles_request
        )
        #: Response hooks in run order: innermost layer first.
        self.response_hooks: tuple[ResponseHook, ...] = tuple(
            layer.on_response for layer in reversed(self.layers) if layer.handles_response
        )
        #: ``outer[k]``: the response hooks of layers ``0..k-1``, in run order.
        self.outer: tuple[tuple[ResponseHook, ...], ...] = tuple(
            tuple(
                layer.on_response
                for layer in reversed(self.layers[:index])
                if layer.handles_response
            )
            for index in range(len(self.layers) + 1)
        )
        self.async_request = any(
            layer.handles_request and layer.request_is_async for layer in self.layers
        )
        self.async_response = any(
            layer.handles_response and layer.response_is_async for layer in self.layers
        )
        self.websocket_hooks: tuple[RequestHook, ...] = tuple(
            layer.on_websocket for layer in self.layers if layer.handles_websocket
        )

    def request(self, ctx: Context) -> ResponseHead | None:
        """Run the request hooks; the head of an early answer, or ``None`` to go on."""
        for index, hook in self.request_hooks:
            try:
                early = hook(ctx)
            except Exception:
                if _propagates():
                    raise
                logger.exception("headerware layer %s failed on the request", _owner(hook))
                return self.error(ctx, self.outer[index])
            if early is not None:
                return self.answer(ctx, early, self.outer[index + 1])
        return None

    def answer(
        self, ctx: Context, response: Response, hooks: Sequence[ResponseHook] | None = None
    ) -> ResponseHead:
        """An early answer through ``hooks`` (default: every response hook)."""
        head = ResponseHead(response.status, list(response.headers))
        head.body = [response.body] if response.body else []
        head = self.respond(ctx, head, hooks)
        if head.body_hooks and head.body is not None:
            head = self.finish_body(ctx, head, head.body)
        return head

    def respond(
        self, ctx: Context, head: ResponseHead, hooks: Sequence[ResponseHook] | None = None
    ) -> ResponseHead:
        """Run the response hooks (default: all) on a head; the head to send."""
        if hooks is None:
            hooks = self.response_hooks
        for hook in hooks:
            try:
                hook(ctx, head)
            except Exception:
                if _propagates():
                    raise
                logger.exception("headerware layer %s failed on the response", _owner(hook))
                return self.error(ctx, [other for other in hooks if other != hook])
        return head

    def error(self, ctx: Context, hooks: Sequence[ResponseHook]) -> ResponseHead:
        """A 500 head with the error text, through ``hooks`` (a failing one is skipped)."""
        head = _error_head()
        for hook in hooks:
            try:
                hook(ctx, head)
            except Exception:
                logger.exception("headerware layer %s failed on an error response", _owner(hook))
        return _error_body(head)

    def app_failed(self, ctx: Context) -> ResponseHead:
        """The application raised before it started its response: log, answer 500."""
        if _propagates():
            raise
        logger.exception("the application raised before starting its response; answering 500")
        return self.error(ctx, self.response_hooks)

    def finish_body(self, ctx: Context, head: ResponseHead, chunks: list[bytes]) -> ResponseHead:
        """Run the held body's hooks on the complete ``chunks``; the head to send,
        whose ``body`` is what goes out (unless ``body_dropped``)."""
        if _run_body_hooks(head, chunks):
            return head
        return self.error(ctx, self.response_hooks)

    # --- the ASGI twins: the same steps, awaiting the hooks of layers that do I/O ---

    async def arequest(self, ctx: Context) -> ResponseHead | None:
        """:meth:`request`, awaiting ``on_request_async`` where a layer has one."""
        if not self.async_request:
            return self.request(ctx)
        for index, hook in self.request_hooks:
            layer: Layer = getattr(hook, "__self__", None)  # type: ignore[assignment]
            try:
                if layer is not None and layer.request_is_async:
                    early = await layer.on_request_async(ctx)
                else:
                    early = hook(ctx)
            except Exception:
                if _propagates():
                    raise
                logger.exception("headerware layer %s failed on the request", _owner(hook))
                return await self.aerror(ctx, self.outer[index])
            if early is not None:
                return await self.aanswer(ctx, early, self.outer[index + 1])
        return None

    async def aanswer(
        self, ctx: Context, response: Response, hooks: Sequence[ResponseHook] | None = None
    ) -> ResponseHead:
        """:meth:`answer`, awaiting ``on_response_async`` where a layer has one."""
        if not self.async_response:
            return self.answer(ctx, response, hooks)
        head = ResponseHead(response.status, list(response.headers))
        head.body = [response.body] if response.body else []
        head = await self.arespond(ctx, head, hooks)
        if head.body_hooks and head.body is not None:
            head = await self.afinish_body(ctx, head, head.body)
        return head

    async def arespond(
        self, ctx: Context, head: ResponseHead, hooks: Sequence[ResponseHook] | None = None
    ) -> ResponseHead:
        """:meth:`respond`, awaiting ``on_response_async`` where a layer has one."""
        if hooks is None:
            hooks = self.response_hooks
        if not self.async_response:
            return self.respond(ctx, head, hooks)
        for hook in hooks:
            try:
                await _run_response_hook(hook, ctx, head)
            except Exception:
                if _propagates():
                    raise
                logger.exception("headerware layer %s failed on the response", _owner(hook))
                return await self.aerror(ctx, [other for other in hooks if other != hook])
        return head

    async def afinish_body(
        self, ctx: Context, head: ResponseHead, chunks: list[bytes]
    ) -> ResponseHead:
        """:meth:`finish_body`; a failing body hook's 500 awaits the async hooks."""
        if _run_body_hooks(head, chunks):
            return head
        return await self.aerror(ctx, self.response_hooks)

    async def aerror(self, ctx: Context, hooks: Sequence[ResponseHook]) -> ResponseHead:
        """:meth:`error`, awaiting ``on_response_async`` where a layer has one."""
        if not self.async_response:
            return self.error(ctx, hooks)
        head = _error_head()
        for hook in hooks:
            try:
                await _run_response_hook(hook, ctx, head)
            except Exception:
                logger.exception("headerware layer %s failed on an error response", _owner(hook))
        return _error_body(head)

    async def aapp_failed(self, ctx: Context) -> ResponseHead:
        """:meth:`app_failed`, awaiting ``on_response_async`` where a layer has one."""
        if _propagates():
            raise
        logger.exception("the application raised before starting its response; answering 500")
        return await self.aerror(ctx, self.response_hooks)

    def websocket(self, ctx: Context) -> ResponseHead | None:
        """Run the WebSocket handshake checks in order; the head of a refusal, or ``None``.

        A refusal is sent as it is (no response hooks: a handshake refusal carries
        no page); the ASGI adapter sends it as a denial response or a close."""
        for hook in self.websocket_hooks:
            try:
                refusal = hook(ctx)
            except Exception:
                if _propagates():
                    raise
                logger.exception("headerware layer %s failed on a websocket", _owner(hook))
                return self.error(ctx, ())
            if refusal is not None:
                return self.answer(ctx, refusal, ())
        return None


def _run_body_hooks(head: ResponseHead, chunks: list[bytes]) -> bool:
    """Run a held body's hooks on ``chunks``, leaving the body to send on ``head``;
    False (logged) when one failed."""
    hooks = head.body_hooks or []
    head.body_hooks = None
    head.body = None
    for hook in hooks:
        try:
            hook(head, chunks)
        except Exception:
            if _propagates():
                raise
            logger.exception("headerware body hook %s failed", _owner(hook))
            return False
        if head.body_dropped:
            break
        if head.body is not None:
            chunks = head.body
    if not head.body_dropped:
        head.body = chunks
    return True


async def _run_response_hook(hook: ResponseHook, ctx: Context, head: ResponseHead) -> None:
    layer: Layer | None = getattr(hook, "__self__", None)
    if layer is not None and layer.response_is_async:
        await layer.on_response_async(ctx, head)
    else:
        hook(ctx, head)


def _error_head() -> ResponseHead:
    return ResponseHead(
        ERROR_STATUS,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(ERROR_BODY))),
        ],
    )


def _error_body(head: ResponseHead) -> ResponseHead:
    # Whatever a hook asked, an error response's body is the error text.
    head.body_hooks = None
    head.body_dropped = False
    head.body = [ERROR_BODY]
    return head
