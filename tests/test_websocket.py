"""WebSocket origins: the Origin allow-list on ASGI websocket handshakes (and Host, proxy)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client
from asgiref.testing import ApplicationCommunicator
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from headerware import (
    ASGIStack,
    ConfigError,
    Layer,
    OptionError,
    Stack,
    TrustedHosts,
    TrustedProxy,
    WebSocketOrigins,
    load_config,
    paste,
)
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app
from tests.servers import free_port, serving
from tests.websocket_server_app import PAGE_ORIGIN

APP = "https://app.example"
HOST = "chat.example"
DENIAL: dict[str, Any] = {"websocket.http.response": {}}
#: asgiref's communicator is untyped.
Communicator: Any = ApplicationCommunicator


# --- the application and a message-level client -------------------------------------


class Endpoint:
    """A Starlette echo socket (``/ws``, ``/chat/ws``) that counts the handshakes it saw."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.starlette = Starlette(
            routes=[
                WebSocketRoute("/ws", self.echo),
                WebSocketRoute("/chat/ws", self.echo),
                Route("/", self.home),
            ]
        )

    async def echo(self, websocket: WebSocket) -> None:
        self.scopes.append(dict(websocket.scope))
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"echo: {text}")
        await websocket.close()

    async def home(self, request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    def wrapped(self, layers: Sequence[Layer]) -> ASGIStack:
        return ASGIStack(list(layers), self.starlette)


def handshake(
    app: Any,
    origin: str | None = APP,
    *,
    path: str = "/ws",
    scheme: str = "ws",
    host: str = HOST,
    headers: Sequence[tuple[str, str]] = (),
    extensions: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Connect, send ``hi`` if accepted; every message the application sent, in order."""
    raw: list[tuple[bytes, bytes]] = [(b"host", host.encode("latin-1"))]
    if origin is not None:
        raw.append((b"origin", origin.encode("latin-1")))
    raw += [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("203.0.113.9", 50000),
        "server": ("10.0.0.5", 8000),
        "subprotocols": [],
        "extensions": extensions or {},
    }

    async def run() -> list[dict[str, Any]]:
        communicator = Communicator(app, scope)
        await communicator.send_input({"type": "websocket.connect"})
        sent = [await communicator.receive_output(timeout=5)]
        if sent[0]["type"] == "websocket.accept":
            await communicator.send_input({"type": "websocket.receive", "text": "hi"})
            sent.append(await communicator.receive_output(timeout=5))
            sent.append(await communicator.receive_output(timeout=5))
        elif sent[0]["type"] == "websocket.http.response.start":
            sent.append(await communicator.receive_output(timeout=5))
        await communicator.wait(timeout=5)
        return sent

    return asyncio.run(run())


ECHOED = [
    {"type": "websocket.accept", "subprotocol": None, "headers": []},
    {"type": "websocket.send", "text": "echo: hi"},
    {"type": "websocket.close", "code": 1000, "reason": ""},
]
CLOSED = [{"type": "websocket.close", "code": 1008}]


def accepted(endpoint: Endpoint, layers: Sequence[Layer], origin: str | None, **kw: Any) -> bool:
    """Whether the handshake was accepted and echoed; a refusal must never reach the app."""
    before = len(endpoint.scopes)
    sent = handshake(endpoint.wrapped(layers), origin, **kw)
    if sent == CLOSED:
        assert len(endpoint.scopes) == before  # closed before accept: the app never ran
        return False
    assert sent == ECHOED
    assert len(endpoint.scopes) == before + 1
    return True


def refused_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.hw_fields  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "hw_event", "") == "websocket_origin_refused"
    ]


# --- the origin check ----------------------------------------------------------------


def test_an_allowed_origin_is_accepted_and_echoed() -> None:
    endpoint = Endpoint()
    sent = handshake(endpoint.wrapped([WebSocketOrigins(allow_origins=[APP])]), APP)
    assert sent == ECHOED
    assert [scope["path"] for scope in endpoint.scopes] == ["/ws"]


def test_a_foreign_origin_is_closed_before_accept(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = Endpoint()
    with caplog.at_level(logging.INFO, logger="headerware"):
        sent = handshake(
            endpoint.wrapped([WebSocketOrigins(allow_origins=[APP])]), "https://evil.example"
        )
    assert sent == CLOSED
    assert endpoint.scopes == []
    assert refused_events(caplog) == [
        {"origin": "https://evil.example", "path": "/ws", "reason": "origin not allowed"}
    ]


@pytest.mark.parametrize(
    ("options", "origin", "allowed"),
    [
        pytest.param({"allow_origins": [APP]}, APP, True, id="exact"),
        pytest.param({"allow_origins": ["https://App.Example:443"]}, APP, True, id="normalised"),
        pytest.param({"allow_origins": [APP]}, "https://APP.example", False, id="not-serialized"),
        pytest.param({"allow_origins": [APP]}, "http://app.example", False, id="other-scheme"),
        pytest.param({"allow_origins": [APP]}, "https://app.example:8443", False, id="other-port"),
        pytest.param({"allow_origins": [APP]}, APP + ".evil.test", False, id="suffix-host"),
        pytest.param({"allow_origins": [APP]}, APP + "/", False, id="trailing-slash"),
        pytest.param(
            {"allow_origins": ["https://*.example.com"]}, "https://a.b.example.com", True, id="pat"
        ),
        pytest.param(
            {"allow_origins": ["https://*.example.com"]}, "https://example.com", False, id="apex"
        ),
        pytest.param(
            {"allow_origins": ["https://*.example.com"]},
            "https://evilexample.com",
            False,
            id="pattern-boundary",
        ),
        pytest.param(
            {"allow_origins": ["https://*.example.com"]},
            "https://x.example.com.evil.test",
            False,
            id="pattern-suffix",
        ),
        pytest.param(
            {"allow_origin_regex": [r"https://(app|admin)\.example\.org"]},
            "https://admin.example.org",
            True,
            id="regex",
        ),
        pytest.param(
            {"allow_origin_regex": [r"https://(app|admin)\.example\.org"]},
            "https://staff.example.org",
            False,
            id="regex-other",
        ),
        pytest.param(
            {"allow_origin_regex": [re.compile(r"https://[a-z0-9-]+\.example\.org(:\d+)?")]},
            "https://pr-12.example.org:8443",
            True,
            id="compiled-regex-port",
        ),
        pytest.param(
            {"allow_origin_func": lambda origin: origin.endswith(".partner.test")},
            "https://eu.partner.test",
            True,
            id="func",
        ),
        pytest.param(
            {"allow_origin_func": lambda origin: 1 / 0 == 0},
            "https://eu.partner.test",
            False,
            id="func-raises",
        ),
    ],
)
def test_origin_forms_as_cors_takes_them(
    options: dict[str, Any], origin: str, allowed: bool
) -> None:
    layer = WebSocketOrigins(allow_same_origin=False, **options)
    assert accepted(Endpoint(), [layer], origin) is allowed


@pytest.mark.parametrize(
    ("scheme", "host", "origin", "allowed"),
    [
        pytest.param("ws", HOST, f"http://{HOST}", True, id="ws-is-http"),
        pytest.param("ws", HOST, f"https://{HOST}", False, id="ws-not-https"),
        pytest.param("wss", HOST, f"https://{HOST}", True, id="wss-is-https"),
        pytest.param("wss", HOST, f"http://{HOST}", False, id="wss-not-http"),
        pytest.param("wss", f"{HOST}:8443", f"https://{HOST}:8443", True, id="port"),
        pytest.param("wss", f"{HOST}:443", f"https://{HOST}", True, id="default-port"),
        pytest.param("wss", f"{HOST}:8443", f"https://{HOST}", False, id="port-differs"),
        pytest.param("wss", "Chat.Example", f"https://{HOST}", True, id="host-case"),
        pytest.param("wss", HOST, "https://other.example", False, id="other-host"),
    ],
)
def test_same_origin_maps_ws_to_http_and_wss_to_https(
    scheme: str, host: str, origin: str, allowed: bool
) -> None:
    layer = WebSocketOrigins()  # the defaults: the application's own pages only
    assert accepted(Endpoint(), [layer], origin, scheme=scheme, host=host) is allowed


def test_allow_same_origin_false_refuses_the_own_origin() -> None:
    layer = WebSocketOrigins(allow_origins=[APP], allow_same_origin=False)
    assert not accepted(Endpoint(), [layer], f"https://{HOST}", scheme="wss")
    assert accepted(Endpoint(), [layer], APP, scheme="wss")


FORWARDED = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", HOST)]


def test_same_origin_behind_trusted_proxy_compares_the_proxied_scheme_and_host() -> None:
    endpoint = Endpoint()
    proxy = TrustedProxy(x_proto=1, x_host=1)
    layers = [proxy, TrustedHosts(allowed_hosts=[HOST]), WebSocketOrigins()]
    # The proxy talks plain ws to the server, for a page served at https://chat.example.
    kw: dict[str, Any] = {"scheme": "ws", "host": "10.0.0.5:8000", "headers": FORWARDED}
    assert accepted(endpoint, layers, f"https://{HOST}", **kw)
    scope = endpoint.scopes[-1]
    assert scope["scheme"] == "wss"  # the application sees the proxied scheme too
    assert dict(scope["headers"])[b"host"] == HOST.encode()
    assert not accepted(endpoint, layers, "http://10.0.0.5:8000", **kw)


def test_without_trusted_proxy_forwarded_headers_decide_nothing() -> None:
    kw: dict[str, Any] = {"scheme": "ws", "host": "10.0.0.5:8000", "headers": FORWARDED}
    assert not accepted(Endpoint(), [WebSocketOrigins()], f"https://{HOST}", **kw)
    untrusting = TrustedProxy()  # counts 0: trusts nothing
    assert not accepted(Endpoint(), [untrusting, WebSocketOrigins()], f"https://{HOST}", **kw)
    assert accepted(Endpoint(), [untrusting, WebSocketOrigins()], "http://10.0.0.5:8000", **kw)


def test_a_missing_origin_is_refused_by_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert not accepted(Endpoint(), [WebSocketOrigins(allow_origins=[APP])], None)
    assert refused_events(caplog) == [{"origin": None, "path": "/ws", "reason": "no Origin header"}]


def test_allow_missing_origin_lets_non_browser_clients_in() -> None:
    layer = WebSocketOrigins(allow_origins=[APP], allow_missing_origin=True)
    assert accepted(Endpoint(), [layer], None)
    assert not accepted(Endpoint(), [layer], "https://evil.example")  # browsers still checked


def test_null_origin_is_refused_unless_listed() -> None:
    assert not accepted(Endpoint(), [WebSocketOrigins(allow_origins=[APP])], "null")
    assert accepted(Endpoint(), [WebSocketOrigins(allow_origins=[APP, "null"])], "null")


def test_denial_response_where_the_server_offers_the_extension() -> None:
    endpoint = Endpoint()
    app = endpoint.wrapped([WebSocketOrigins(allow_origins=[APP])])
    start, body = handshake(app, "https://evil.example", extensions=DENIAL)
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 403
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert body["type"] == "websocket.http.response.body"
    assert json.loads(body["body"]) == {"error": "WebSocket origin not allowed"}
    assert endpoint.scopes == []
    # The extension changes nothing for an allowed origin.
    assert handshake(app, APP, extensions=DENIAL) == ECHOED


def test_report_only_logs_and_lets_the_handshake_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    layer = WebSocketOrigins(allow_origins=[APP], report_only=True)
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert accepted(Endpoint(), [layer], "https://evil.example")
    assert refused_events(caplog) == [
        {
            "origin": "https://evil.example",
            "path": "/ws",
            "reason": "origin not allowed",
            "report_only": True,
        }
    ]


def test_the_log_record_is_sanitised_and_truncated(caplog: pytest.LogCaptureFixture) -> None:
    origin = "https://évil.example\x7f\x01" + "a" * 500
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert not accepted(Endpoint(), [WebSocketOrigins(allow_origins=[APP])], origin)
    [fields] = refused_events(caplog)
    assert fields["origin"] == ("https://?vil.example??" + "a" * 500)[:200]
    assert fields["path"] == "/ws"
    [record] = [
        r for r in caplog.records if getattr(r, "hw_event", "") == "websocket_origin_refused"
    ]
    assert record.levelno == logging.WARNING


def test_http_requests_pass_untouched_under_asgi() -> None:
    app = Endpoint().wrapped([WebSocketOrigins(allow_origins=[APP])])

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get("/", headers={"Origin": "https://evil.example"})

    response = asyncio.run(get())
    assert (response.status_code, response.text) == (200, "home")


# --- the Host of a handshake ---------------------------------------------------------


def test_trusted_hosts_refuses_a_handshake_for_a_foreign_host(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = Endpoint()
    layers = [TrustedHosts(allowed_hosts=[HOST]), WebSocketOrigins()]
    with caplog.at_level(logging.INFO, logger="headerware"):
        # Same-origin for the forged host, which is exactly why the Host is checked first.
        assert not accepted(endpoint, layers, "http://evil.example", host="evil.example")
    events = [getattr(r, "hw_event", "") for r in caplog.records]
    assert events == ["host_refused"]
    start, body = handshake(
        endpoint.wrapped(layers), "http://evil.example", host="evil.example", extensions=DENIAL
    )
    assert start["status"] == 400
    assert json.loads(body["body"]) == {"error": "this server does not serve the requested host"}
    assert endpoint.scopes == []
    assert accepted(endpoint, layers, f"http://{HOST}")


def test_trusted_hosts_alone_checks_handshakes() -> None:
    layers = [TrustedHosts(allowed_hosts=[HOST])]
    assert not accepted(Endpoint(), layers, APP, host="evil.example")
    assert accepted(Endpoint(), layers, APP)


# --- configuration -------------------------------------------------------------------

TOML = """
[trusted_hosts]
allowed_hosts = ["chat.example"]

[websocket_origins]
allow_origins = ["https://app.example", "https://*.app.example"]

[[routes]]
path = "/chat/*"
[routes.websocket_origins]
allow_origins = ["https://partner.example"]
"""


def test_config_from_toml_with_a_route(tmp_path: Path) -> None:
    path = tmp_path / "headerware.toml"
    path.write_text(TOML)
    endpoint = Endpoint()
    app = load_config(path).asgi(endpoint.starlette)

    def opens(origin: str, ws_path: str = "/ws", host: str = HOST) -> bool:
        sent = handshake(app, origin, path=ws_path, host=host)
        assert sent in (ECHOED, CLOSED)
        return sent == ECHOED

    assert opens(APP)
    assert opens("https://eu.app.example")
    assert opens(f"http://{HOST}")  # allow_same_origin by default
    assert not opens("https://partner.example")
    assert not opens(APP, host="evil.example")  # trusted_hosts, in the canonical order
    # The route replaces the origin list for its paths (same origin still allowed).
    assert opens("https://partner.example", "/chat/ws")
    assert not opens(APP, "/chat/ws")
    assert opens(f"http://{HOST}", "/chat/ws")
    assert [scope["path"] for scope in endpoint.scopes] == [
        "/ws", "/ws", "/ws", "/chat/ws", "/chat/ws",
    ]  # fmt: skip


def test_config_describe_gives_the_options_back(tmp_path: Path) -> None:
    layer = WebSocketOrigins(
        allow_origins=["https://App.example:443", "https://*.example.com", "null"],
        allow_origin_regex=[r"https://(a|b)\.example\.org"],
        allow_missing_origin=True,
    )
    described = layer.describe()
    assert described == {
        "allow_origins": ["https://app.example", "null", "https://*.example.com"],
        "allow_origin_regex": [r"https://(a|b)\.example\.org"],
        "allow_origin_func": None,
        "allow_same_origin": True,
        "allow_missing_origin": True,
        "report_only": False,
    }
    assert WebSocketOrigins(**described).describe() == described


def test_global_report_only_reaches_the_layer(tmp_path: Path) -> None:
    path = tmp_path / "headerware.toml"
    path.write_text("[headerware]\nreport_only = true\n[websocket_origins]\n")
    endpoint = Endpoint()
    assert handshake(load_config(path).asgi(endpoint.starlette), "https://evil.example") == ECHOED


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_under_wsgi_the_layer_does_nothing() -> None:
    layer = WebSocketOrigins(allow_origins=[APP])
    assert (layer.handles_request, layer.handles_response, layer.handles_websocket) == (
        False,
        False,
        True,
    )
    recorder = Recorder()
    environ = make_environ(HTTP_ORIGIN="https://evil.example", HTTP_UPGRADE="websocket")
    body = consume(Stack([layer], wsgi_hello)(environ, recorder))
    assert (recorder.status, body) == ("200 OK", b"hello")
    assert recorder.headers == [("Content-Type", "text/plain")]


class TestWSGIContract(LayerContract):
    def make_layer(self) -> Layer:
        return WebSocketOrigins(allow_origins=[APP])

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_ORIGIN": "https://evil.example"}


def test_paste_filter_builds_the_layer() -> None:
    make_filter = paste.websocket_origins(
        {}, allow_origins="https://app.example, https://*.app.example", allow_missing_origin="true"
    )
    stack = make_filter(text_app())
    [layer] = stack.layers
    assert isinstance(layer, WebSocketOrigins)
    assert layer.describe()["allow_origins"] == ["https://app.example", "https://*.app.example"]
    assert layer.allow_missing_origin is True
    setup = (Path(__file__).resolve().parent.parent / "setup.cfg").read_text()
    assert "websocket_origins = headerware.paste:websocket_origins" in setup


@pytest.mark.parametrize(
    ("options", "option", "fragment"),
    [
        pytest.param({"allow_origins": ["*"]}, "allow_origins", "hijacking", id="star"),
        pytest.param({"allow_origins": [APP, "*"]}, "allow_origins", "hijacking", id="star-too"),
        pytest.param(
            {"allow_origins": ["wss://app.example"]},
            "allow_origins",
            "'https://app.example'",
            id="wss-url",
        ),
        pytest.param(
            {"allow_origins": ["ws://app.example"]},
            "allow_origins",
            "'http://app.example'",
            id="ws-url",
        ),
        pytest.param({"allow_origins": [APP + "/chat"]}, "allow_origins", "path", id="path"),
        pytest.param({"allow_origins": ["app.example"]}, "allow_origins", "scheme", id="no-scheme"),
        pytest.param({"allow_origins": APP}, "allow_origins", "not one string", id="string"),
        pytest.param(
            {"allow_origins": ["https://*.com"]}, "allow_origins", "top-level", id="tld-pattern"
        ),
        pytest.param(
            {"allow_origin_regex": [r"https://example\.com.*"]},
            "allow_origins",
            "past the end",
            id="open-regex",
        ),
        pytest.param(
            {"allow_same_origin": False}, "allow_origins", "every handshake", id="refuses-all"
        ),
        pytest.param({"allow_same_origin": "no"}, "allow_same_origin", "", id="not-bool"),
        pytest.param({"allow_origin": [APP]}, "allow_origin", "allow_origins", id="typo"),
    ],
)
def test_bad_options_fail_at_construction(
    options: dict[str, Any], option: str, fragment: str
) -> None:
    with pytest.raises(OptionError) as caught:
        WebSocketOrigins(**options)
    assert caught.value.option == option
    assert fragment in str(caught.value)
    assert caught.value.fix


def test_a_non_browser_only_socket_is_a_valid_configuration() -> None:
    layer = WebSocketOrigins(allow_same_origin=False, allow_missing_origin=True)
    assert accepted(Endpoint(), [layer], None)
    assert not accepted(Endpoint(), [layer], f"http://{HOST}")


def test_bad_toml_names_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "headerware.toml"
    path.write_text('[websocket_origins]\nallow_origins = ["*"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == "websocket_origins.allow_origins"


# --- a real server ---------------------------------------------------------------------


@pytest.fixture(scope="module", params=["websockets-sansio", "websockets"])
def uvicorn_port(request: pytest.FixtureRequest) -> Any:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "tests.websocket_server_app:app"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--ws", request.param]
    with serving([*args, "--log-level", "warning"], port):
        yield port


def connect(port: int, origin: str | None) -> Any:
    return websockets.sync.client.connect(
        f"ws://127.0.0.1:{port}/ws",
        origin=None if origin is None else Origin(origin),
        open_timeout=10,
    )


def test_uvicorn_allowed_origin_connects_and_echoes(uvicorn_port: int) -> None:
    for origin in (PAGE_ORIGIN, f"http://127.0.0.1:{uvicorn_port}"):
        with connect(uvicorn_port, origin) as socket:
            socket.send("hi")
            assert socket.recv(timeout=10) == "echo: hi"


@pytest.mark.parametrize("origin", ["https://evil.example", "null", None])
def test_uvicorn_foreign_origin_gets_403_at_the_handshake(
    uvicorn_port: int, origin: str | None
) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(uvicorn_port, origin)
    response = caught.value.response
    assert response.status_code == 403
    assert json.loads(response.body or b"") == {"error": "WebSocket origin not allowed"}
