"""The ASGI adapter: the layer contract for every built-in layer, and the adapter's
own guarantees (held and replaced bodies, early answers, failures, the request body,
the scope the application gets, routes, configuration).

The contract classes are found, not listed: every ``LayerContract`` subclass of every
layer test module gets an ASGI twin (tests/asgi_contract.py), so a new layer's
contract runs under ASGI too; ``test_every_built_in_layer_has_an_asgi_contract``
fails when a layer has none.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import headerware.layers
from headerware import Context, Layer, Response, ResponseHead, Stack
from headerware.asgi import ASGIContext, ASGIStack, current_context
from headerware.config import StackFactory, load_config
from headerware.layers.auth import BearerAuth
from headerware.layers.caching import Caching
from headerware.layers.cors import CORS
from headerware.layers.csp import ContentSecurityPolicy, csp_nonce
from headerware.layers.hosts import TrustedHosts, TrustedProxy
from headerware.layers.security import SecurityHeaders
from tests.asgi_contract import (
    Communicator,
    Marker,
    Message,
    Receive,
    Scope,
    Send,
    asgi_contract,
    call,
    failing_app,
    make_scope,
    run,
    text_app,
)
from tests.contract import LayerContract, Recorder, consume, make_environ
from tests.contract import text_app as wsgi_text_app

TESTS = Path(__file__).resolve().parent

# == the contract, for every LayerContract subclass of the test modules ==============


def _contract_classes() -> list[type[LayerContract]]:
    found: list[type[LayerContract]] = []
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name or "(LayerContract)" not in path.read_text():
            continue
        module = importlib.import_module(f"tests.{path.stem}")
        found.extend(
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, LayerContract)
            and value.__module__ == module.__name__
        )
    return found


CONTRACTS = _contract_classes()
for _source in CONTRACTS:
    _twin = asgi_contract(_source)
    globals()[_twin.__name__] = _twin
del _source, _twin


def test_every_built_in_layer_has_an_asgi_contract() -> None:
    built_in: set[type[Layer]] = set()
    for info in pkgutil.iter_modules(headerware.layers.__path__):
        module = importlib.import_module(f"headerware.layers.{info.name}")
        built_in.update(
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, Layer)
            and value.__module__ == module.__name__
        )
    covered: set[type] = set()
    for source in CONTRACTS:
        try:
            stack: Stack = source().wrap(None)
        except AttributeError:  # a contract whose fixture builds the layer's store
            continue
        covered.update(type(layer) for layer in stack.layers)
    missing = sorted(cls.__name__ for cls in built_in - covered)
    assert not missing, f"no ASGI contract run for {missing}"
    assert len(CONTRACTS) >= 25


# == held, replaced and dropped bodies ================================================


def _wsgi(layers: list[Layer], app: Any, **environ: Any) -> Recorder:
    recorder = Recorder()
    recorder.written = [consume(Stack(layers, app)(make_environ(**environ), recorder))]
    return recorder


def stream_app(*chunks: bytes, content_type: bytes = b"text/html; charset=utf-8") -> Any:
    """Sends its body in ``len(chunks)`` messages (``more_body`` on all but the last)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", content_type)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


