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
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar

from werkzeug.datastructures import EnvironHeaders, LanguageAccept, MIMEAccept
from werkzeug.http import parse_accept_header

from ._headers import HeaderList
from ._log import logger
from .cookies_parse import parse_request_cookies

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .cookies_parse import RequestCookies

__all__ = ["CONTEXT_KEY", "Context", "Layer", "Response", "Stack", "current_context"]

#: The environ key of the request's :class:`Context`, set when a layer of the stack
#: has ``context_in_environ`` (negotiation's helpers reuse its parsed headers).
CONTEXT_KEY = "headerware.context"


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


def parse_mime_accept(value: str | None) -> MIMEAccept:
    """An ``Accept`` header parsed by werkzeug, shared between requests (cached)."""
    return _parse_accept(value, MIMEAccept, _MIME_CACHE)


def parse_language_accept(value: str | None) -> LanguageAccept:
    """An ``Accept-Language`` header parsed by werkzeug, shared between requests (cached)."""
    return _parse_accept(value, LanguageAccept, _LANGUAGE_CACHE)


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
    failed: bool = False
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
    #: Set by layers whose helpers the application calls with only the environ and
    #: that reuse the request's parsed headers through :func:`current_context`.
    context_in_environ: ClassVar[bool] = False

    #: Hooks this instance never needs because its options turn them off (e.g.
    #: SecurityHeaders' ``on_request`` without the HTTPS redirect): the engine does
    #: not call them. Set in ``__init__``; stacks compile on their first request.
    _skip_hooks: frozenset[str] = frozenset()

    #: The shared response scan (private protocol of the built-in layers). A layer
    #: that sets ``_watched`` (lower-case header names, plus ``_watched_prefixes``)
    #: promises: when none of these names is in the response's headers,
    #: ``_on_clean(ctx, headers, content_type)`` does exactly what ``on_response``
    #: would (and returns no status). Adjacent such layers are then served by ONE
    #: scan of the headers in the engine instead of one scan each; ``_adds`` /
    #: ``_adds_prefixes`` name what ``_on_clean`` appends, so that a layer is never
    #: grouped after one that adds a name it watches. ``None``: not offered.
    _watched: frozenset[str] | None = None
    _watched_prefixes: tuple[str, ...] = ()
    _adds: frozenset[str] = frozenset()
    _adds_prefixes: tuple[str, ...] = ()

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

    def _on_clean(self, ctx: Context, headers: HeaderList, content_type: str | None) -> None:
        """``on_response`` for headers holding none of ``_watched`` (see above)."""

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
    return getattr(type(layer), hook) is not getattr(Layer, hook) and hook not in layer._skip_hooks


class _Chain:
    """The precomputed hook tuples of one ordered list of layers."""

    __slots__ = (
        "changes_body",
        "context_in_environ",
        "layers",
        "request_hooks",
        "response_groups",
        "response_hooks",
        "response_layers",
        "short_hooks",
    )

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
        self.changes_body = any(
            layer.changes_body and "on_body" not in layer._skip_hooks for layer in self.layers
        )
        self.response_layers = tuple(
            layer for layer in reversed(self.layers) if _overrides(layer, "on_response")
        )
        self.response_groups = _groups(self.response_layers)
        self.context_in_environ = any(layer.context_in_environ for layer in self.layers)


#: In a scan's table, bit 0 marks Content-Type and bit ``i + 1`` a name watched by
#: the group's ``i``-th layer.
_CONTENT_TYPE_BIT = 1
_SCAN_CACHE_SIZE = 1024


def _groupable(layer: Layer) -> bool:
    # A layer watching Content-Type could change it in its hook under a later
    # layer's clean path, which reads the value the scan saw.
    return layer._watched is not None and "content-type" not in layer._watched


