"""The PEP 3333 contract every headerware layer must keep.

A test module for a layer subclasses :class:`LayerContract` and implements
``make_layer()`` (and optionally ``environ_extra`` for the request a layer needs
to be active, e.g. an Origin for CORS). Every test here then runs against that
layer, alone and inside a two-layer stack, itsdangerous-style.
"""

from __future__ import annotations

import io
import sys
import threading
import wsgiref.validate
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import webtest

from headerware import Layer, ResponseHead, Stack

Environ = dict[str, Any]
Headers = list[tuple[str, str]]


def make_environ(**extra: Any) -> Environ:
    environ: Environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update(extra)
    return environ


class Recorder:
    """A start_response that records its calls and the data written through write()."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Headers, Any]] = []
        self.written: list[bytes] = []

    def __call__(
        self, status: str, headers: Headers, exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if self.calls and exc_info is None:
            raise AssertionError("second start_response without exc_info")
        self.calls.append((status, list(headers), exc_info))
        return self.written.append

    @property
    def status(self) -> str:
        return self.calls[-1][0]

    @property
    def headers(self) -> Headers:
        return self.calls[-1][1]

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class ClosingBody:
    """An iterable that records whether close() was called."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("body failed")
            yield chunk

    def close(self) -> None:
        self.closed = True