class TestHeldBodies:
    def test_caching_etag_of_a_complete_body_and_its_304(self) -> None:
        layers: list[Layer] = [Caching(etag="strong")]
        expected = _wsgi(layers, wsgi_text_app()).header_values("ETag")
        assert expected
        result = run(ASGIStack(layers, text_app()), make_scope())
        assert result.header_values("etag") == expected
        assert result.body == b"hello"
        headers = [("if-none-match", expected[0])]
        not_modified = run(ASGIStack(layers, text_app()), make_scope(headers=headers))
        assert not_modified.status == 304
        assert not_modified.body == b""
        assert not not_modified.header_values("content-length")

    def test_a_streamed_body_gets_no_etag_and_is_not_buffered(self) -> None:
        result = run(ASGIStack([Caching(etag="strong")], stream_app(b"hel", b"lo")), make_scope())
        assert result.header_values("etag") == []
        assert [m.get("body") for m in result.messages[1:]] == [b"hel", b"lo"]

    def test_csp_hash_mode_hashes_a_complete_body_only(self) -> None:
        page = b"<!doctype html><script>go()</script>"
        layer = ContentSecurityPolicy(hash_inline=True, nonce_directives=())
        whole = run(ASGIStack([layer], stream_app(page)), make_scope())
        expected = _wsgi([layer], _wsgi_page(page)).header_values("Content-Security-Policy")
        assert whole.header_values("content-security-policy") == expected
        assert "'sha256-" in expected[0]
        assert whole.body == page
        streamed = run(ASGIStack([layer], stream_app(page[:10], page[10:])), make_scope())
        assert "'sha256-" not in streamed.header("content-security-policy")  # type: ignore[operator]
        assert streamed.body == page

    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_a_replaced_body_is_what_the_hooks_and_client_see(self, method: str) -> None:
        """An inner layer replaces the body; an outer one holding it hashes the new one."""
        layers: list[Layer] = [Caching(etag="strong"), Replace(b"replaced")]
        wsgi = _wsgi(layers, wsgi_text_app(), REQUEST_METHOD=method)
        result = run(
            ASGIStack(layers, stream_app(b"original", b"stream")), make_scope(method=method)
        )
        assert result.header_values("etag") == wsgi.header_values("ETag")
        assert result.header_values("etag") or method == "HEAD"  # no computed ETag on HEAD
        assert result.header_values("content-length") == ["8"]
        # HEAD: no body (under WSGI the server strips the one it is given).
        assert result.body == (b"replaced" if method == "GET" else b"")
        assert b"".join(wsgi.written) == b"replaced"

    def test_a_dropped_body_sends_nothing_of_the_app(self) -> None:
        result = run(ASGIStack([Drop()], stream_app(b"secret", b"more")), make_scope())
        assert result.status == 200 and result.body == b""
        assert len(result.messages) == 2

    def test_app_returning_with_a_held_head_sends_it(self) -> None:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})

        result = run(ASGIStack([Caching(etag="strong"), Marker()], app), make_scope())
        assert result.status == 200 and result.body == b""
        assert result.header_values("x-marker") == ["1"]


def _wsgi_page(page: bytes) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page]

    return app


class Replace(Layer):
    name = "replace"

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.replace_body(self.body)


class Drop(Layer):
    name = "drop"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.drop_body()


# == early answers =====================================================================


def never_called(scope: Scope, receive: Receive, send: Send) -> Any:
    raise AssertionError("the application was called")


EARLY = [
    pytest.param(
        [CORS(allow_origins=["https://app.example"], allow_methods=["PUT"])],
        {"origin": "https://app.example", "access-control-request-method": "PUT"},
        "OPTIONS",
        204,
        id="cors-preflight",
    ),
    pytest.param([BearerAuth(tokens=["t0ken-0123456789"])], {}, "GET", 401, id="bearer-401"),
    pytest.param(
        [TrustedHosts(allowed_hosts=["example.com"])], {}, "GET", 400, id="trusted-hosts-400"
    ),
]


@pytest.mark.parametrize(("layers", "headers", "method", "status"), EARLY)
def test_early_answers_are_a_start_and_a_body(
    layers: list[Layer], headers: dict[str, str], method: str, status: int
) -> None:
    stack = ASGIStack([Marker(), SecurityHeaders(), *layers], never_called)
    result = run(stack, make_scope(method=method, headers=headers.items()))
    wsgi = _wsgi(
        [Marker(), SecurityHeaders(), *layers],
        never_called,
        REQUEST_METHOD=method,
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )
    assert result.status == status == int(wsgi.status.split()[0])
    assert result.names == sorted(name.lower() for name, _ in wsgi.headers)
    assert result.body == b"".join(wsgi.written)
    assert result.header_values("x-marker") == ["1"]
    assert len(result.messages) == 2
    head = run(
        stack, make_scope(method="HEAD" if method == "GET" else method, headers=headers.items())
    )
    assert head.status == status
    if method == "GET":
        assert head.body == b""


