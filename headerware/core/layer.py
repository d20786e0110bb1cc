"""The public layer protocol: :class:`Layer`, :class:`Response` and :class:`ResponseHead`.

A layer is an object with options validated and precomputed in ``__init__`` and up
to two hooks; every built-in layer uses exactly this protocol and nothing else.

``on_request(ctx) -> Response | None``
    Runs before the application, in stack order. It reads the request through the
    :class:`~headerware.core.context.Context` and may change what the application
    sees (``ctx.set_header``, ``ctx.publish``), or return a :class:`Response` to
    answer without calling the application (a 401, a CORS preflight, a redirect).
``on_response(ctx, response) -> None``
    Runs in reverse stack order once the status and headers are known (the
    application's, or an early :class:`Response`'s). ``response`` is a
    :class:`ResponseHead`: the status, the header list with ``get`` / ``has`` /
    ``set`` / ``add`` / ``setdefault`` / ``remove`` / ``merge_vary``, and the body
    controls ``hold_body`` / ``replace_body`` / ``drop_body``.

A hook that raises is isolated by the engine: the client gets a logged 500 that
still carries the other layers' headers. The engine calls only the hooks a layer
overrides; a layer whose options leave a hook with nothing to do says so in
``__init__`` (``self.handles_request = False``) and the engine never calls it.

Under ASGI (:mod:`headerware.asgi`) the same hooks run, synchronously, on the event
loop: they must not block. A layer that does I/O (a session store, a request body)
also overrides ``on_request_async`` / ``on_response_async``, which the ASGI adapter
awaits instead; a layer that checks WebSocket handshakes overrides
``on_websocket(ctx) -> Response | None`` (a refusal closes the socket before accept).

A layer is also ordinary middleware: ``Layer(app, ...)`` wraps ``app`` in a
one-layer :class:`~headerware.stack.Stack`.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from .._headers import HeaderList, content_kind, merge_vary
from ..options import OptionError

if TYPE_CHECKING:
    from .context import Context

__all__ = ["BodyHook", "HeaderBlock", "Layer", "Response", "ResponseHead"]


class Response:
    """A complete response decided by a layer instead of calling the application."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: str, headers: HeaderList | None = None, body: bytes = b"") -> None:
        self.status = status
        self.headers: HeaderList = list(headers) if headers else []
        self.body = body

    @classmethod
    def _with(
        cls, status: str, content_type: str, body: bytes, headers: HeaderList | None
    ) -> Response:
        base = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        return cls(status, base + (headers or []), body)

    @classmethod
    def text(cls, status: str, message: str, headers: HeaderList | None = None) -> Response:
        """A ``text/plain`` response with ``message`` as its body."""
        return cls._with(status, "text/plain; charset=utf-8", message.encode("utf-8"), headers)

    @classmethod
    def json(cls, status: str, data: Any, headers: HeaderList | None = None) -> Response:
        """An ``application/json`` response with ``data`` serialised as its body."""
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return cls._with(status, "application/json", body, headers)

    @classmethod
    def html(cls, status: str, markup: str, headers: HeaderList | None = None) -> Response:
        """A ``text/html`` response with ``markup`` as its body."""
        return cls._with(status, "text/html; charset=utf-8", markup.encode("utf-8"), headers)

    @classmethod
    def empty(cls, status: str, headers: HeaderList | None = None) -> Response:
        """A response without a body (204, 304, a redirect)."""
        return cls(status, headers, b"")


#: Called with the complete body (a list of byte strings) of a held response.
BodyHook = Callable[["ResponseHead", list[bytes]], None]


