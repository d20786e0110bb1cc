"""The engine: hook order, one pass, short-circuits, held-back bodies, failures."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from headerware import (
    Context,
    HeaderBlock,
    Layer,
    Response,
    ResponseHead,
    Stack,
    current_context,
)
from headerware.wsgi import WSGIContext
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app

Headers = list[tuple[str, str]]


class Tag(Layer):
    """Records the order of its hooks in a shared journal."""

    name = "tag"

    def __init__(self, label: str, journal: list[str], app: Any = None) -> None:
        super().__init__(app)
        self.label = label
        self.journal = journal

    def on_request(self, ctx: Context) -> Response | None:
        self.journal.append(f"req-{self.label}")
        return None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        self.journal.append(f"resp-{self.label}")
        response.add("X-Tag", self.label)


class Deny(Layer):
    name = "deny"

    def on_request(self, ctx: Context) -> Response | None:
        return Response.text("403 Forbidden", "no")


class Explode(Layer):
    name = "explode"

    def on_request(self, ctx: Context) -> Response | None:
        raise RuntimeError("layer bug")


class ETagLike(Layer):
    """Holds the body back and answers 304 when the client has it."""

    name = "etaglike"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        if response.status_code != 200:
            return
        client_has = ctx.header("if-none-match")

        def finish(response: ResponseHead, chunks: list[bytes]) -> None:
            tag = f'"{len(b"".join(chunks))}"'
            response.add("ETag", tag)
            if client_has == tag:
                response.status = "304 Not Modified"
                response.remove("content-length")
                response.drop_body()

        response.hold_body(finish)


class TestEngineOrder:
    def test_request_in_order_response_in_reverse(self) -> None:
        journal: list[str] = []
        stack = Stack([Tag("a", journal), Tag("b", journal)], text_app())
        recorder = Recorder()
        assert consume(stack(make_environ(), recorder)) == b"hello"
        assert journal == ["req-a", "req-b", "resp-b", "resp-a"]
        assert recorder.header_values("X-Tag") == ["b", "a"]

    def test_nested_layers_merge_into_one_stack(self) -> None:
        journal: list[str] = []
        inner = Tag("inner", journal, text_app())
        outer = Tag("outer", journal, inner)
        merged = Stack([], outer)
        assert [layer.label for layer in merged.layers] == ["outer", "inner"]  # type: ignore[attr-defined]
        assert merged.app is inner.app
        consume(outer(make_environ(), Recorder()))
        assert journal == ["req-outer", "req-inner", "resp-inner", "resp-outer"]

    def test_stack_of_stacks_flattens(self) -> None:
        journal: list[str] = []
        inner = Stack([Tag("b", journal)], text_app())
        stack = Stack([Tag("a", journal)], inner)
        assert len(stack.layers) == 2
        consume(stack(make_environ(), Recorder()))
        assert journal == ["req-a", "req-b", "resp-b", "resp-a"]

    def test_short_circuit_runs_outer_response_hooks_only(self) -> None:
        journal: list[str] = []
        called: list[bool] = []

        def app(environ: Any, start_response: Any) -> list[bytes]:
            called.append(True)
            return text_app()(environ, start_response)  # type: ignore[no-any-return]

        stack = Stack([Tag("a", journal), Deny(), Tag("c", journal)], app)
        recorder = Recorder()
        assert consume(stack(make_environ(), recorder)) == b"no"
        assert recorder.status == "403 Forbidden"
        assert journal == ["req-a", "resp-a"]
        assert not called
        assert recorder.header_values("X-Tag") == ["a"]

    def test_short_circuit_head_has_no_body(self) -> None:
        recorder = Recorder()
        result = Stack([Deny()], text_app())(make_environ(REQUEST_METHOD="HEAD"), recorder)
        assert consume(result) == b""
        assert recorder.status == "403 Forbidden"

    def test_failing_layer_gives_logged_500_with_outer_headers(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        journal: list[str] = []
        stack = Stack([Tag("a", journal), Explode()], text_app())
        recorder = Recorder()
        with caplog.at_level(logging.ERROR, logger="headerware"):
            body = consume(stack(make_environ(), recorder))
        assert recorder.status.startswith("500")
        assert body == b"Internal Server Error"
        assert recorder.header_values("X-Tag") == ["a"]
        assert "explode" in caplog.text

    def test_second_start_response_without_exc_info_is_refused(self) -> None:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            start_response("200 OK", [])
            start_response("200 OK", [])
            return []

        with pytest.raises(AssertionError):
            Stack([Tag("a", [])], app)(make_environ(), Recorder())

    def test_context_is_reachable_from_environ(self) -> None:
        seen: list[Any] = []

        def app(environ: Any, start_response: Any) -> list[bytes]:
            seen.append(current_context(environ))
            return text_app()(environ, start_response)  # type: ignore[no-any-return]

        consume(Stack([Tag("a", [])], app)(make_environ(), Recorder()))
        assert isinstance(seen[0], Context)
        assert current_context({}) is None

    def test_layer_without_app_cannot_be_called(self) -> None:
        with pytest.raises(TypeError, match="without an application"):
            Tag("a", [])(make_environ(), Recorder())

    def test_layer_already_wrapping_another_app_refused_in_stack(self) -> None:
        with pytest.raises(ValueError, match="already wraps"):
            Stack([Tag("a", [], text_app())], text_app(b"other"))

    def test_non_layer_refused(self) -> None:
        with pytest.raises(TypeError, match="not a headerware layer"):
            Stack([object()], text_app())  # type: ignore[list-item]


class TestContextParsesOnce:
    def test_lazy_and_cached(self) -> None:
        environ = make_environ(
            HTTP_ACCEPT="application/json;q=0.9, text/html",
            HTTP_ACCEPT_LANGUAGE="es, en;q=0.5",
            HTTP_COOKIE="a=1; b=2",
            HTTP_X_THING="yes",
        )
        ctx = WSGIContext(environ)
        assert ctx.header("x-thing") == "yes"
        assert ctx.header("X-Thing") == "yes"
        assert ("X-Thing", "yes") in ctx.header_items()
        assert ctx.cookies is ctx.cookies
        assert dict(ctx.cookies) == {"a": "1", "b": "2"}
        assert ctx.accept.best == "text/html"
        assert ctx.accept is ctx.accept
        assert ctx.accept_language.best_match(["en", "es"]) == "es"
        assert not ctx.is_secure
        assert WSGIContext(make_environ(**{"wsgi.url_scheme": "https"})).is_secure


class TestHeldBackBody:
    def test_etag_and_304_on_list_body(self) -> None:
        stack = Stack([ETagLike()], text_app())
        recorder = Recorder()
        assert consume(stack(make_environ(), recorder)) == b"hello"
        assert recorder.header_values("ETag") == ['"5"']
        recorder = Recorder()
        body = consume(stack(make_environ(HTTP_IF_NONE_MATCH='"5"'), recorder))
        assert body == b""
        assert recorder.status == "304 Not Modified"
        assert not recorder.header_values("Content-Length")

    def test_streamed_body_is_not_held(self) -> None:
        produced: list[int] = []

        def app(environ: Any, start_response: Any) -> Any:
            start_response("200 OK", [("Content-Type", "text/plain")])
            for index in range(3):
                produced.append(index)
                yield b"x"

        recorder = Recorder()
        result = Stack([ETagLike()], app)(make_environ(), recorder)
        iterator = iter(result)
        assert next(iterator) == b"x"
        assert produced == [0]
        assert not recorder.header_values("ETag")
        consume(result)

    def test_written_data_is_kept_in_order(self) -> None:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            write = start_response("200 OK", [("Content-Type", "text/plain")])
            write(b"ab")
            return [b"cd"]

        recorder = Recorder()
        body = consume(Stack([ETagLike()], app)(make_environ(), recorder))
        assert body == b"abcd"
        assert recorder.header_values("ETag") == ['"4"']
        assert recorder.written == []


class TestNoopLayerContract(LayerContract):
    def make_layer(self) -> Layer:
        return Tag("contract", [])


class TestBodyLayerContract(LayerContract):
    def make_layer(self) -> Layer:
        return ETagLike()


class BrokenResponse(Layer):
    name = "broken"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        raise RuntimeError("response bug")


class StrictError(ValueError):
    propagate = True


class StrictResponse(Layer):
    name = "strict"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        raise StrictError("strict mode")


class TestFailures:
    @pytest.mark.parametrize("body_layer", [False, True], ids=["plain", "held-body"])
    def test_response_hook_failure_is_a_logged_500_with_other_headers(
        self, caplog: pytest.LogCaptureFixture, body_layer: bool
    ) -> None:
        from tests.contract import ClosingBody

        inner = ClosingBody([b"secret body"])

        def app(environ: Any, start_response: Any) -> ClosingBody:
            start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "11")])
            return inner

        layers: list[Layer] = [Tag("outer", []), BrokenResponse()]
        if body_layer:
            layers.append(ETagLike())
        recorder = Recorder()
        with caplog.at_level(logging.ERROR, logger="headerware"):
            body = consume(Stack(layers, app)(make_environ(), recorder))
        assert recorder.status.startswith("500")
        assert body == b"Internal Server Error"
        assert recorder.header_values("X-Tag") == ["outer"]
        assert recorder.header_values("Content-Length") == [str(len(body))]
        assert inner.closed
        assert "broken failed on the response" in caplog.text

    @pytest.mark.parametrize("body_layer", [False, True], ids=["plain", "held-body"])
    def test_app_raising_before_start_response(
        self, caplog: pytest.LogCaptureFixture, body_layer: bool
    ) -> None:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            raise KeyError("app bug")

        layers: list[Layer] = [Tag("outer", [])]
        if body_layer:
            layers.append(ETagLike())
        recorder = Recorder()
        with caplog.at_level(logging.ERROR, logger="headerware"):
            body = consume(Stack(layers, app)(make_environ(), recorder))
        assert recorder.status.startswith("500")
        assert body == b"Internal Server Error"
        assert recorder.header_values("X-Tag") == ["outer"]
        assert "application raised" in caplog.text and "app bug" in caplog.text

    def test_app_raising_after_start_response_propagates(self) -> None:
        def app(environ: Any, start_response: Any) -> list[bytes]:
            start_response("200 OK", [])
            raise KeyError("late")

        with pytest.raises(KeyError, match="late"):
            Stack([Tag("a", [])], app)(make_environ(), Recorder())

    def test_propagating_errors_reach_the_caller(self) -> None:
        with pytest.raises(StrictError):
            consume(Stack([StrictResponse()], text_app())(make_environ(), Recorder()))


class TestRoutedChains:
    def test_each_route_runs_its_own_chain(self) -> None:
        journal: list[str] = []
        stack = Stack(
            [Tag("all", journal)],
            text_app(),
            routes=[("/api/*", [Tag("all", journal), Tag("api", journal)])],
        )
        recorder = Recorder()
        consume(stack(make_environ(PATH_INFO="/api/x"), recorder))
        assert recorder.header_values("X-Tag") == ["api", "all"]
        recorder = Recorder()
        consume(stack(make_environ(PATH_INFO="/other"), recorder))
        assert recorder.header_values("X-Tag") == ["all"]


class TestResponseHead:
    """The response-head object every layer edits: names compare case-insensitively."""

    def head(self) -> ResponseHead:
        return ResponseHead(
            "200 OK",
            [("Content-Type", "text/html"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")],
        )

    def test_reads(self) -> None:
        head = self.head()
        assert head.status_code == 200
        assert head.has("set-cookie") and not head.has("vary")
        assert head.get("content-type") == "text/html" == head.content_type
        assert head.get_all("set-cookie") == ["a=1", "b=2"]
        assert head.get("x-absent", "none") == "none"
        assert ResponseHead("bad", []).status_code == 0

    def test_writes(self) -> None:
        head = self.head()
        head.set("Content-Type", "text/plain")
        assert head.headers.count(("Content-Type", "text/plain")) == 1
        assert not head.setdefault("content-type", "x")
        assert head.setdefault("X-New", "1") and head.get("x-new") == "1"
        head.add("Set-Cookie", "c=3")
        assert head.get_all("set-cookie") == ["a=1", "b=2", "c=3"]
        assert head.remove("SET-COOKIE") and not head.has("set-cookie")
        assert not head.remove("set-cookie")
        head.merge_vary("Origin")
        head.merge_vary("origin", "Accept")
        assert head.get_all("vary") == ["Origin, Accept"]

    @pytest.mark.parametrize("overwrite", [True, False], ids=["set_many", "setdefault_many"])
    def test_blocks(self, overwrite: bool) -> None:
        block = HeaderBlock([("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff")])
        assert block.names == {"x-frame-options", "x-content-type-options"}
        fresh = ResponseHead("200 OK", [("Content-Type", "text/html")])
        (fresh.set_many if overwrite else fresh.setdefault_many)(block)
        assert fresh.headers[1:] == list(block.items)
        own = ResponseHead("200 OK", [("x-frame-options", "SAMEORIGIN")])
        (own.set_many if overwrite else own.setdefault_many)(block)
        assert own.get_all("x-frame-options") == (["DENY"] if overwrite else ["SAMEORIGIN"])
        assert own.get("x-content-type-options") == "nosniff"
        assert own.has("x-frame-options")

    def test_body_controls(self) -> None:
        head = self.head()
        head.replace_body(b"new body")
        assert head.body == [b"new body"] and head.get("content-length") == "8"
        head.drop_body()
        assert head.body_dropped and head.body is None
        head.replace(Response.text("503 Service Unavailable", "down"))
        assert head.status == "503 Service Unavailable" and head.body == [b"down"]
        assert not head.has("set-cookie") and head.get("content-length") == "4"
