"""The single-pass WSGI engine.

A *layer* is a set of hooks plus options validated and precomputed at
construction:

``on_request(ctx) -> Response | None``
    Runs before the application, in stack order. It may read or change
    ``ctx.environ``, or return a :class:`Response` to answer without calling the
    application (401, 403, 431, a CORS preflight, a redirect).
``on_response(ctx, status, headers) -> str | None``
    Runs inside the one intercepting ``start_response``, in reverse stack order.
    ``headers`` is a fresh ``list`` copied from the application's; the hook edits it
    in place and may return a new status line.
``on_body(ctx, status, headers, chunks) -> (status, headers, chunks)``
    Only for layers that set ``changes_body = True`` and, during ``on_response``,
    called ``ctx.buffer_body(self)``: the start of the response is held back and,
    when the application returned its body as a list or tuple (already in memory),
    the hook sees it whole, e.g. to compute an ETag and answer 304. Streamed bodies
    and ``wsgi.file_wrapper`` responses are never buffered: they go out unchanged.

:class:`Stack` runs any number of layers as ONE WSGI callable: request hooks in
order, the application called once, one ``start_response`` wrapper that runs the
response hooks in reverse order. When no layer can change the body, the
application's iterable object itself is returned, so ``wsgi.file_wrapper`` and
sendfile survive. Every layer is also ordinary middleware: ``Layer(app, ...)``
builds a one-layer stack, and wrapping a layer or stack in another layer merges
them into one stack rather than nesting.

Per-request state lives in a fresh :class:`Context`; it parses each request header,
the Cookie header and the Accept headers at most once, lazily, for every layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from werkzeug.datastructures import EnvironHeaders, LanguageAccept, MIMEAccept
from werkzeug.http import parse_accept_header

from ._headers import HeaderList
from ._log import logger
from .cookies_parse import parse_request_cookies

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .cookies_parse import RequestCookies
    from .routes import PathRouter

__all__ = ["Context", "Layer", "Response", "Stack"]


class Response:
    """A complete response decided by a layer instead of calling the application."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: str, headers: HeaderList | None = None, body: bytes = b"") -> None:
        self.status = status
        self.headers: HeaderList = list(headers) if headers else []
        self.body = body

    @classmethod
    def text(cls, status: str, message: str, headers: HeaderList | None = None) -> Response:
        """A ``text/plain`` response with ``message`` as its body."""
        body = message.encode("utf-8")
        base = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        return cls(status, base + (headers or []), body)

    @classmethod
    def json(cls, status: str, data: Any, headers: HeaderList | None = None) -> Response:
        """An ``application/json`` response with ``data`` serialised as its body."""
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        base = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        return cls(status, base + (headers or []), body)

    @classmethod
    def html(cls, status: str, markup: str, headers: HeaderList | None = None) -> Response:
        """A ``text/html`` response with ``markup`` as its body."""
        body = markup.encode("utf-8")
        base = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        return cls(status, base + (headers or []), body)

    @classmethod
    def empty(cls, status: str, headers: HeaderList | None = None) -> Response:
        """A response without a body (204, 304, a redirect)."""
        return cls(status, headers, b"")


_AcceptT = TypeVar("_AcceptT", MIMEAccept, LanguageAccept)

#: Parsed Accept headers by their raw value. Browsers send a handful of distinct
#: values and werkzeug's parse costs ~10 us; the parsed objects are immutable, so
#: requests can share them. Bounded: cleared when full, long values never cached.
_ACCEPT_CACHE_SIZE = 256
_ACCEPT_CACHE_MAX_LENGTH = 512
_MIME_CACHE: dict[str, MIMEAccept] = {}
_LANGUAGE_CACHE: dict[str, LanguageAccept] = {}


def _parse_accept(value: str | None, cls: type[_AcceptT], cache: dict[str, _AcceptT]) -> _AcceptT:
    if not value or len(value) > _ACCEPT_CACHE_MAX_LENGTH:
        return parse_accept_header(value, cls)
    parsed = cache.get(value)
    if parsed is None:
        parsed = parse_accept_header(value, cls)
        if len(cache) >= _ACCEPT_CACHE_SIZE:
            cache.clear()
        cache[value] = parsed
    return parsed


