"""The layer contract of tests/contract.py, re-stated for ASGI 3.

Every layer test module has a :class:`tests.contract.LayerContract` subclass (its
``make_layer()``, ``environ_extra()`` and, for a few, ``wrap()``). :func:`asgi_contract`
turns such a class into an ASGI one: the same layers, built by the same code, in an
:class:`~headerware.asgi.ASGIStack`, with every test of :class:`ASGIContract` (and
none of the WSGI ones, which the layer's own module runs). tests/test_asgi.py does
this for every contract class it finds, so a new layer's contract is re-run under
ASGI without anyone listing it.

The helpers (:func:`make_scope`, :func:`run`, :class:`Result`, the small ASGI apps)
are shared by tests/test_asgi.py, tests/test_attacks.py and tests/test_properties.py.
:func:`check_messages` is the ASGI counterpart of ``wsgiref.validate``: every
response the helpers collect goes through it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.testing import ApplicationCommunicator

from headerware import Layer, ResponseHead, Stack
from headerware.asgi import ASGIStack
from tests.contract import LayerContract, Recorder, consume, make_environ
from tests.contract import text_app as wsgi_text_app

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[str, str]]

_CONTROL = {chr(c) for c in range(0x20) if c != 0x09} | {"\x7f"}


def make_scope(
    *,
    method: str = "GET",
    path: str = "/",
    query_string: bytes = b"",
    root_path: str = "",
    scheme: str = "http",
    headers: Iterable[tuple[str, str]] = (),
    host: str | None = "localhost",
    server: tuple[str, int | None] | None = ("localhost", 80),
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    kind: str = "http",
) -> Scope:
    """An ASGI ``http`` scope as a server builds it (header names lower-cased)."""
    raw: list[tuple[bytes, bytes]] = []
    if host is not None:
        raw.append((b"host", host.encode("latin-1")))
    raw.extend((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers)
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": root_path + path if root_path and not path.startswith(root_path) else path,
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": query_string,
        "root_path": root_path,
        "headers": raw,
        "client": client,
        "server": server,
    }


def scope_from_environ(environ: Mapping[str, Any]) -> Scope:
    """The ASGI scope of the request a (partial) WSGI environ describes.

    ``HTTP_*`` / ``CONTENT_*`` keys become headers, ``wsgi.url_scheme``,
    ``SERVER_PORT``, ``REQUEST_METHOD``, ``PATH_INFO``, ``SCRIPT_NAME`` and
    ``QUERY_STRING`` their scope keys; anything else (``wsgi.*``) has no ASGI twin.
    """
    headers: list[tuple[str, str]] = []
    host = "localhost"
    for key, value in environ.items():
        if key == "HTTP_HOST":
            host = value
        elif key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").lower(), value))
    scheme = environ.get("wsgi.url_scheme", "http")
    port = int(environ.get("SERVER_PORT") or (443 if scheme == "https" else 80))
    root = environ.get("SCRIPT_NAME", "")
    return make_scope(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=root + environ.get("PATH_INFO", "/"),
        root_path=root,
        query_string=environ.get("QUERY_STRING", "").encode("latin-1"),
        scheme=scheme,
        headers=headers,
        host=host,
        server=(environ.get("SERVER_NAME", "localhost"), port),
    )


class Result:
    """The messages an ASGI application sent for one request, checked and decoded."""

    def __init__(self, messages: list[Message]) -> None:
        check_messages(messages)
        self.messages = messages
        start = messages[0]
        self.status: int = start["status"]
        self.headers: Headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]
        ]
        self.body = b"".join(m.get("body", b"") for m in messages[1:])

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None

    @property
    def names(self) -> list[str]:
        """The header names, sorted (repeated names repeated)."""
        return sorted(name for name, _ in self.headers)


def check_messages(messages: Sequence[Message]) -> None:
    """What ASGI 3 asks of a response: one start first, with an int status and
    lower-case byte header names and byte values (no CR, LF or other control
    character); body messages of bytes; the last one without ``more_body``."""
    assert messages, "no response sent"
    start, bodies = messages[0], messages[1:]
    assert start["type"] == "http.response.start", start
    assert type(start["status"]) is int and 100 <= start["status"] <= 599
    for pair in start.get("headers", []):
        name, value = pair
        assert type(name) is bytes and type(value) is bytes, pair
        assert name == name.lower(), f"ASGI header names must be lower-case: {name!r}"
        assert name and b":" not in name
        assert not _CONTROL & set(value.decode("latin-1")), pair
        assert name not in (b"connection", b"transfer-encoding", b"keep-alive")
    assert bodies, "no http.response.body message"
    for index, message in enumerate(bodies):
        assert message["type"] == "http.response.body", message
        assert type(message.get("body", b"")) is bytes
        last = index == len(bodies) - 1
        assert bool(message.get("more_body", False)) is not last, "body ends at its last message"


async def call(
    app: Any, scope: Scope, body: bytes | Sequence[Message] = b"", *, check: bool = True
) -> list[Message]:
    """Run ``app`` for one request; every message it sent. ``body`` is the request
    body (one message) or the request messages; once they are used up, ``receive``
    waits for the response to end and then reports ``http.disconnect``."""
    incoming: list[Message] = (
        [{"type": "http.request", "body": body, "more_body": False}]
        if isinstance(body, bytes)
        else list(body)
    )
    sent: list[Message] = []
    done = asyncio.Event()

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(dict(message))
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await app(scope, receive, send)
    return sent


def run(app: Any, scope: Scope, body: bytes | Sequence[Message] = b"") -> Result:
    """One request through ``app`` (synchronously, for sync tests): the checked result."""
    return Result(asyncio.run(call(app, scope, body)))


class Communicator:
    """asgiref's ApplicationCommunicator (exact message-level control), typed."""

    def __init__(self, app: Any, scope: Scope) -> None:
        self._inner = ApplicationCommunicator(app, scope)  # type: ignore[no-untyped-call]

    async def send(self, message: Message) -> None:
        await self._inner.send_input(message)  # type: ignore[no-untyped-call]

    async def receive(self, timeout: float = 2) -> Message:
        message: Message = await self._inner.receive_output(timeout)  # type: ignore[no-untyped-call]
        return message

    async def wait(self, timeout: float = 2) -> None:
        await self._inner.wait(timeout)  # type: ignore[no-untyped-call]


