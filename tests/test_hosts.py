"""Trusted hosts (Host allow-list) and trusted proxies (ProxyFix semantics)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote
from wsgiref.validate import validator

import pytest
import webtest
from werkzeug.middleware.proxy_fix import ProxyFix

from headerware import Layer, Stack
from headerware.layers.hosts import TrustedHosts, TrustedProxy, proxy_original
from headerware.options import OptionError
from headerware.wsgi import CONTEXT_KEY
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app

ALLOWED = ["example.com", "*.example.com", "[::1]", "127.0.0.1", "bücher.example"]


class TestTrustedHostsContract(LayerContract):
    def make_layer(self) -> Layer:
        return TrustedHosts(allowed_hosts=["localhost"])


class TestTrustedProxyContract(LayerContract):
    def make_layer(self) -> Layer:
        return TrustedProxy(x_for=1, x_proto=1, x_host=1)

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https"}


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        pytest.param("example.com", True, id="exact"),
        pytest.param("EXAMPLE.com", True, id="case"),
        pytest.param("example.com:8443", True, id="port-stripped"),
        pytest.param("example.com.", True, id="trailing-dot"),
        pytest.param("www.example.com", True, id="subdomain"),
        pytest.param("a.b.example.com:80", True, id="deep-subdomain"),
        pytest.param("[::1]:8000", True, id="ipv6-port"),
        pytest.param("[::1]", True, id="ipv6"),
        pytest.param("127.0.0.1:5000", True, id="ipv4"),
        pytest.param("xn--bcher-kva.example", True, id="idn-punycode"),
        pytest.param("evil.example", False, id="other"),
        pytest.param("example.com.evil.example", False, id="suffix"),
        pytest.param("evilexample.com", False, id="label-boundary"),
        pytest.param("example.com:abc", False, id="bad-port"),
        pytest.param("[::2]", False, id="other-ipv6"),
        pytest.param("[::1]x", False, id="ipv6-junk"),
        pytest.param("[::1", False, id="ipv6-unclosed"),
        pytest.param("", False, id="empty"),
        pytest.param("example.com@evil.example", False, id="userinfo"),
        pytest.param("example.com/x", False, id="path"),
    ],
)
def test_allows(host: str, allowed: bool) -> None:
    assert TrustedHosts(allowed_hosts=ALLOWED).allows(host) is allowed


def test_refused_host_gets_400_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    stack = Stack([TrustedHosts(allowed_hosts=ALLOWED)], text_app())
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        body = consume(stack(make_environ(HTTP_HOST="evil.example"), recorder))
    assert recorder.status == "400 Bad Request"
    # issue 15 item 5: a negotiated refusal (JSON without Accept), never cached.
    assert json.loads(body) == {"error": "this server does not serve the requested host"}
    assert recorder.header_values("Content-Type") == ["application/json"]
    assert recorder.header_values("Cache-Control") == ["no-store"]
    [record] = caplog.records
    assert record.hw_event == "host_refused"  # type: ignore[attr-defined]
    assert record.hw_fields == {"host": "evil.example"}  # type: ignore[attr-defined]


def test_allowed_host_untouched() -> None:
    app = text_app()
    stack = Stack([TrustedHosts(allowed_hosts=ALLOWED)], app)
    recorder = Recorder()
    assert consume(stack(make_environ(HTTP_HOST="www.example.com"), recorder)) == b"hello"
    assert recorder.status == "200 OK"


def test_missing_host_uses_server_name() -> None:
    layer = TrustedHosts(allowed_hosts=["localhost"])
    environ = make_environ()
    del environ["HTTP_HOST"]
    recorder = Recorder()
    consume(Stack([layer], text_app())(environ, recorder))
    assert recorder.status == "200 OK"


def test_report_only(caplog: pytest.LogCaptureFixture) -> None:
    stack = Stack([TrustedHosts(allowed_hosts=ALLOWED, report_only=True)], text_app())
    recorder = Recorder()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        assert consume(stack(make_environ(HTTP_HOST="evil.example"), recorder)) == b"hello"
    assert recorder.status == "200 OK"
    [record] = caplog.records
    assert record.hw_fields == {"host": "evil.example", "report_only": True}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        pytest.param("example.com", "not one string", id="string"),
        pytest.param([], "at least one", id="empty"),
        pytest.param(["*"], "every host", id="star"),
        pytest.param(["example.com:80"], "without port", id="port"),
        pytest.param(["a.*.com"], "leading", id="inner-star"),
        pytest.param(["*.com"], "top-level", id="tld"),
        pytest.param(["exa mple.com"], "white space", id="space"),
        pytest.param(["example.com/x"], "path", id="path"),
    ],
)
def test_configuration_errors(hosts: Any, message: str) -> None:
    with pytest.raises(OptionError, match=message) as info:
        TrustedHosts(allowed_hosts=hosts)
    assert info.value.option == "allowed_hosts"


def test_describe_hosts() -> None:
    described = TrustedHosts(
        allowed_hosts=["B.example", "*.a.example"], exempt_paths=["/healthz"]
    ).describe()
    assert described == {
        "allowed_hosts": ["b.example", "*.a.example"],
        "report_only": False,
        "exempt_paths": ["/healthz"],
    }
    assert TrustedHosts(**described).describe() == described


@pytest.mark.parametrize(
    ("accept", "content_type", "text"),
    [
        pytest.param("text/html", "text/html; charset=utf-8", "<p>this server", id="html"),
        pytest.param("text/plain", "text/plain; charset=utf-8", "this server", id="text"),
        pytest.param("application/json", "application/json", '{"error":"this', id="json"),
    ],
)
def test_webtest_hosts(accept: str, content_type: str, text: str) -> None:
    app = webtest.TestApp(Stack([TrustedHosts(allowed_hosts=["localhost"])], text_app()), lint=True)
    assert app.get("/").text == "hello"
    response = app.get("/", headers={"Host": "evil.example", "Accept": accept}, status=400)
    assert response.headers["Content-Type"] == content_type
    assert text in response.text
    assert "localhost" not in response.text  # says what was refused, not the allow-list


# -- health checks: exempt_paths --------------------------------------------------


def health_stack(**options: Any) -> webtest.TestApp:
    layer = TrustedHosts(allowed_hosts=["example.com"], exempt_paths=["/healthz"], **options)
    return webtest.TestApp(validator(Stack([layer], text_app())), lint=True)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_health_path_answers_a_probe_by_ip_address(method: str) -> None:
    app = health_stack()
    response = app.request("/healthz", method=method, headers={"Host": "10.0.0.5"})
    assert response.status_int == 200
    if method == "GET":
        assert response.text == "hello"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/", id="root"),
        pytest.param("/healthz/x", id="below-exact"),
        pytest.param("/healthzx", id="prefix"),
        pytest.param("/healthz/..%2fadmin", id="encoded-dot-dot"),
        pytest.param("/public/../healthz", id="raw-differs"),
        pytest.param("//healthz/../admin", id="resolves-elsewhere"),
    ],
)
def test_every_other_path_still_refuses_a_foreign_host(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    layer = TrustedHosts(allowed_hosts=["example.com"], exempt_paths=["/healthz"])
    recorder = Recorder()
    environ = make_environ(HTTP_HOST="10.0.0.5", PATH_INFO=unquote(path))
    with caplog.at_level(logging.WARNING, logger="headerware"):
        consume(Stack([layer], text_app())(environ, recorder))
    assert recorder.status == "400 Bad Request"
    assert [r.hw_event for r in caplog.records] == ["host_refused"]  # type: ignore[attr-defined]


def test_health_exemption_keeps_allowed_hosts_working() -> None:
    app = health_stack()
    assert app.get("/page", headers={"Host": "example.com"}).text == "hello"
    assert app.get("/healthz", headers={"Host": "example.com"}).text == "hello"


def test_exempt_paths_configuration_errors() -> None:
    with pytest.raises(OptionError) as info:
        TrustedHosts(allowed_hosts=["example.com"], exempt_paths="/healthz")
    assert info.value.option == "exempt_paths"
    with pytest.raises(OptionError) as info:
        TrustedHosts(allowed_hosts=["example.com"], exempt_paths=["healthz"])
    assert info.value.option == "exempt_paths"


# -- TrustedProxy ---------------------------------------------------------------

FORWARDED = {
    "REMOTE_ADDR": "10.0.0.2",
    "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.7, 10.0.0.1",
    "HTTP_X_FORWARDED_PROTO": "http, https",
    "HTTP_X_FORWARDED_HOST": "spoofed.example, example.com:8443",
    "HTTP_X_FORWARDED_PORT": "8443",
    "HTTP_X_FORWARDED_PREFIX": "/app",
}
KEYS = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")


@pytest.mark.parametrize(
    ("counts", "headers"),
    [
        pytest.param({}, FORWARDED, id="trust-nothing"),
        pytest.param({"x_for": 1}, FORWARDED, id="for-1"),
        pytest.param({"x_for": 2}, FORWARDED, id="for-2"),
        pytest.param({"x_for": 5}, FORWARDED, id="for-too-many"),
        pytest.param({"x_proto": 1}, FORWARDED, id="proto-1"),
        pytest.param({"x_proto": 2}, FORWARDED, id="proto-2"),
        pytest.param({"x_host": 1}, FORWARDED, id="host-with-port"),
        pytest.param({"x_host": 2}, FORWARDED, id="host-2"),
        pytest.param({"x_host": 1, "x_port": 1}, FORWARDED, id="host-and-port"),
        pytest.param({"x_port": 1}, FORWARDED, id="port-only"),
        pytest.param({"x_prefix": 1}, FORWARDED, id="prefix"),
        pytest.param(
            {"x_for": 1, "x_proto": 1, "x_host": 1, "x_port": 1, "x_prefix": 1},
            FORWARDED,
            id="all",
        ),
        pytest.param(
            {"x_host": 1}, {"HTTP_X_FORWARDED_HOST": "[2001:db8::1]"}, id="ipv6-host-no-port"
        ),
        pytest.param(
            {"x_host": 1, "x_port": 1},
            {"HTTP_X_FORWARDED_HOST": "[2001:db8::1]:8000", "HTTP_X_FORWARDED_PORT": "9000"},
            id="ipv6-host-port",
        ),
        pytest.param({"x_for": 1, "x_proto": 1}, {}, id="no-headers"),
        pytest.param({"x_for": 1}, {"HTTP_X_FORWARDED_FOR": ""}, id="empty-header"),
    ],
)
def test_proxy_matches_werkzeug(counts: dict[str, int], headers: dict[str, str]) -> None:
    full = {"x_for": 0, "x_proto": 0, "x_host": 0, "x_port": 0, "x_prefix": 0, **counts}
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update({key: environ.get(key) for key in KEYS})
        seen["orig"] = proxy_original(environ)
        return text_app()(environ, start_response)  # type: ignore[no-any-return]

    consume(TrustedProxy(app, **counts)(make_environ(**headers), Recorder()))
    ours = dict(seen)
    seen.clear()
    consume(ProxyFix(app, **full)(make_environ(**headers), Recorder()))  # type: ignore[arg-type]
    theirs = dict(seen)
    assert {k: ours[k] for k in KEYS} == {k: theirs[k] for k in KEYS}
    if any(counts.values()):
        assert ours["orig"]["wsgi.url_scheme"] == "http"
        assert ours["orig"]["HTTP_HOST"] == "localhost"
    else:
        assert ours["orig"] is None


def test_proxy_sets_scheme_for_later_layers() -> None:
    seen: list[bool] = []

    class ReadScheme(Layer):
        name = "read"

        def on_request(self, ctx: Any) -> None:
            seen.append(ctx.is_secure)

    stack = Stack([TrustedProxy(x_proto=1), ReadScheme()], text_app())
    consume(stack(make_environ(HTTP_X_FORWARDED_PROTO="https"), Recorder()))
    consume(
        Stack([ReadScheme()], text_app())(make_environ(HTTP_X_FORWARDED_PROTO="https"), Recorder())
    )
    assert seen == [True, False]


def test_default_trusts_nothing() -> None:
    environ = make_environ(**FORWARDED)
    before = dict(environ)
    consume(TrustedProxy(text_app())(environ, Recorder()))
    environ.pop(CONTEXT_KEY)  # the adapter's own key, not a change by the layer
    assert environ == before


@pytest.mark.parametrize("scheme", ["ftp", "javascript", "HTTPS"])
def test_proxy_scheme_other_than_http_or_https_refused(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["scheme"] = environ["wsgi.url_scheme"]
        seen["client"] = environ["REMOTE_ADDR"]
        return text_app()(environ, start_response)  # type: ignore[no-any-return]

    layer = TrustedProxy(x_for=1, x_proto=1)
    environ = make_environ(
        REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_PROTO=scheme, HTTP_X_FORWARDED_FOR="203.0.113.7"
    )
    with caplog.at_level(logging.WARNING, logger="headerware"):
        consume(Stack([layer], app)(environ, Recorder()))
    assert seen == {"scheme": "http", "client": "203.0.113.7"}
    assert [r.hw_event for r in caplog.records] == ["proxy_scheme_refused"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [-1, True, 1.5, "1"])
def test_proxy_counts_validated(value: Any) -> None:
    with pytest.raises(OptionError, match="x_for") as info:
        TrustedProxy(x_for=value)
    assert info.value.option == "x_for"


def test_describe_proxy_is_option_shaped() -> None:
    described = TrustedProxy(x_proto=1).describe()
    assert described == {"x_for": 0, "x_proto": 1, "x_host": 0, "x_port": 0, "x_prefix": 0}
    assert TrustedProxy(**described).describe() == described