class Context:
    """Per-request state shared by every layer of a stack; never reused.

    Parsed views of the request (``headers``, ``cookies``, ``accept``,
    ``accept_language``) are computed on first use and cached. ``state`` is a dict
    where layers keep what they decided for this request.
    """

    # Class-level defaults keep construction to two attribute stores per request.
    _headers: EnvironHeaders | None = None
    _cookies: RequestCookies | None = None
    _accept: MIMEAccept | None = None
    _accept_language: LanguageAccept | None = None
    _buffer_layers: list[Layer] | None = None
    drop_body: bool = False
    status: str | None = None

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ
        self.state: dict[str, Any] = {}

    @property
    def headers(self) -> EnvironHeaders:
        """Request headers, case-insensitive, read from the environ."""
        if self._headers is None:
            self._headers = EnvironHeaders(self.environ)
        return self._headers

    @property
    def cookies(self) -> RequestCookies:
        """The request's cookies, parsed once with headerware's strict parser."""
        if self._cookies is None:
            self._cookies = parse_request_cookies(self.environ.get("HTTP_COOKIE", ""))
        return self._cookies

    def set_cookies(self, cookies: RequestCookies) -> None:
        """Replace the parsed cookies after a layer rewrote ``HTTP_COOKIE``."""
        self._cookies = cookies

    @property
    def accept(self) -> MIMEAccept:
        """The parsed ``Accept`` header (q-values honoured)."""
        if self._accept is None:
            self._accept = _parse_accept(self.environ.get("HTTP_ACCEPT"), MIMEAccept, _MIME_CACHE)
        return self._accept

    @property
    def accept_language(self) -> LanguageAccept:
        """The parsed ``Accept-Language`` header."""
        if self._accept_language is None:
            self._accept_language = _parse_accept(
                self.environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept, _LANGUAGE_CACHE
            )
        return self._accept_language

    @property
    def method(self) -> str:
        """The request method, upper-case."""
        return str(self.environ.get("REQUEST_METHOD", "GET")).upper()

    @property
    def path(self) -> str:
        """The full request path (``SCRIPT_NAME`` + ``PATH_INFO``)."""
        environ = self.environ
        return (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"

    @property
    def is_secure(self) -> bool:
        """True when the request's scheme, as the server (and proxy trust) set it, is https."""
        return self.environ.get("wsgi.url_scheme") == "https"

    def buffer_body(self, layer: Layer) -> None:
        """Ask the engine to hold the response back and call ``layer.on_body``."""
        if self._buffer_layers is None:
            self._buffer_layers = [layer]
        elif layer not in self._buffer_layers:
            self._buffer_layers.append(layer)


class Layer:
    """Base class of every headerware layer.

    Subclasses validate and precompute their options in ``__init__`` (after calling
    ``super().__init__(app)``), override the hooks they need, and never keep
    per-request state on ``self``.
    """

    #: Set by layers that may replace or drop the body (needs the engine's wrapper).
    changes_body: ClassVar[bool] = False
    #: The layer's name in stack listings, config files and log records.
    name: ClassVar[str] = "layer"

    app: WSGIApplication | None
    _stack: Stack | None = None

    def __init__(self, app: WSGIApplication | None = None) -> None:
        self.app = app
        if app is not None:
            self._stack = Stack([self], app)

    def on_request(self, ctx: Context) -> Response | None:
        """Inspect or change the request; return a :class:`Response` to answer early."""
        return None

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        """Edit ``headers`` in place; return a new status line, or ``None`` to keep it."""
        return None

    def on_body(
        self, ctx: Context, status: str, headers: HeaderList, chunks: list[bytes]
    ) -> tuple[str, HeaderList, list[bytes]]:
        """Rewrite a held-back response once its whole (bounded) body is known."""
        return status, headers, chunks

    def describe(self) -> dict[str, Any]:
        """The effective options, for ``headerware check-config`` and debugging."""
        return {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        stack = self._stack
        if stack is None:
            raise TypeError(
                f"{type(self).__name__} was created without an application; pass the "
                "WSGI app as the first argument, or put the layer in a Stack"
            )
        return stack(environ, start_response)


def _overrides(layer: Layer, hook: str) -> bool:
    return getattr(type(layer), hook) is not getattr(Layer, hook)


class _Chain:
    """The precomputed hook tuples of one ordered list of layers."""

    __slots__ = ("changes_body", "layers", "request_hooks", "response_hooks", "short_hooks")

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = tuple(layers)
        requests: list[tuple[int, Callable[[Context], Response | None]]] = []
        for index, layer in enumerate(self.layers):
            if _overrides(layer, "on_request"):
                requests.append((index, layer.on_request))
        self.request_hooks = tuple(requests)
        self.response_hooks = tuple(
            layer.on_response for layer in reversed(self.layers) if _overrides(layer, "on_response")
        )
        # For a short-circuit at layer k: the response hooks of layers k..0.
        self.short_hooks = tuple(
            tuple(
                layer.on_response
                for layer in reversed(self.layers[: index + 1])
                if _overrides(layer, "on_response")
            )
            for index in range(len(self.layers))
        )
        self.changes_body = any(layer.changes_body for layer in self.layers)


def _flatten(layers: Iterable[Layer | Stack]) -> list[Layer]:
    flat: list[Layer] = []
    for item in layers:
        if isinstance(item, Stack):
            if item.routes:
                raise TypeError(
                    "Stack: a stack with per-route rules cannot be flattened into a layer "
                    "list (its routes would be lost); wrap it instead: Stack(layers, routed)"
                )
            flat.extend(item.layers)
        elif isinstance(item, Layer):
            flat.append(item)
        else:
            raise TypeError(
                f"Stack: {item!r} is not a headerware layer; build layers without an app, "
                "e.g. Stack([SecurityHeaders(), CORS(...)], app)"
            )
    return flat


class Stack:
    """Ordered layers run as one WSGI callable: one pass, one ``start_response``."""

    app: WSGIApplication | None
    layers: tuple[Layer, ...]

    def __init__(
        self,
        layers: Sequence[Layer | Stack],
        app: WSGIApplication | None = None,
        *,
        routes: Sequence[tuple[str, Sequence[Layer | Stack]]] | None = None,
    ) -> None:
        flat = _flatten(layers)
        # Per-route variants (see headerware.routes): the full layer list per pattern.
        variants = [(pattern, _flatten(variant)) for pattern, variant in routes or ()]
        # Wrapping another headerware stack merges it instead of nesting a second pass.
        while isinstance(app, (Layer, Stack)):
            inner = app
            if isinstance(inner, Stack):
                if inner.routes:
                    if variants:
                        break  # two routed stacks: nest rather than merge route tables
                    variants = [(pattern, [*flat, *variant]) for pattern, variant in inner.routes]
                else:
                    for _, variant in variants:
                        variant.extend(inner.layers)
                flat.extend(inner.layers)
                app = inner.app
            else:
                flat.append(inner)
                for _, variant in variants:
                    variant.append(inner)
                app = inner.app
        for layer in [*flat, *(layer for _, variant in variants for layer in variant)]:
            if (
                layer.app is not None
                and layer.app is not app
                and not isinstance(layer.app, (Layer, Stack))
            ):
                raise ValueError(
                    f"Stack: layer {type(layer).__name__} already wraps an application; "
                    "create layers without an app when stacking them"
                )
        self.layers = tuple(flat)
        self.app = app
        self._chain = _Chain(self.layers)
        self.routes: tuple[tuple[str, tuple[Layer, ...]], ...] = tuple(
            (pattern, tuple(variant)) for pattern, variant in variants
        )
        self._router: PathRouter[_Chain] | None = None
        if variants:
            from .routes import PathRouter

            self._router = PathRouter([(p, _Chain(v)) for p, v in self.routes])

    def describe(self) -> list[dict[str, Any]]:
        """Each layer in order with its effective options."""
        return [{"layer": layer.name, "options": layer.describe()} for layer in self.layers]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.app is None:
            raise TypeError("Stack was created without an application; pass Stack(layers, app)")
        app = self.app
        router = self._router
        chain = self._chain if router is None else (router.match_environ(environ) or self._chain)
        ctx = Context(environ)
        environ["headerware.context"] = ctx
        for index, hook in chain.request_hooks:
            try:
                early = hook(ctx)
            except Exception:
                layer = chain.layers[index]
                logger.exception("headerware layer %s failed on the request", layer.name)
                early = Response.text("500 Internal Server Error", "Internal Server Error")
                hooks = chain.short_hooks[index - 1] if index else ()
                return _answer(ctx, early, hooks, start_response)
            if early is not None:
                return _answer(ctx, early, chain.short_hooks[index], start_response)

        response_hooks = chain.response_hooks
        if not chain.changes_body:
            if not response_hooks:
                # Nothing to do on the way out: the server's own start_response.
                return app(environ, start_response)
            return app(environ, _header_responder(ctx, response_hooks, start_response))
        responder = _Responder(ctx, response_hooks, start_response)
        body = app(environ, responder)
        if not responder.called:
            return _Body(ctx, responder, body)
        if ctx._buffer_layers is not None and responder.status is not None:
            if type(body) is list or type(body) is tuple:
                # A body already in memory: the held-back layers see it whole.
                try:
                    chunks = list(body)
                finally:
                    _close(body)
                out, _ = responder.release(chunks)
                return [] if ctx.drop_body else out
            head, _ = responder.release(None)
            if head or ctx.drop_body:
                return _Body(ctx, responder, body, head)
            return body
        if ctx.drop_body:
            return _Body(ctx, responder, body)
        return body


def _run_response_hooks(
    ctx: Context,
    hooks: tuple[Callable[[Context, str, HeaderList], str | None], ...],
    status: str,
    headers: HeaderList,
) -> str:
    for hook in hooks:
        new_status = hook(ctx, status, headers)
        if new_status is not None:
            status = new_status
    ctx.status = status
    return status


def _answer(
    ctx: Context,
    response: Response,
    hooks: tuple[Callable[[Context, str, HeaderList], str | None], ...],
    start_response: StartResponse,
) -> list[bytes]:
    headers = list(response.headers)
    status = _run_response_hooks(ctx, hooks, response.status, headers)
    start_response(status, headers)
    if ctx.drop_body or ctx.environ.get("REQUEST_METHOD") == "HEAD":
        return []
    return [response.body] if response.body else []


def _header_responder(
    ctx: Context,
    hooks: tuple[Callable[[Context, str, HeaderList], str | None], ...],
    parent: StartResponse,
) -> StartResponse:
    """The one intercepting ``start_response`` when no layer can change the body.

    A closure rather than a :class:`_Responder`: it is every request's hot path, and
    nothing is held back, so no state has to be read from outside.
    """
    called = False

    def start_response(
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        nonlocal called
        if called and not exc_info:
            raise AssertionError("start_response called a second time without exc_info")
        called = True
        headers = list(headers)
        for hook in hooks:
            new_status = hook(ctx, status, headers)
            if new_status is not None:
                status = new_status
        ctx.status = status
        return parent(status, headers, exc_info)

    return start_response


class _Responder:
    """The one intercepting ``start_response`` of a request."""

    __slots__ = ("buffered", "called", "ctx", "exc_info", "headers", "hooks", "parent", "status")

    def __init__(
        self,
        ctx: Context,
        hooks: tuple[Callable[[Context, str, HeaderList], str | None], ...],
        parent: StartResponse,
    ) -> None:
        self.ctx = ctx
        self.hooks = hooks
        self.parent = parent
        self.called = False
        self.status: str | None = None
        self.headers: HeaderList | None = None
        self.exc_info: OptExcInfo | None = None
        self.buffered: list[bytes] | None = None

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if self.called and not exc_info:
            raise AssertionError("start_response called a second time without exc_info")
        self.called = True
        headers = list(headers)
        ctx = self.ctx
        if exc_info:
            # A fresh error response: body-level decisions of the first call are void.
            ctx._buffer_layers = None
            ctx.drop_body = False
        status = _run_response_hooks(ctx, self.hooks, status, headers)
        if ctx._buffer_layers is not None:
            self.status, self.headers, self.exc_info = status, headers, exc_info
            if exc_info and self.buffered is not None:
                self.buffered.clear()
            self.buffered = self.buffered if self.buffered is not None else []
            return self._write_held
        return self.parent(status, headers, exc_info)

    def _write_held(self, data: bytes) -> None:
        assert self.buffered is not None
        self.buffered.append(data)

    def release(self, chunks: list[bytes] | None) -> tuple[list[bytes], Callable[[bytes], object]]:
        """Send the held-back start of the response; return the chunks to emit first."""
        ctx = self.ctx
        status, headers = self.status, self.headers
        assert status is not None and headers is not None
        held = self.buffered or []
        self.buffered = None
        layers = ctx._buffer_layers or []
        ctx._buffer_layers = None
        if chunks is not None:
            chunks = held + chunks
            for layer in layers:
                status, headers, chunks = layer.on_body(ctx, status, headers, chunks)
            ctx.status = status
        else:
            chunks = held
        write = self.parent(status, headers, self.exc_info)
        return chunks, write


class _Body:
    """Wraps the application's iterable when a layer may change the body.

    Used only when it must be: for generator apps (``start_response`` not yet
    called when the iterable is returned), for a dropped body (304, HEAD), or when
    data written through ``write()`` was held back. ``close()`` always reaches the
    inner iterable: on normal end, on error and on early abandon.
    """

    __slots__ = ("_closed", "_ctx", "_head", "_inner", "_responder")

    def __init__(
        self,
        ctx: Context,
        responder: _Responder,
        inner: Iterable[bytes],
        head: list[bytes] | None = None,
    ) -> None:
        self._ctx = ctx
        self._responder = responder
        self._inner = inner
        self._head = head
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._generate()

    def _generate(self) -> Iterator[bytes]:
        ctx = self._ctx
        responder = self._responder
        iterator = iter(self._inner)
        first: list[bytes] = []
        if not responder.called:
            # Generator apps call start_response on their first iteration.
            for chunk in iterator:
                first.append(chunk)
                break
        if ctx._buffer_layers is not None and responder.status is not None:
            # Streamed bodies are never held back: send the start unchanged.
            head, _ = responder.release(None)
            first = head + first
        elif self._head:
            first = self._head + first
        if ctx.drop_body:
            return
        yield from first
        yield from iterator

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def current_context(environ: WSGIEnvironment) -> Context | None:
    """The headerware context of the request behind ``environ``, if any."""
    ctx = environ.get("headerware.context")
    return ctx if isinstance(ctx, Context) else None