def _clashes(earlier: Layer, later: Layer) -> bool:
    """True when ``earlier`` may append a header name that ``later`` watches."""
    watched = later._watched or frozenset()
    prefixes = later._watched_prefixes
    if earlier._adds & watched or "content-type" in earlier._adds:
        return True
    if any(name.startswith(prefixes) for name in earlier._adds):
        return True
    for prefix in earlier._adds_prefixes:
        if any(name.startswith(prefix) for name in watched):
            return True
        if any(p.startswith(prefix) or prefix.startswith(p) for p in prefixes):
            return True
    return False


class _Scan:
    """One shared scan of the response headers for a group of layers: header
    spelling -> bits (bit 0: Content-Type; bit ``i + 1``: watched by layer ``i``)."""

    __slots__ = ("kinds", "layers", "preset")

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = tuple(layers)
        preset: dict[str, int] = {}
        for name in ("content-type", "Content-Type", "content-length", "Content-Length"):
            preset[name] = self._bits(name.lower())
        for layer in layers:
            for name in layer._watched or ():
                preset[name] = self._bits(name)
                title = "-".join(part.capitalize() for part in name.split("-"))
                preset[title] = self._bits(name)
        self.preset = preset
        self.kinds = dict(preset)

    def _bits(self, lower: str) -> int:
        bits = _CONTENT_TYPE_BIT if lower == "content-type" else 0
        for index, layer in enumerate(self.layers):
            watched = layer._watched or frozenset()
            prefixes = layer._watched_prefixes
            if lower in watched or (prefixes and lower.startswith(prefixes)):
                bits |= 2 << index
        return bits

    def classify(self, name: str) -> int:
        """The bits of a spelling not seen yet (remembered, bounded)."""
        bits = self._bits(name.lower())
        if len(name) <= 64:
            if len(self.kinds) >= _SCAN_CACHE_SIZE:
                self.kinds = dict(self.preset)
            self.kinds[name] = bits
        return bits


def _groups(layers: Sequence[Layer]) -> tuple[tuple[int, int, _Scan | None], ...]:
    """Split the response hooks (in run order) into ``(start, stop, scan)`` runs:
    a run of 2+ adjacent layers offering ``_on_clean`` shares one scan."""
    out: list[tuple[int, int, _Scan | None]] = []
    index = 0
    while index < len(layers):
        stop = index
        while stop < len(layers) and _groupable(layers[stop]):
            if any(_clashes(layers[k], layers[stop]) for k in range(index, stop)):
                break
            stop += 1
        if stop - index >= 2:
            out.append((index, stop, _Scan(layers[index:stop])))
            index = stop
        else:
            out.append((index, index + 1, None))
            index += 1
    return tuple(out)


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
        self.routes: tuple[tuple[str, tuple[Layer, ...]], ...] = tuple(
            (pattern, tuple(variant)) for pattern, variant in variants
        )
        if variants:
            from .routes import PathRouter

            # Validates the patterns now; the runners are compiled on the first request.
            PathRouter([(pattern, None) for pattern, _ in self.routes])
        # A class of its own, whose ``__call__`` becomes the compiled chain on the first
        # request (once every layer finished its ``__init__``): a request through the
        # stack is then one Python frame, not a method forwarding to the runner.
        own = type(type(self).__name__, (type(self),), {"__slots__": (), "_own_class": True})
        own.__module__ = type(self).__module__
        own.__qualname__ = type(self).__qualname__
        self.__class__ = own

    def describe(self) -> list[dict[str, Any]]:
        """Each layer in order with its effective options."""
        return [{"layer": layer.name, "options": layer.describe()} for layer in self.layers]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # The first request only: compile, install on this stack's own class, run.
        run = self._build_runner()
        cls = type(self)
        if cls.__dict__.get("_own_class"):
            setattr(cls, "__call__", run)  # noqa: B010 - a per-instance class
        return run(self, environ, start_response)

    def _build_runner(self) -> _Runner:
        app = self.app
        if app is None:

            def missing_app(
                stack: Stack, environ: WSGIEnvironment, start_response: StartResponse
            ) -> NoReturn:
                raise TypeError("Stack was created without an application; pass Stack(layers, app)")

            return missing_app
        default = _compile(_Chain(self.layers), app)
        if not self.routes:
            return default
        from .routes import PathRouter

        runners = PathRouter([(p, _compile(_Chain(v), app)) for p, v in self.routes])
        match = runners.match_environ

        def routed(
            stack: Stack, environ: WSGIEnvironment, start_response: StartResponse
        ) -> Iterable[bytes]:
            run = match(environ) or default
            return run(stack, environ, start_response)

        return routed