# == failures ==========================================================================


class Explode(Layer):
    name = "explode"

    def on_request(self, ctx: Context) -> Response | None:
        raise RuntimeError("layer bug")


class BrokenResponse(Layer):
    name = "broken"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        raise RuntimeError("response bug")


class StrictError(ValueError):
    propagate = True


class Strict(Layer):
    name = "strict"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        raise StrictError("strict mode")


class TestFailures:
    def test_failing_request_hook_is_a_logged_500_with_outer_headers(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR, logger="headerware"):
            result = run(ASGIStack([Marker(), Explode()], never_called), make_scope())
        assert result.status == 500 and result.body == b"Internal Server Error"
        assert result.header_values("x-marker") == ["1"]
        assert "explode failed on the request" in caplog.text

    @pytest.mark.parametrize("held", [False, True], ids=["plain", "held-body"])
    def test_failing_response_hook_is_a_logged_500_with_other_headers(
        self, caplog: pytest.LogCaptureFixture, held: bool
    ) -> None:
        layers: list[Layer] = [Marker(), BrokenResponse()]
        if held:
            layers.append(Caching(etag="strong"))
        with caplog.at_level(logging.ERROR, logger="headerware"):
            result = run(ASGIStack(layers, text_app(b"secret body")), make_scope())
        assert result.status == 500 and result.body == b"Internal Server Error"
        assert result.header_values("x-marker") == ["1"]
        assert result.header_values("content-length") == [str(len(result.body))]
        assert b"secret" not in result.body
        assert "broken failed on the response" in caplog.text

    @pytest.mark.parametrize("held", [False, True], ids=["plain", "held-body"])
    def test_app_failing_before_start_is_a_logged_500(
        self, caplog: pytest.LogCaptureFixture, held: bool
    ) -> None:
        layers: list[Layer] = [Marker(), *([Caching(etag="strong")] if held else [])]
        with caplog.at_level(logging.ERROR, logger="headerware"):
            result = run(ASGIStack(layers, failing_app()), make_scope())
        assert result.status == 500 and result.body == b"Internal Server Error"
        assert result.header_values("x-marker") == ["1"]
        assert "application raised" in caplog.text and "app bug" in caplog.text

    def test_app_failing_after_its_start_went_out_reraises(self) -> None:
        with pytest.raises(KeyError, match="app bug"):
            asyncio.run(call(ASGIStack([Marker()], failing_app(after_start=True)), make_scope()))

    def test_app_failing_while_its_head_is_held_is_a_500(self) -> None:
        """Nothing went out yet (a layer held the head for the body): a clean 500."""

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise KeyError("app bug")

        result = run(ASGIStack([Marker(), Caching(etag="strong")], app), make_scope())
        assert result.status == 500 and result.header_values("x-marker") == ["1"]

    def test_propagating_errors_reach_the_server(self) -> None:
        with pytest.raises(StrictError):
            run(ASGIStack([Strict()], text_app()), make_scope())


# == the request body ==================================================================


class BodyReader(Layer):
    """Reads the body (asynchronously, up to ``limit``) and records what it got."""

    name = "body_reader"

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.seen: list[bytes | None] = []

    def on_request(self, ctx: Context) -> Response | None:
        self.seen.append(ctx.read_body(self.limit))
        return None

    async def on_request_async(self, ctx: Context) -> Response | None:
        await ctx.read_body_async(self.limit)
        return self.on_request(ctx)