class FileWrapper:
    """A stand-in for a server's wsgi.file_wrapper."""

    def __init__(self, filelike: Any, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.filelike.read(self.block_size)
            if not data:
                return
            yield data

    def close(self) -> None:
        self.filelike.close()


def text_app(body: bytes = b"hello", status: str = "200 OK", extra: Headers | None = None):  # type: ignore[no-untyped-def]
    def app(environ: Environ, start_response: Any) -> Iterable[bytes]:
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
        start_response(status, headers + (extra or []))
        return [body]

    return app


def consume(result: Iterable[bytes]) -> bytes:
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


class LayerContract:
    """Inherit and implement make_layer(); every test below runs for that layer."""

    def make_layer(self) -> Layer:
        raise NotImplementedError

    def environ_extra(self) -> dict[str, Any]:
        """Extra environ keys that make the layer active (Origin, cookies, ...)."""
        return {}

    # -- helpers --------------------------------------------------------------

    def wrap(self, app: Any) -> Any:
        return Stack([self.make_layer()], app)

    def environ(self, **extra: Any) -> Environ:
        merged = dict(self.environ_extra())
        merged.update(extra)
        return make_environ(**merged)

    def call(self, app: Any, **extra: Any) -> tuple[Recorder, Iterable[bytes]]:
        recorder = Recorder()
        result = self.wrap(app)(self.environ(**extra), recorder)
        return recorder, result

    # -- the contract -----------------------------------------------------------

    def test_standalone_middleware(self) -> None:
        layer_type = type(self.make_layer())
        assert issubclass(layer_type, Layer)
        recorder, result = self.call(text_app())
        assert consume(result) == b"hello"
        assert recorder.status == "200 OK"

    def test_streams_without_buffering(self) -> None:
        produced: list[int] = []

        def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            for index in range(3):
                produced.append(index)
                yield b"chunk%d" % index

        recorder, result = self.call(app)
        iterator = iter(result)
        first = next(iterator)
        assert first == b"chunk0"
        assert produced == [0], "the layer read ahead of the consumer"
        assert recorder.calls, "start_response must be called before the first chunk"
        assert b"".join(iterator) == b"chunk1chunk2"
        consume(result)

    def test_close_on_normal_end(self) -> None:
        body = ClosingBody([b"a", b"b"])

        def app(environ: Environ, start_response: Any) -> ClosingBody:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return body

        _, result = self.call(app)
        assert consume(result) == b"ab"
        assert body.closed

    def test_close_on_error(self) -> None:
        body = ClosingBody([b"a", b"b"], fail_at=1)

        def app(environ: Environ, start_response: Any) -> ClosingBody:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return body

        _, result = self.call(app)
        with pytest.raises(RuntimeError):
            consume(result)
        assert body.closed

    def test_close_on_early_abandon(self) -> None:
        body = ClosingBody([b"a", b"b", b"c"])

        def app(environ: Environ, start_response: Any) -> ClosingBody:
            start_response("200 OK", [("Content-Type", "text/plain")])
            return body

        _, result = self.call(app)
        iterator = iter(result)
        next(iterator)
        result.close()  # type: ignore[attr-defined]
        assert body.closed

    def test_close_of_generator_app(self) -> None:
        state = {"closed": False}

        def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            try:
                yield b"a"
                yield b"b"
            finally:
                state["closed"] = True

        _, result = self.call(app)
        iterator = iter(result)
        assert next(iterator) == b"a"
        result.close()  # type: ignore[attr-defined]
        assert state["closed"]

    def test_write_callable_is_the_servers(self) -> None:
        def app(environ: Environ, start_response: Any) -> list[bytes]:
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"written")
            return [b"-returned"]

        recorder, result = self.call(app)
        # write() data goes out first, through the server's write or (when a layer
        # held the response back) ahead of the body; never lost, never reordered.
        body = consume(result)
        assert b"".join(recorder.written) + body == b"written-returned"

    def test_exc_info_second_call(self) -> None:
        def app(environ: Environ, start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            try:
                raise ValueError("boom")
            except ValueError:
                start_response(
                    "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
                )
            return [b"error"]

        recorder, result = self.call(app)
        assert consume(result) == b"error"
        assert recorder.status.startswith("500")
        assert recorder.calls[-1][2] is not None
        # The error response gets the layer's headers as the first one did.
        first_names = {k.lower() for k, _ in recorder.calls[0][1]} - {"content-length"}
        last_names = {k.lower() for k, _ in recorder.calls[-1][1]} - {"content-length"}
        assert first_names == last_names

    def test_app_header_list_not_mutated(self) -> None:
        original: Headers = [("Content-Type", "text/plain"), ("X-App", "1")]
        snapshot = list(original)

        def app(environ: Environ, start_response: Any) -> list[bytes]:
            start_response("200 OK", original)
            return [b"x"]

        recorder, result = self.call(app)
        consume(result)
        assert original == snapshot
        assert ("X-App", "1") in recorder.headers

    def test_headers_are_str_pairs_without_control_characters(self) -> None:
        recorder, result = self.call(text_app())
        consume(result)
        assert type(recorder.headers) is list
        for name, value in recorder.headers:
            assert type(name) is str and type(value) is str
            assert "\r" not in value and "\n" not in value
            assert name.lower() not in {"connection", "transfer-encoding", "keep-alive"}

    def test_head_request(self) -> None:
        recorder, result = self.call(text_app(), REQUEST_METHOD="HEAD")
        consume(result)
        assert recorder.status == "200 OK"

    @pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
    def test_bodyless_status(self, status: str) -> None:
        def app(environ: Environ, start_response: Any) -> list[bytes]:
            start_response(status, [])
            return []

        recorder, result = self.call(app)
        assert consume(result) == b""
        assert recorder.status == status
        assert not recorder.header_values("Content-Length")

    def test_several_set_cookie_headers_survive(self) -> None:
        cookies = [("Set-Cookie", f"c{index}=v{index}; Path=/") for index in range(3)]
        recorder, result = self.call(text_app(extra=cookies))
        consume(result)
        set_cookies = recorder.header_values("Set-Cookie")
        names = [value.split("=", 1)[0] for value in set_cookies]
        assert [n for n in names if n.startswith("c")] == ["c0", "c1", "c2"]

    def test_file_wrapper_identity(self, tmp_path: Any) -> None:
        path = tmp_path / "f.bin"
        path.write_bytes(b"x" * 10000)
        returned: list[Any] = []

        def app(environ: Environ, start_response: Any) -> Any:
            start_response(
                "200 OK",
                [("Content-Type", "application/octet-stream"), ("Content-Length", "10000")],
            )
            wrapper = environ["wsgi.file_wrapper"](open(path, "rb"))  # noqa: SIM115
            returned.append(wrapper)
            return wrapper

        _, result = self.call(app, **{"wsgi.file_wrapper": FileWrapper})
        assert result is returned[0]
        assert consume(result) == b"x" * 10000

    def test_interleaved_requests_share_nothing(self) -> None:
        stack = self.wrap(text_app())
        first, second = Recorder(), Recorder()
        result_a = stack(self.environ(PATH_INFO="/a"), first)
        result_b = stack(self.environ(PATH_INFO="/b"), second)
        assert consume(result_b) == b"hello"
        assert consume(result_a) == b"hello"
        assert first.status == second.status == "200 OK"

    def test_threads_share_nothing(self) -> None:
        stack = self.wrap(text_app())
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(50):
                    recorder = Recorder()
                    assert consume(stack(self.environ(), recorder)) == b"hello"
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors

    def test_wsgiref_validate_both_sides(self) -> None:
        inner = wsgiref.validate.validator(text_app())
        outer = wsgiref.validate.validator(self.wrap(inner))
        recorder = Recorder()
        result = outer(self.environ(), recorder)
        assert consume(result) == b"hello"

    def test_wsgiref_validate_generator_app(self) -> None:
        def app(environ: Environ, start_response: Any) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"a"
            yield b"b"

        outer = wsgiref.validate.validator(self.wrap(wsgiref.validate.validator(app)))
        recorder = Recorder()
        assert consume(outer(self.environ(), recorder)) == b"ab"

    def test_webtest_lint(self) -> None:
        app = webtest.TestApp(self.wrap(text_app()), lint=True)
        extra = {k: v for k, v in self.environ_extra().items() if k.startswith("HTTP_")}
        headers = {k[5:].replace("_", "-").title(): v for k, v in extra.items()}
        scheme_https = self.environ_extra().get("wsgi.url_scheme") == "https"
        url = "https://localhost/" if scheme_https else "/"
        response = app.get(url, headers=headers)
        assert response.status_int == 200
        assert response.body == b"hello"

    def test_inside_a_larger_stack(self) -> None:
        class Marker(Layer):
            name = "marker"

            def on_response(self, ctx: Any, response: ResponseHead) -> None:
                response.add("X-Marker", "1")

        stack = Stack([Marker(), self.make_layer(), Marker()], text_app())
        recorder = Recorder()
        assert consume(stack(self.environ(), recorder)) == b"hello"
        assert recorder.header_values("X-Marker") == ["1", "1"]