def _run_general(
    chain: _Chain, app: WSGIApplication, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """One request through a chain with a layer that may change the body."""
    ctx = Context(environ)
    if chain.context_in_environ:
        environ[CONTEXT_KEY] = ctx
    for index, hook in chain.request_hooks:
        try:
            early = hook(ctx)
        except Exception:
            return _request_hook_failed(ctx, chain, index, start_response)
        if early is not None:
            return _answer(ctx, early, chain.short_hooks[index], start_response)
    responder = _Responder(ctx, chain, start_response)
    try:
        body = app(environ, responder)
    except Exception:
        if responder.called:
            raise
        return _app_failed(ctx, chain, start_response)
    if ctx.failed:
        _close(body)
        return [_ERROR_BODY]
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


#: A compiled chain: called with the stack, as its class's ``__call__``.
_Runner = Callable[["Stack", "WSGIEnvironment", "StartResponse"], Iterable[bytes]]

_ERROR_STATUS = "500 Internal Server Error"
_ERROR_BODY = b"Internal Server Error"


def _layer_name(hook: Callable[..., Any]) -> str:
    owner = getattr(hook, "__self__", None)
    return str(getattr(owner, "name", owner))


def _guarded_hooks(
    ctx: Context,
    hooks: Sequence[Callable[[Context, str, HeaderList], str | None]],
    status: str,
    headers: HeaderList,
) -> str:
    """Run response hooks on an error response; a hook that fails again is skipped."""
    for hook in hooks:
        try:
            new_status = hook(ctx, status, headers)
        except Exception:
            logger.exception("headerware layer %s failed on an error response", _layer_name(hook))
            continue
        if new_status is not None:
            status = new_status
    ctx.status = status
    return status


def _error_answer(
    ctx: Context,
    hooks: Sequence[Callable[[Context, str, HeaderList], str | None]],
    start_response: StartResponse,
) -> list[bytes]:
    headers: HeaderList = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(_ERROR_BODY))),
    ]
    status = _guarded_hooks(ctx, hooks, _ERROR_STATUS, headers)
    start_response(status, headers, None)
    return [] if ctx.environ.get("REQUEST_METHOD") == "HEAD" else [_ERROR_BODY]


def _request_hook_failed(
    ctx: Context, chain: _Chain, index: int, start_response: StartResponse
) -> list[bytes]:
    """A layer raised on the request: log it, answer 500 through the outer layers."""
    if getattr(sys.exc_info()[1], "propagate", False):
        raise
    logger.exception("headerware layer %s failed on the request", chain.layers[index].name)
    return _error_answer(ctx, chain.short_hooks[index - 1] if index else (), start_response)


def _app_failed(ctx: Context, chain: _Chain, start_response: StartResponse) -> list[bytes]:
    """The application raised before starting its response: a 500 with every layer's headers."""
    if getattr(sys.exc_info()[1], "propagate", False):
        raise
    logger.exception("the application raised before start_response; headerware answers 500")
    return _error_answer(ctx, chain.response_hooks, start_response)