# -- small ASGI applications --------------------------------------------------------


def text_app(
    body: bytes = b"hello", status: int = 200, extra: Sequence[tuple[str, str]] = ()
) -> ASGIApp:
    """The ASGI twin of tests.contract.text_app: one complete body message."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in extra),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


def failing_app(after_start: bool = False) -> ASGIApp:
    """Raises ``KeyError("app bug")``, before or after starting (and streaming) a response."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if after_start:
            start = {"type": "http.response.start", "status": 200, "headers": []}
            await send(start)
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise KeyError("app bug")

    return app


class Marker(Layer):
    """Adds ``X-Marker: 1`` to every response (the "other layers" of a stack)."""

    name = "marker"

    def on_response(self, ctx: Any, response: ResponseHead) -> None:
        response.add("X-Marker", "1")


def _wsgi_result(stack: Stack, environ: dict[str, Any]) -> tuple[int, list[str], bytes]:
    recorder = Recorder()
    body = consume(stack(environ, recorder))
    names = sorted(name.lower() for name, _ in recorder.headers)
    return int(recorder.status.split()[0]), names, body


# -- the contract -------------------------------------------------------------------


class ASGIContract:
    """The ASGI contract of one layer contract class (see :func:`asgi_contract`).

    It reads the layer from the contract class it is mixed into: ``make_layer()``,
    ``environ_extra()`` and ``wrap(app)``, whose WSGI :class:`Stack` (built with no
    app) gives the layers and routes of the :class:`ASGIStack`.
    """

    if TYPE_CHECKING:  # provided by the LayerContract subclass this is mixed into

        def make_layer(self) -> Layer: ...
        def environ_extra(self) -> dict[str, Any]: ...
        def wrap(self, app: Any) -> Any: ...

    # -- helpers ----------------------------------------------------------------

    def asgi_wrap(self, app: Any, outer: Sequence[Layer] = (), inner: Sequence[Layer] = ()) -> Any:
        stack: Stack = self.wrap(None)
        layers = [*outer, *stack.layers, *inner]
        routes = [(pattern, [*outer, *variant, *inner]) for pattern, variant in stack.routes]
        return ASGIStack(layers, app, routes=routes or None)

    def wsgi_environ(self, **extra: Any) -> dict[str, Any]:
        merged = dict(self.environ_extra())
        merged.update(extra)
        return make_environ(**merged)

    def asgi_scope(self, **extra: Any) -> Scope:
        """The contract's request (``environ_extra``, then ``extra``) as a scope."""
        merged = dict(self.environ_extra())
        merged.update(extra)
        return scope_from_environ(merged)

    def asgi_call(self, app: Any, body: bytes | Sequence[Message] = b"", **extra: Any) -> Result:
        return run(self.asgi_wrap(app), self.asgi_scope(**extra), body)

    # -- the contract -----------------------------------------------------------

    def test_asgi_standalone(self) -> None:
        result = self.asgi_call(text_app())
        assert result.status == 200
        assert result.body == b"hello"

    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_asgi_decides_what_wsgi_decides(self, method: str) -> None:
        """Same request, same layers: the same status, header names and body."""
        wsgi = _wsgi_result(self.wrap(wsgi_text_app()), self.wsgi_environ(REQUEST_METHOD=method))
        result = self.asgi_call(text_app(), REQUEST_METHOD=method)
        assert (result.status, result.names) == wsgi[:2]
        if method == "GET":
            assert result.body == wsgi[2] == b"hello"

    def test_asgi_streams_without_buffering(self) -> None:
        """Message 2 is produced only after the client received message 1."""
        release = asyncio.Event()
        produced: list[int] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            start = {"type": "http.response.start", "status": 200, "headers": []}
            await send({**start, "headers": [(b"content-type", b"text/plain")]})
            produced.append(0)
            await send({"type": "http.response.body", "body": b"chunk0", "more_body": True})
            await release.wait()
            produced.append(1)
            await send({"type": "http.response.body", "body": b"chunk1", "more_body": False})

        async def scenario() -> list[Message]:
            stack = self.asgi_wrap(app)
            communicator = Communicator(stack, self.asgi_scope())
            await communicator.send({"type": "http.request", "body": b""})
            start = await communicator.receive()
            first = await communicator.receive()
            assert first["body"] == b"chunk0" and first["more_body"]
            assert produced == [0], "the stack read ahead of the client"
            release.set()
            last = await communicator.receive()
            await communicator.wait()
            return [start, first, last]

        messages = asyncio.run(scenario())
        result = Result(messages)
        assert result.status == 200
        assert result.body == b"chunk0chunk1"

    def test_asgi_held_body_equals_one_message_body(self) -> None:
        """A body in two messages where the last is empty is a stream: sent as it came."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            headers = [(b"content-type", b"text/html; charset=utf-8")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"hello", "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        result = self.asgi_call(app)
        assert result.status == 200 and result.body == b"hello"
        assert [m.get("body") for m in result.messages[1:]] == [b"hello", b""]

    def test_asgi_request_body_and_disconnect_reach_the_app(self) -> None:
        seen: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            while True:
                message = await receive()
                seen.append(message)
                if not message.get("more_body", False):
                    break
            await text_app()(scope, receive, send)
            seen.append(await receive())

        body = [
            {"type": "http.request", "body": b"a=1", "more_body": True},
            {"type": "http.request", "body": b"&b=2", "more_body": False},
        ]
        result = self.asgi_call(app, body)
        assert result.status == 200
        assert [m.get("body") for m in seen[:2]] == [b"a=1", b"&b=2"]
        assert seen[-1] == {"type": "http.disconnect"}

    @pytest.mark.parametrize("status", [204, 304])
    def test_asgi_bodyless_status(self, status: int) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        result = self.asgi_call(app)
        assert result.status == status
        assert result.body == b""
        assert not result.header_values("content-length")

    def test_asgi_several_set_cookie_headers_survive(self) -> None:
        cookies = [("set-cookie", f"c{index}=v{index}; Path=/") for index in range(3)]
        result = self.asgi_call(text_app(extra=cookies))
        names = [value.split("=", 1)[0] for value in result.header_values("set-cookie")]
        assert [n for n in names if n.startswith("c")] == ["c0", "c1", "c2"]

    def test_asgi_app_messages_not_mutated(self) -> None:
        headers = [(b"content-type", b"text/plain"), (b"x-app", b"1")]
        start = {"type": "http.response.start", "status": 200, "headers": headers}
        snapshot = (dict(start), list(headers))

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send(start)
            await send({"type": "http.response.body", "body": b"x"})

        result = self.asgi_call(app)
        assert (start, headers) == snapshot
        assert result.header_values("x-app") == ["1"]

    def test_asgi_interleaved_requests_share_nothing(self) -> None:
        gate = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] == "/a":
                await gate.wait()  # /a starts its response only after /b finished
            else:
                gate.set()
            await text_app(scope["path"].encode())(scope, receive, send)

        async def both() -> list[list[Message]]:
            stack = self.asgi_wrap(app)
            a = call(stack, self.asgi_scope(PATH_INFO="/a"))
            b = call(stack, self.asgi_scope(PATH_INFO="/b"))
            return list(await asyncio.gather(a, b))

        first, second = (Result(messages) for messages in asyncio.run(both()))
        assert (first.status, first.body) == (200, b"/a")
        assert (second.status, second.body) == (200, b"/b")

    def test_asgi_inside_a_larger_stack(self) -> None:
        stack = self.asgi_wrap(text_app(), outer=[Marker()], inner=[Marker()])
        result = run(stack, self.asgi_scope())
        assert result.body == b"hello"
        assert result.header_values("x-marker") == ["1", "1"]

    def test_asgi_app_failing_before_start_is_a_logged_500_with_other_headers(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        stack = self.asgi_wrap(failing_app(), outer=[Marker()])
        with caplog.at_level(logging.ERROR, logger="headerware"):
            result = run(stack, self.asgi_scope())
        assert result.status == 500
        assert result.body == b"Internal Server Error"
        assert result.header_values("x-marker") == ["1"]
        assert "application raised" in caplog.text and "app bug" in caplog.text

    def test_asgi_app_failing_after_start_reraises(self) -> None:
        stack = self.asgi_wrap(failing_app(after_start=True), outer=[Marker()])
        with pytest.raises(KeyError, match="app bug"):
            asyncio.run(call(stack, self.asgi_scope()))

    def test_asgi_lifespan_passes_through(self) -> None:
        seen: list[Message] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            assert scope["type"] == "lifespan"
            while True:
                message = await receive()
                seen.append(message)
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return

        async def scenario() -> list[Message]:
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
            communicator = Communicator(self.asgi_wrap(app), scope)
            await communicator.send({"type": "lifespan.startup"})
            started = await communicator.receive()
            await communicator.send({"type": "lifespan.shutdown"})
            stopped = await communicator.receive()
            await communicator.wait()
            return [started, stopped]

        assert asyncio.run(scenario()) == [
            {"type": "lifespan.startup.complete"},
            {"type": "lifespan.shutdown.complete"},
        ]
        assert [m["type"] for m in seen] == ["lifespan.startup", "lifespan.shutdown"]


def asgi_contract(source: type[LayerContract]) -> type:
    """The ASGI contract class of ``source``: its layer, the tests of :class:`ASGIContract`.

    ``source``'s own tests (LayerContract's WSGI ones, and any it adds) are left to
    its module; its fixtures (a database, a cookie) still run.
    """
    blanked = {
        name: None
        for name in dir(source)
        if name.startswith("test_") and not hasattr(ASGIContract, name)
    }
    name = f"TestASGI{source.__name__.removeprefix('Test')}_{source.__module__.rsplit('.', 1)[-1]}"
    return type(name, (ASGIContract, source), blanked)