def echo_app(seen: list[Message]) -> Any:
    """Reads every request message (recording it) until the body ends, then answers."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await text_app()(scope, receive, send)

    return app


def _chunks(*parts: bytes) -> list[Message]:
    return [
        {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
        for index, part in enumerate(parts)
    ]


class TestRequestBody:
    def test_a_read_body_is_replayed_to_the_app(self) -> None:
        reader, seen = BodyReader(100), list[Message]()
        run(ASGIStack([reader], echo_app(seen)), make_scope(method="POST"), _chunks(b"a=", b"1"))
        assert reader.seen == [b"a=1"]
        assert b"".join(m["body"] for m in seen) == b"a=1"
        assert seen[-1]["more_body"] is False

    def test_over_the_limit_the_layer_gets_none_and_the_app_everything(self) -> None:
        reader, seen = BodyReader(3), list[Message]()
        parts = _chunks(b"ab", b"cd", b"ef", b"gh")
        run(ASGIStack([reader], echo_app(seen)), make_scope(method="POST"), parts)
        assert reader.seen == [None]
        assert b"".join(m["body"] for m in seen) == b"abcdefgh"
        assert [m["more_body"] for m in seen] == [True, True, True, False]

    def test_a_declared_length_over_the_limit_reads_nothing(self) -> None:
        reader, seen = BodyReader(3), list[Message]()
        scope = make_scope(method="POST", headers=[("content-length", "8")])
        run(ASGIStack([reader], echo_app(seen)), scope, _chunks(b"abcdefgh"))
        assert reader.seen == [None] and seen == _chunks(b"abcdefgh")

    def test_a_disconnect_during_the_read_is_replayed_to_the_app(self) -> None:
        reader, seen = BodyReader(100), list[Message]()
        messages = [*_chunks(b"a=", b"1")[:1], {"type": "http.disconnect"}]
        stack = ASGIStack([reader], echo_app(seen))
        asyncio.run(call(stack, make_scope(method="POST"), messages))
        assert reader.seen == [None]
        assert seen == messages

    def test_sync_read_body_without_the_async_read_says_how(self) -> None:
        ctx = ASGIContext(make_scope(method="POST"))
        with pytest.raises(RuntimeError, match="read_body_async"):
            ctx.read_body(100)


# == the scope the application gets ===================================================


class Rewrite(Layer):
    """Changes a request header and publishes a key, as layers do."""

    name = "rewrite"

    def on_request(self, ctx: Context) -> Response | None:
        ctx.set_header("X-Added", "yes")
        ctx.set_header("X-Removed", None)
        ctx.publish("headerware.test", {"path": ctx.path, "root": ctx.root_path})
        return None


def scope_app(seen: list[Scope]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await text_app()(scope, receive, send)

    return app


class TestAppScope:
    def test_set_header_and_publish_reach_the_scope(self) -> None:
        seen: list[Scope] = []
        original = make_scope(headers=[("x-removed", "1"), ("x-kept", "2")])
        run(ASGIStack([Rewrite()], scope_app(seen)), original)
        (scope,) = seen
        assert (b"x-added", b"yes") in scope["headers"]
        assert (b"x-kept", b"2") in scope["headers"]
        assert all(name != b"x-removed" for name, _ in scope["headers"])
        assert scope["headerware.test"] == {"path": "/", "root": ""}
        assert isinstance(current_context(scope), Context)
        assert (b"x-removed", b"1") in original["headers"], "the server's scope is not changed"
        assert current_context({}) is None

    def test_an_unchanged_request_keeps_the_servers_headers(self) -> None:
        seen: list[Scope] = []
        original = make_scope(headers=[("x-a", "1"), ("x-a", "2")])
        run(ASGIStack([Marker()], scope_app(seen)), original)
        assert seen[0]["headers"] is original["headers"]

    def test_root_path_is_below_the_mount(self) -> None:
        seen: list[Scope] = []
        scope = make_scope(path="/mount/x", root_path="/mount")
        stack = ASGIStack([Rewrite()], scope_app(seen), routes=[("/x", [Rewrite(), Marker()])])
        result = run(stack, scope)
        assert seen[0]["headerware.test"] == {"path": "/x", "root": "/mount"}
        assert result.header_values("x-marker") == ["1"], "routes match below the mount"

    def test_a_trusted_prefix_moves_the_mount_and_keeps_the_path_below_it(self) -> None:
        seen: list[Scope] = []
        scope = make_scope(path="/x", headers=[("x-forwarded-prefix", "/api")])
        run(ASGIStack([TrustedProxy(x_prefix=1), Rewrite()], scope_app(seen)), scope)
        assert (seen[0]["root_path"], seen[0]["path"]) == ("/api", "/api/x")
        assert seen[0]["headerware.test"] == {"path": "/x", "root": "/api"}

    def test_repeated_header_lines_fold_like_a_wsgi_server(self) -> None:
        ctx = ASGIContext(
            make_scope(
                headers=[("cookie", "a=1"), ("cookie", "b=2"), ("accept", "x/y"), ("accept", "y")]
            )
        )
        assert ctx.header("cookie") == "a=1; b=2"
        assert dict(ctx.cookies) == {"a": "1", "b": "2"}
        assert ctx.header("Accept") == "x/y,y"

    def test_header_names_a_server_did_not_lower_case_are_found_and_folded(self) -> None:
        scope = make_scope()
        scope["headers"] = [(b"Cookie", b"a=1"), (b"cookie", b"b=2"), (b"X-Token", b"t")]
        ctx = ASGIContext(scope)
        assert ctx.header("cookie") == "a=1; b=2"
        assert ctx.header("x-token") == "t"
        assert dict(ctx.cookies) == {"a": "1", "b": "2"}

    def test_the_application_side_header_helpers_read_a_scope(self) -> None:
        from headerware import negotiate_media_type, request_header

        seen: list[Any] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(
                (
                    request_header(scope, "X-Trace"),
                    request_header(scope, "Content-Type", "none"),
                    request_header(scope, "X-Absent", "fallback"),
                    negotiate_media_type(scope, ["text/html", "application/json"]),
                )
            )
            await text_app()(scope, receive, send)

        scope = make_scope(headers=[("x-trace", "t-1"), ("accept", "application/json")])
        run(ASGIStack([TrustedProxy()], app), scope)
        assert seen == [("t-1", "none", "fallback", "application/json")]

    def test_the_context_reads_the_scope(self) -> None:
        ctx = ASGIContext(
            make_scope(
                method="post",
                path="/a/../b",
                query_string=b"q=1",
                scheme="https",
                host=None,
                server=("example.com", 8443),
                client=("203.0.113.9", 1),
            )
        )
        assert (ctx.method, ctx.raw_path, ctx.path, ctx.query_string) == (
            "POST",
            "/a/../b",
            "/b",
            "q=1",
        )
        assert (ctx.scheme, ctx.is_secure, ctx.host, ctx.server_port) == (
            "https",
            True,
            "example.com:8443",
            "8443",
        )
        assert ctx.client == "203.0.113.9"
        assert ctx.url_root == "https://example.com:8443"

    def test_the_apps_nonce_is_the_headers_nonce(self) -> None:
        nonces: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            nonces.append(csp_nonce(scope))
            await text_app()(scope, receive, send)

        result = run(ASGIStack([ContentSecurityPolicy()], app), make_scope())
        assert nonces[0] and f"'nonce-{nonces[0]}'" in result.header("content-security-policy")  # type: ignore[operator]


# == routes ============================================================================


class TestRoutes:
    def stack(self, app: Any) -> ASGIStack:
        return ASGIStack(
            [SecurityHeaders()],
            app,
            routes=[("/legacy/*", [SecurityHeaders(), Marker()])],
        )

    def test_each_route_runs_its_own_chain(self) -> None:
        stack = self.stack(text_app())
        assert run(stack, make_scope(path="/legacy/x")).header_values("x-marker") == ["1"]
        assert run(stack, make_scope(path="/other")).header_values("x-marker") == []

    def test_raw_and_resolved_paths_that_pick_different_routes_are_refused(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="headerware"):
            result = run(self.stack(never_called), make_scope(path="/admin/../legacy/x"))
        assert result.status == 400
        assert result.header_values("x-content-type-options") == ["nosniff"]
        assert any(getattr(r, "hw_event", "") == "ambiguous_route" for r in caplog.records)


# == construction ======================================================================


def test_an_asgi_stack_cannot_wrap_a_wsgi_stack_or_the_reverse() -> None:
    with pytest.raises(TypeError, match="cannot wrap a Stack"):
        ASGIStack([Marker()], Stack([SecurityHeaders()], wsgi_text_app()))
    with pytest.raises(TypeError, match="cannot wrap a ASGIStack"):
        Stack([Marker()], ASGIStack([SecurityHeaders()], text_app()))


def test_a_wsgi_stack_refuses_an_asgi_application_at_construction() -> None:
    from starlette.applications import Starlette

    class Subclassed(Starlette):
        pass

    for app in (text_app(), Starlette(), Subclassed()):
        with pytest.raises(TypeError, match=r"is an ASGI application; wrap it with"):
            Stack([SecurityHeaders()], app)
    with pytest.raises(TypeError, match="ASGIStack"):
        StackFactory({"security_headers": {}})(text_app())
    Stack([SecurityHeaders()], wsgi_text_app())  # a WSGI callable is fine


def test_an_asgi_stack_of_asgi_stacks_merges_into_one() -> None:
    inner = ASGIStack([Marker()], text_app())
    outer = ASGIStack([SecurityHeaders()], inner)
    assert [type(layer) for layer in outer.layers] == [SecurityHeaders, Marker]
    result = run(outer, make_scope())
    assert result.header_values("x-marker") == ["1"]


def test_a_stack_without_an_app_says_so() -> None:
    with pytest.raises(TypeError, match="without an application"):
        run(ASGIStack([Marker()]), make_scope())


def test_load_config_builds_the_asgi_stack_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "headerware.toml"
    config.write_text(
        '[trusted_hosts]\nallowed_hosts = ["example.com"]\n\n[security_headers]\n\n'
        '[[routes]]\npath = "/api/*"\n[routes.cors]\nallow_origins = ["https://app.example"]\n'
    )
    stack = load_config(config).asgi(text_app())
    assert isinstance(stack, ASGIStack)
    refused = run(stack, make_scope(host="evil.example"))
    assert refused.status == 400
    served = run(stack, make_scope(host="example.com"))
    assert served.status == 200 and served.header_values("x-frame-options")
    api = run(
        stack,
        make_scope(path="/api/x", host="example.com", headers=[("origin", "https://app.example")]),
    )
    assert api.header_values("access-control-allow-origin") == ["https://app.example"]


def test_no_response_hooks_calls_the_app_with_the_servers_receive_and_send() -> None:
    got: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.append(send)
        await text_app()(scope, receive, send)

    class RequestOnly(Layer):
        name = "request_only"

        def on_request(self, ctx: Context) -> Response | None:
            return None

    async def scenario() -> None:
        async def send(message: Message) -> None:
            return None

        async def receive() -> Message:
            return {"type": "http.request", "body": b""}

        await ASGIStack([RequestOnly()], app)(make_scope(), receive, send)
        assert got == [send]

    asyncio.run(scenario())


# == interplay with Starlette ==========================================================


def test_starlette_middleware_outside_reads_the_layers_headers() -> None:
    """ASGI header names are lower-case: Starlette's Headers finds what layers added."""
    from starlette.datastructures import Headers

    seen: list[Headers] = []
    stack = ASGIStack([SecurityHeaders(), ContentSecurityPolicy()], text_app())

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        async def spy(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(Headers(raw=message["headers"]))
            await send(message)

        await stack(scope, receive, spy)

    run(outer, make_scope())
    assert "content-security-policy" in seen[0]
    assert seen[0]["x-content-type-options"] == "nosniff"


def test_a_starlette_app_with_streaming_and_errors() -> None:
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("static")  # not a nonced document: it gets an ETag

    async def nonced(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<script nonce='{csp_nonce(request.scope)}'>1</script>")

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> Any:
            for _ in range(3):
                yield b"x" * 10

        return StreamingResponse(chunks(), media_type="text/plain")

    async def boom(request: Request) -> HTMLResponse:
        raise RuntimeError("view bug")

    routes = [Route("/", home), Route("/n", nonced), Route("/s", stream), Route("/boom", boom)]
    app = Starlette(routes=routes)
    stack = ASGIStack([SecurityHeaders(), ContentSecurityPolicy(), Caching(etag="strong")], app)

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=stack, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return [await client.get(path) for path in ("/", "/n", "/s", "/boom")]

    home_page, nonce_page, streamed, failed = asyncio.run(scenario())
    assert home_page.headers["etag"] and home_page.text == "static"
    nonce = nonce_page.text.split("'")[1]
    assert f"'nonce-{nonce}'" in nonce_page.headers["content-security-policy"]
    assert streamed.text == "x" * 30 and "etag" not in streamed.headers
    assert failed.status_code == 500
    assert failed.headers["x-content-type-options"] == "nosniff"


# == websocket scopes ==================================================================


class RefuseSockets(Layer):
    name = "refuse_sockets"

    def on_websocket(self, ctx: Context) -> Response | None:
        if ctx.header("origin") == "https://evil.example":
            return Response.text("403 Forbidden", "no")
        return None


def _socket_scope(origin: str, extensions: dict[str, Any] | None = None) -> Scope:
    scope = make_scope(headers=[("origin", origin)], scheme="ws", kind="websocket")
    del scope["method"]
    scope["extensions"] = extensions or {}
    return scope


async def _socket_app(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    assert current_context(scope) is not None
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 1000})


@pytest.mark.parametrize(
    ("origin", "extensions", "expected"),
    [
        pytest.param("https://app.example", None, ["websocket.accept", "websocket.close"], id="ok"),
        pytest.param("https://evil.example", None, ["websocket.close"], id="refused-close"),
        pytest.param(
            "https://evil.example",
            {"websocket.http.response": {}},
            ["websocket.http.response.start", "websocket.http.response.body"],
            id="refused-denial-response",
        ),
    ],
)
def test_websocket_checks_run_before_accept(
    origin: str, extensions: dict[str, Any] | None, expected: list[str]
) -> None:
    async def scenario() -> list[Message]:
        stack = ASGIStack([Marker(), RefuseSockets()], _socket_app)
        communicator = Communicator(stack, _socket_scope(origin, extensions))
        await communicator.send({"type": "websocket.connect"})
        messages = [await communicator.receive() for _ in expected]
        await communicator.wait()
        return messages

    messages = asyncio.run(scenario())
    assert [m["type"] for m in messages] == expected
    if expected == ["websocket.close"]:
        assert messages[0]["code"] == 1008
    if "websocket.http.response.start" in expected:
        assert messages[0]["status"] == 403 and messages[1]["body"] == b"no"


# == the engine's async twins ==========================================================


class Journal(Layer):
    """Records its hooks; ``asynchronous`` layers override the async hooks (and await)."""

    name = "journal"

    def __init__(self, label: str, journal: list[str], *, deny: bool = False) -> None:
        super().__init__()
        self.label, self.journal, self.deny = label, journal, deny

    def on_request(self, ctx: Context) -> Response | None:
        self.journal.append(f"req-{self.label}")
        return Response.text("403 Forbidden", "denied") if self.deny else None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        self.journal.append(f"resp-{self.label}")
        response.add("X-Journal", self.label)


class AsyncJournal(Journal):
    name = "async_journal"

    async def on_request_async(self, ctx: Context) -> Response | None:
        await asyncio.sleep(0)
        self.journal.append("awaited")
        return self.on_request(ctx)

    async def on_response_async(self, ctx: Context, response: ResponseHead) -> None:
        await asyncio.sleep(0)
        self.journal.append("awaited")
        self.on_response(ctx, response)


class AsyncExplode(Layer):
    name = "async_explode"

    async def on_request_async(self, ctx: Context) -> Response | None:
        raise RuntimeError("async layer bug")

    def on_request(self, ctx: Context) -> Response | None:  # the WSGI path; unused here
        return None


class BadBodyHook(Layer):
    name = "bad_body"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        def fail(head: ResponseHead, chunks: list[bytes]) -> None:
            raise RuntimeError("body hook bug")

        response.hold_body(fail)


class TestAsyncHooks:
    def test_async_hooks_are_awaited_in_the_chains_order(self) -> None:
        journal: list[str] = []
        layers = [Journal("a", journal), AsyncJournal("b", journal), Journal("c", journal)]
        result = run(ASGIStack(layers, text_app()), make_scope())
        assert journal == [
            "req-a", "awaited", "req-b", "req-c", "resp-c", "awaited", "resp-b", "resp-a",
        ]  # fmt: skip
        assert result.header_values("x-journal") == ["c", "b", "a"]
        assert not ASGIStack([Journal("a", [])], text_app()).chain.async_request

    def test_an_async_early_answer_goes_through_the_outer_async_hooks(self) -> None:
        journal: list[str] = []
        layers = [AsyncJournal("outer", journal), AsyncJournal("deny", journal, deny=True)]
        result = run(ASGIStack([*layers, Journal("inner", journal)], never_called), make_scope())
        assert (result.status, result.body) == (403, b"denied")
        # The answering layer's response hook runs too, then the outer one's; not inner's.
        assert result.header_values("x-journal") == ["deny", "outer"]
        assert journal.count("awaited") == 4

    def test_a_failing_async_request_hook_is_a_500_through_the_outer_hooks(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        journal: list[str] = []
        layers = [AsyncJournal("outer", journal), AsyncExplode()]
        with caplog.at_level(logging.ERROR, logger="headerware"):
            result = run(ASGIStack(layers, never_called), make_scope())
        assert result.status == 500 and result.header_values("x-journal") == ["outer"]
        assert "async_explode failed on the request" in caplog.text

    def test_a_failing_body_hook_answers_500_through_the_async_hooks(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        journal: list[str] = []
        layers = [AsyncJournal("outer", journal), BadBodyHook()]
        with caplog.at_level(logging.ERROR, logger="headerware"):
            result = run(ASGIStack(layers, text_app()), make_scope())
        assert (result.status, result.body) == (500, b"Internal Server Error")
        assert result.header_values("x-journal") == ["outer"]
        assert journal.count("awaited") == 3, "the error head went through the async hook"
        assert "body hook" in caplog.text and "body hook bug" in caplog.text


def trailers_app() -> Any:
    """Announces trailers (``http.response.trailers``, ASGI's HTTP trailers extension)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/grpc")]
        start = {"type": "http.response.start", "status": 200, "headers": headers}
        await send({**start, "trailers": True})
        await send({"type": "http.response.body", "body": b"data", "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})

    return app


@pytest.mark.parametrize(
    ("layers", "trailers"),
    [
        pytest.param([Marker()], True, id="passed-through"),
        pytest.param([Marker(), Replace(b"ours")], False, id="body-replaced"),
        pytest.param([Marker(), Caching(etag="strong")], False, id="body-held"),
    ],
)
def test_trailers_follow_the_applications_body(layers: list[Layer], trailers: bool) -> None:
    """A body the stack sends has no trailers announced (or the server would wait)."""
    messages = asyncio.run(call(ASGIStack(layers, trailers_app()), make_scope()))
    start = messages[0]
    assert start.get("trailers", False) is trailers
    assert [m["type"] == "http.response.trailers" for m in messages][-1] is trailers
    assert (b"x-marker", b"1") in start["headers"]