def _response_hook_failed(
    ctx: Context,
    chain: _Chain,
    failed: Callable[..., Any],
    start_response: StartResponse,
    exc_info: OptExcInfo | None,
) -> Callable[[bytes], object]:
    """A response hook raised: log it and start a 500 with the other layers' headers.

    An exception whose class sets ``propagate = True`` (a strict mode meant for
    tests) is re-raised instead.

    The application's body is replaced by the error text when it was returned as an
    iterable after ``start_response`` (the usual case); ``ctx.failed`` tells the runner.
    What the application passes to ``write()`` is discarded for the same reason.
    """
    error = sys.exc_info()[1]
    if getattr(error, "propagate", False):
        raise  # strict modes for tests: the error must reach the caller
    logger.exception("headerware layer %s failed on the response", _layer_name(failed))
    ctx.failed = True
    ctx._buffer_layers = None
    headers: HeaderList = [("Content-Type", "text/plain; charset=utf-8")]
    others = [hook for hook in chain.response_hooks if hook != failed]
    status = _guarded_hooks(ctx, others, _ERROR_STATUS, headers)
    start_response(status, headers, exc_info)
    return _discard


def _discard(data: bytes) -> None:
    """The ``write()`` of a response whose body is not sent (a 500, a 304): nothing."""


def _full_hook(position: int, pad: str) -> list[str]:
    """The generated lines running response hook ``h<position>`` with its guard."""
    return [
        f"{pad}try:",
        f"{pad}    new = h{position}(ctx, status, headers)",
        f"{pad}except Exception:",
        f"{pad}    return _response_hook_failed(ctx, chain, h{position}, start_response, exc_info)",
        f"{pad}if new is not None:",
        f"{pad}    status = new",
    ]


def _compile(chain: _Chain, app: WSGIApplication) -> _Runner:
    """The per-request function of one chain.

    Chains whose layers never change the body get straight-line code generated at
    start-up: the hooks unrolled into one function with one nested
    ``start_response`` (no loops, no attribute lookups per request). Others take
    the general path with the body wrapper.
    """
    if chain.changes_body:

        def general(
            stack: Stack, environ: WSGIEnvironment, start_response: StartResponse
        ) -> Iterable[bytes]:
            return _run_general(chain, app, environ, start_response)

        return general
    namespace: dict[str, Any] = {
        "Context": Context,
        "_new": object.__new__,
        "app": app,
        "chain": chain,
        "_answer": _answer,
        "_close": _close,
        "_ERROR_BODY": _ERROR_BODY,
        "_request_hook_failed": _request_hook_failed,
        "_response_hook_failed": _response_hook_failed,
        "_app_failed": _app_failed,
        "_Guard": _Guard,
    }
    # ``self`` is the stack (the function is its class's ``__call__``). The context is
    # made without a call to ``Context.__init__``: the same two stores, one frame less.
    lines = [
        "def run(self, environ, start_response):",
        "    ctx = _new(Context)",
        "    ctx.environ = environ",
        "    ctx.state = {}",
    ]
    if chain.context_in_environ:
        lines.append(f"    environ[{CONTEXT_KEY!r}] = ctx")
    for position, (index, hook) in enumerate(chain.request_hooks):
        namespace[f"r{position}"] = hook
        namespace[f"s{position}"] = chain.short_hooks[index]
        lines += [
            "    try:",
            f"        early = r{position}(ctx)",
            "    except Exception:",
            f"        return _request_hook_failed(ctx, chain, {index}, start_response)",
            "    if early is not None:",
            f"        return _answer(ctx, early, s{position}, start_response)",
        ]
    if not chain.response_hooks:
        lines.append("    return app(environ, start_response)")
    else:
        lines += [
            "    def sr(status, headers, exc_info=None):",
            "        headers = list(headers)",
        ]
        for position, response_hook in enumerate(chain.response_hooks):
            namespace[f"h{position}"] = response_hook
        for number, (start, stop, scan) in enumerate(chain.response_groups):
            if scan is None:
                lines += _full_hook(start, "        ")
                continue
            # One scan for the group: a layer none of whose names came runs its
            # ``_on_clean`` (when it has one: else nothing), the others their hook.
            namespace[f"g{number}"] = scan
            lines += [
                f"        kinds = g{number}.kinds",
                "        content_type = None",
                "        seen = 0",
                "        for name, value in headers:",
                "            kind = kinds.get(name)",
                "            if kind is None:",
                f"                kind = g{number}.classify(name)",
                "            if kind == 1:",
                "                content_type = value",
                "            elif kind:",
                "                seen |= kind",
            ]
            members = list(enumerate(range(start, stop)))
            clean: list[str] = []  # the common case: no watched name at all
            mixed: list[str] = []
            for member, position in members:
                layer = chain.response_layers[position]
                bit = 2 << member
                if type(layer)._on_clean is Layer._on_clean:
                    mixed.append(f"            if seen & {bit}:")
                    mixed += _full_hook(position, "                ")
                    continue
                namespace[f"c{position}"] = layer._on_clean
                call = [
                    "try:",
                    f"    c{position}(ctx, headers, content_type)",
                    "except Exception:",
                    f"    return _response_hook_failed(ctx, chain, h{position}, "
                    "start_response, exc_info)",
                ]
                clean += ["            " + line for line in call]
                mixed += [
                    f"            if seen & {bit}:",
                    *_full_hook(position, "                "),
                    "            else:",
                    *("                " + line for line in call),
                ]
            lines += ["        if not seen:", *(clean or ["            pass"]), "        else:"]
            lines += mixed
        lines += [
            "        ctx.status = status",
            "        return start_response(status, headers, exc_info)",
            "    try:",
            "        body = app(environ, sr)",
            "    except Exception:",
            "        if ctx.status is not None:",
            "            raise",
            "        return _app_failed(ctx, chain, start_response)",
            "    if ctx.failed:",
            "        _close(body)",
            "        return [_ERROR_BODY]",
            "    if ctx.status is None:",
            "        return _Guard(ctx, body)",
            "    return body",
        ]
    exec(compile("\n".join(lines), "<headerware chain>", "exec"), namespace)
    run: _Runner = namespace["run"]
    return run


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