class HeaderBlock:
    """Response headers fixed at construction (a layer's precomputed set), with their
    lower-case names, for :meth:`ResponseHead.set_many` / :meth:`~ResponseHead.setdefault_many`."""

    __slots__ = ("items", "lowered", "names")

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self.items: tuple[tuple[str, str], ...] = tuple(items)
        self.lowered = tuple((name.lower(), (name, value)) for name, value in self.items)
        self.names = frozenset(lower for lower, _ in self.lowered)

    def __bool__(self) -> bool:
        return bool(self.items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"HeaderBlock({list(self.items)!r})"


class ResponseHead:
    """The status and headers of a response on their way out, and its body controls.

    ``headers`` is the response's own list of ``(name, value)`` tuples (a fresh copy
    of the application's); the methods keep it valid: names compare
    case-insensitively, ``Set-Cookie`` and ``Vary`` may repeat, ``merge_vary`` folds
    every ``Vary`` into one token list.
    """

    # Class-level defaults: a response pays only for the controls a layer uses.
    _names: set[str] | None = None
    _kind: str | None = None
    #: ``hold_body`` callbacks, in the order the layers asked.
    body_hooks: list[BodyHook] | None = None
    #: A replacement body set by ``replace_body`` (``None``: the application's).
    body: list[bytes] | None = None
    body_dropped = False

    def __init__(self, status: str, headers: HeaderList) -> None:
        self.status = status
        self.headers = headers

    # --- status --------------------------------------------------------------------

    @property
    def status_code(self) -> int:
        """The status as a number (``0`` when the status line is malformed)."""
        code = self.status[:3]
        return int(code) if code.isdigit() else 0

    # --- headers -------------------------------------------------------------------

    def _lower_names(self) -> set[str]:
        names = self._names
        if names is None:
            names = self._names = {name.lower() for name, _ in self.headers}
        return names

    def has(self, name: str) -> bool:
        """True when a header ``name`` (lower-case) is present."""
        return name in (self._names or self._lower_names())

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (lower-case), or ``default``."""
        if name not in (self._names or self._lower_names()):
            return default
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (lower-case), in order."""
        if name not in (self._names or self._lower_names()):
            return []
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` header, or ``None``."""
        return self.get("content-type")

    @property
    def kind(self) -> str:
        """What the response is: ``"json"``, ``"document"`` (what can use a CSP nonce)
        or ``"other"`` — :func:`headerware._headers.content_kind` of its Content-Type,
        worked out once per response for every layer."""
        kind = self._kind
        if kind is None:
            kind = self._kind = content_kind(self.get("content-type"))
        return kind

    def add(self, name: str, value: str) -> None:
        """Append a header (another one of the same name may exist)."""
        self.headers.append((name, value))
        if self._names is not None:
            self._names.add(name.lower())

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header with one (appended when absent)."""
        lower = name.lower()
        names = self._names or self._lower_names()
        if lower in names:
            self.headers[:] = [item for item in self.headers if item[0].lower() != lower]
        self.headers.append((name, value))
        names.add(lower)
        if lower == "content-type":
            self._kind = None

    def setdefault(self, name: str, value: str) -> bool:
        """Add the header unless one of that name is present; True when added."""
        names = self._names or self._lower_names()
        lower = name.lower()
        if lower in names:
            return False
        self.headers.append((name, value))
        names.add(lower)
        return True

    def set_many(self, block: HeaderBlock) -> None:
        """:meth:`set` every header of a precomputed block (one test in the common case)."""
        names = self._names or self._lower_names()
        if not names.isdisjoint(block.names):
            self.headers[:] = [item for item in self.headers if item[0].lower() not in block.names]
        self.headers.extend(block.items)
        names.update(block.names)

    def add_many(self, block: HeaderBlock) -> None:
        """:meth:`add` every header of a precomputed block."""
        self.headers.extend(block.items)
        (self._names or self._lower_names()).update(block.names)

    def setdefault_many(self, block: HeaderBlock) -> None:
        """:meth:`setdefault` every header of a precomputed block."""
        names = self._names or self._lower_names()
        if names.isdisjoint(block.names):
            self.headers.extend(block.items)
        else:
            self.headers.extend(item for lower, item in block.lowered if lower not in names)
        names.update(block.names)

    def remove(self, name: str) -> bool:
        """Remove every header ``name`` (any case); True when there was one."""
        lower = name.lower()
        names = self._names or self._lower_names()
        if lower not in names:
            return False
        self.headers[:] = [item for item in self.headers if item[0].lower() != lower]
        names.discard(lower)
        if lower == "content-type":
            self._kind = None
        return True

    def remove_if(self, keep: Callable[[str, str], bool]) -> None:
        """Keep only the headers for which ``keep(name, value)`` is true."""
        self.headers[:] = [item for item in self.headers if keep(item[0], item[1])]
        self._names = self._kind = None

    def replace_all(self, headers: HeaderList) -> None:
        """Replace the whole header list (a layer that rewrote many headers at once)."""
        self.headers[:] = headers
        self._names = self._kind = None

    def merge_vary(self, *tokens: str) -> None:
        """Merge ``tokens`` into the one ``Vary`` header (case-insensitive, ``*`` wins)."""
        names = self._names or self._lower_names()
        if "vary" not in names and len(tokens) == 1:
            self.headers.append(("Vary", tokens[0]))  # the common case: nothing to merge
            names.add("vary")
            return
        merge_vary(self.headers, tokens)
        names.add("vary")

    def has_any(self, names: Iterable[str]) -> bool:
        """True when a header of one of ``names`` (lower-case) is present."""
        return not (self._names or self._lower_names()).isdisjoint(names)

    def has_prefix(self, prefix: str) -> bool:
        """True when a header whose name starts with ``prefix`` (lower-case) is present."""
        return any(name.startswith(prefix) for name in self._lower_names())

    # --- body ----------------------------------------------------------------------

    def hold_body(self, hook: BodyHook) -> None:
        """Ask for the complete body: ``hook(response, chunks)`` runs before anything
        is sent, when the application's body is already in memory (a list or tuple).
        A streamed body is never held: it goes out unchanged and the hook never runs.
        In the hook, the head (status, headers) and body may still change."""
        if self.body_hooks is None:
            self.body_hooks = [hook]
        else:
            self.body_hooks.append(hook)

    def replace_body(self, body: bytes | Iterable[bytes]) -> None:
        """Send ``body`` instead of the application's (Content-Length is updated)."""
        chunks = [body] if isinstance(body, bytes) else list(body)
        self.body = chunks
        self.body_dropped = False
        self.set("Content-Length", str(sum(len(chunk) for chunk in chunks)))

    def replace(self, response: Response) -> None:
        """Answer with ``response`` instead: its status, headers and body (a refusal
        decided after the application answered, e.g. a 503 when a save failed).
        Body hooks that inner layers registered are dropped: they asked for the
        application's body, which is no longer sent; outer layers still run."""
        self.status = response.status
        self.replace_all(list(response.headers))
        self.body_hooks = None
        self.replace_body(response.body)

    def drop_body(self) -> None:
        """Send no body at all (a 304, a HEAD): the application's is discarded."""
        self.body_dropped = True
        self.body = None

    def __repr__(self) -> str:
        return f"ResponseHead({self.status!r}, {self.headers!r})"


class Layer:
    """Base class of every headerware layer, built-in or not.

    Subclasses validate and precompute their options in ``__init__`` (calling
    ``super().__init__(app)``), override the hooks they need, and never keep
    per-request state on ``self`` (use ``ctx.state``).
    """

    #: The layer's name in stack listings, configuration files and log records.
    name: ClassVar[str] = "layer"
    #: Builds the one-layer stack that runs a layer as middleware: set by the server
    #: side (:mod:`headerware.stack`) when it is imported, so the core needs no adapter.
    middleware: ClassVar[Callable[[list[Layer], Any], Any] | None] = None

    app: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each layer class a constructor that names a mistyped option.

        ``SecurityHeaders(hsts_maxage=1)`` raises :class:`OptionError` with a
        did-you-mean, the way a configuration file's typo does, instead of Python's
        bare ``TypeError``. Only keywords the signature cannot take are checked."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_checks_options", False):
            return
        parameters = inspect.signature(init).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        known = [name for name in parameters if name not in ("self", "app")]

        @functools.wraps(init)
        def checked_init(self: Layer, *args: Any, **options: Any) -> None:
            for option in options:
                if option not in parameters:
                    close = difflib.get_close_matches(option, known, n=1)
                    raise OptionError(
                        option,
                        options[option],
                        f"{cls.__name__} has no option {option!r}",
                        f"did you mean {close[0]!r}?" if close else f"use one of {known}",
                    )
            init(self, *args, **options)

        checked_init._checks_options = True  # type: ignore[attr-defined]
        cls.__init__ = checked_init  # type: ignore[method-assign]

    def __init__(self, app: Any = None) -> None:
        self.app = app
        self._stack: Any = None
        cls = type(self)
        #: Whether the engine calls ``on_request`` / ``on_response`` for this layer:
        #: true when the class overrides the hook; a layer may turn one off in
        #: ``__init__`` when its options leave it nothing to do.
        self.handles_request = cls.on_request is not Layer.on_request
        self.handles_response = cls.on_response is not Layer.on_response
        #: Whether the ASGI adapter awaits ``on_request_async`` / ``on_response_async``
        #: instead of calling the plain hook (true when the class overrides them).
        self.request_is_async = cls.on_request_async is not Layer.on_request_async
        self.response_is_async = cls.on_response_async is not Layer.on_response_async
        self.handles_websocket = cls.on_websocket is not Layer.on_websocket

    def on_request(self, ctx: Context) -> Response | None:
        """Inspect or change the request; return a :class:`Response` to answer early."""
        return None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        """Inspect or change the response's status, headers and body."""

    async def on_request_async(self, ctx: Context) -> Response | None:
        """``on_request`` under ASGI, for a layer that must await I/O first."""
        return self.on_request(ctx)

    async def on_response_async(self, ctx: Context, response: ResponseHead) -> None:
        """``on_response`` under ASGI, for a layer that must await I/O first."""
        self.on_response(ctx, response)

    def on_websocket(self, ctx: Context) -> Response | None:
        """Check a WebSocket handshake (ASGI only); a :class:`Response` refuses it."""
        return None

    def describe(self) -> dict[str, Any]:
        """The effective options, for ``headerware check-config`` and debugging."""
        return {}

    def __call__(self, *args: Any) -> Any:
        """Run as ordinary middleware around ``self.app`` (a one-layer stack)."""
        stack = self._stack
        if stack is None:
            if self.app is None:
                raise TypeError(
                    f"{type(self).__name__} was created without an application; pass the "
                    "app as the first argument, or put the layer in a Stack"
                )
            if Layer.middleware is None:
                raise TypeError("import headerware (or headerware.stack) to run layers")
            stack = self._stack = Layer.middleware([self], self.app)
        return stack(*args)