class _Responder:
    """The one intercepting ``start_response`` of a request."""

    __slots__ = ("buffered", "called", "chain", "ctx", "exc_info", "headers", "parent", "status")

    def __init__(self, ctx: Context, chain: _Chain, parent: StartResponse) -> None:
        self.ctx = ctx
        self.chain = chain
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
        for hook in self.chain.response_hooks:
            try:
                new_status = hook(ctx, status, headers)
            except Exception:
                return _response_hook_failed(ctx, self.chain, hook, self.parent, exc_info)
            if new_status is not None:
                status = new_status
        ctx.status = status
        if ctx._buffer_layers is not None:
            self.status, self.headers, self.exc_info = status, headers, exc_info
            if exc_info and self.buffered is not None:
                self.buffered.clear()
            self.buffered = self.buffered if self.buffered is not None else []
            return self._write_held
        write = self.parent(status, headers, exc_info)
        if ctx.drop_body:
            # 304 / HEAD turned bodiless by a layer: what the app writes goes nowhere.
            return _discard
        return write

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
        if ctx.failed:
            # A response hook failed when start_response was called: a 500 is under
            # way, so the application's body must not follow it.
            yield _ERROR_BODY
            return
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


class _Guard:
    """Wraps a generator app's body on the straight-line path (``start_response`` not
    yet called when the iterable came back): if a response hook fails on the first
    iteration, the 500 gets the error text instead of the application's body."""

    __slots__ = ("_ctx", "_inner")

    def __init__(self, ctx: Context, inner: Iterable[bytes]) -> None:
        self._ctx = ctx
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self._inner)
        for chunk in iterator:
            if self._ctx.failed:
                yield _ERROR_BODY
                return
            yield chunk
            break
        else:
            if self._ctx.failed:
                yield _ERROR_BODY
            return
        yield from iterator

    def close(self) -> None:
        _close(self._inner)


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def current_context(environ: WSGIEnvironment) -> Context | None:
    """The headerware context of the request behind ``environ``, if any.

    Only stacks with a layer that sets ``context_in_environ`` (such as
    :class:`~headerware.layers.negotiation.Negotiation`) publish it: writing the key
    costs every request, so stacks that do not need it skip it.
    """
    ctx = environ.get(CONTEXT_KEY)
    return ctx if isinstance(ctx, Context) else None
