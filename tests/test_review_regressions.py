"""Regression tests for bugs found in the adversarial review of headerware."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from headerware import Context, Layer, ResponseHead, Stack
from tests.contract import Recorder, consume, make_environ

Headers = list[tuple[str, str]]


class _Broken(Layer):
    name = "broken"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        raise RuntimeError("response bug")


class _Holder(Layer):
    """A layer that asks for the complete body (the engine holds the response)."""

    name = "holder"

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.hold_body(lambda response, chunks: None)


class TestEngineGeneratorAppWithFailingResponseHook:
    """A generator app calls start_response on its first iteration: when a response
    hook fails there, the 500 must not carry the application's body (which would go
    out without the failed layer's headers, e.g. an HTML page without its CSP)."""

    @pytest.mark.parametrize("body_layer", [False, True], ids=["plain", "held-body"])
    def test_app_body_replaced_and_closed(
        self, caplog: pytest.LogCaptureFixture, body_layer: bool
    ) -> None:
        closed: list[bool] = []

        def app(environ: Any, start_response: Any) -> Iterator[bytes]:
            start_response("200 OK", [("Content-Type", "text/html")])
            try:
                yield b"<p>secret page</p>"
                yield b"<p>more</p>"
            finally:
                closed.append(True)

        layers: list[Layer] = [_Broken()]
        if body_layer:
            layers.append(_Holder())
        recorder = Recorder()
        with caplog.at_level(logging.ERROR, logger="headerware"):
            body = consume(Stack(layers, app)(make_environ(), recorder))
        assert recorder.status.startswith("500")
        assert b"secret" not in body
        assert body == b"Internal Server Error"
        assert closed == [True]


class TestCookiePolicyAttributeControlCharacters:
    """A Set-Cookie whose attributes hold CR/LF or another control character (an app
    reflecting a Path or Domain) must be refused like a bad value, never passed on."""

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param("a=b; Path=/x\r\nX-Evil: 1", id="crlf-in-path"),
            pytest.param("a=b; Domain=example.com\nX-Evil: 1", id="lf-in-domain"),
            pytest.param("a=b; Path=/\x00", id="nul"),
            pytest.param("a=b; Max-Age=60; Comment=\u2028", id="non-latin-1"),
            pytest.param("a=b; Path=/; Secure\r", id="cr-after-flag"),
        ],
    )
    def test_refused_and_logged(self, caplog: pytest.LogCaptureFixture, header: str) -> None:
        from headerware.layers.cookies import CookiePolicy

        def app(environ: Any, start_response: Any) -> list[bytes]:
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/plain"),
                    ("Set-Cookie", "keep=1; Path=/"),
                    ("Set-Cookie", header),
                ],
            )
            return [b"ok"]

        recorder = Recorder()
        with caplog.at_level(logging.WARNING, logger="headerware"):
            body = consume(CookiePolicy(app)(make_environ(), recorder))
        assert body == b"ok"
        cookies = recorder.header_values("Set-Cookie")
        assert len(cookies) == 1 and cookies[0].startswith("keep=1")
        for _, value in recorder.headers:
            assert "\r" not in value and "\n" not in value and "\x00" not in value
        assert "cookie_refused" in caplog.text


def _echo_path_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode("latin-1")]


class TestPathMatchingAgainstTheRawPath:
    """Servers decode ``%2f`` into PATH_INFO and frameworks route the raw PATH_INFO
    (a ``<path:...>`` converter matches ``../x``), so a path whose normalised form
    leaves a guarded prefix (or enters an exempt one) must not change the decision:
    guards apply when the raw OR the normalised path matches; exemptions need both."""

    @pytest.mark.parametrize(
        "path",
        [
            pytest.param("/api/files/../../public", id="dotdot-out-of-guard"),
            pytest.param("/api/./x/../..", id="dot-and-dotdot"),
        ],
    )
    def test_bearer_guard_not_escaped_by_dot_segments(self, path: str) -> None:
        from headerware.layers.auth import BearerAuth

        app = BearerAuth(_echo_path_app, paths=["/api/*"], tokens={"good-token"})
        recorder = Recorder()
        consume(app(make_environ(PATH_INFO=path), recorder))
        assert recorder.status.startswith("401")

    def test_bearer_guard_still_applies_to_normalised_paths(self) -> None:
        from headerware.layers.auth import BearerAuth

        app = BearerAuth(_echo_path_app, paths=["/api/*"], tokens={"good-token"})
        for path in ("//api/x", "/static/../api/x", "/api/x"):
            recorder = Recorder()
            consume(app(make_environ(PATH_INFO=path), recorder))
            assert recorder.status.startswith("401"), path
        recorder = Recorder()
        consume(app(make_environ(PATH_INFO="/public"), recorder))
        assert recorder.status.startswith("200")

    def test_csrf_exemption_not_reached_by_dot_segments(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        from headerware.layers.csrf import CSRFProtect

        app = CSRFProtect(_echo_path_app, exempt_paths=["/hooks/*"])
        cross_site = {"REQUEST_METHOD": "POST", "HTTP_SEC_FETCH_SITE": "cross-site"}
        recorder = Recorder()
        # A cross-site form to /admin/..%2fhooks/x: the server decodes %2f.
        with caplog.at_level(logging.INFO, logger="headerware"):
            consume(app(make_environ(PATH_INFO="/admin/../hooks/x", **cross_site), recorder))
        assert recorder.status.startswith("403")
        assert "csrf_refused" in caplog.text
        recorder = Recorder()
        consume(app(make_environ(PATH_INFO="/hooks/x", **cross_site), recorder))
        assert recorder.status.startswith("200")


class TestTrustedHostsWildcardSpoof:
    """A Host ending in ``.example.com`` is not a subdomain when what precedes it is
    not a host name: applications build reset links from Host, so
    ``evil.com#.example.com`` or ``evil.com@x.example.com`` must be refused."""

    @pytest.mark.parametrize(
        "host",
        [
            pytest.param("evil.com#.example.com", id="fragment"),
            pytest.param("evil.com/.example.com", id="path"),
            pytest.param("evil.com?.example.com", id="query"),
            pytest.param("evil.com@x.example.com", id="userinfo"),
            pytest.param("evil.com\\.example.com", id="backslash"),
            pytest.param("evil.com .example.com", id="space"),
            pytest.param("evil.com\xa0.example.com", id="nbsp"),
            pytest.param("example.com\xa0", id="trailing-nbsp-exact"),
        ],
    )
    def test_refused(self, caplog: pytest.LogCaptureFixture, host: str) -> None:
        from headerware.layers.hosts import TrustedHosts

        layer = TrustedHosts(_echo_path_app, allowed_hosts=["example.com", "*.example.com"])
        recorder = Recorder()
        with caplog.at_level(logging.WARNING, logger="headerware"):
            consume(layer(make_environ(HTTP_HOST=host), recorder))
        assert recorder.status.startswith("400")
        assert "host_refused" in caplog.text

    @pytest.mark.parametrize(
        "host", ["example.com", "a.example.com", "A.B.Example.COM:8443", "x_y.example.com."]
    )
    def test_still_allowed(self, host: str) -> None:
        from headerware.layers.hosts import TrustedHosts

        layer = TrustedHosts(_echo_path_app, allowed_hosts=["example.com", "*.example.com"])
        recorder = Recorder()
        consume(layer(make_environ(HTTP_HOST=host), recorder))
        assert recorder.status.startswith("200")


class TestEngineWriteAfterFailingResponseHook:
    """An app using the legacy ``write()`` callable: once a response hook failed and
    a 500 was started, what the app writes must not be sent under it."""

    @pytest.mark.parametrize("body_layer", [False, True], ids=["plain", "held-body"])
    def test_written_body_not_sent(self, body_layer: bool) -> None:
        written: list[bytes] = []

        def server_start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
            recorder(status, headers, exc_info)
            return written.append

        def app(environ: Any, start_response: Any) -> list[bytes]:
            write = start_response("200 OK", [("Content-Type", "text/html")])
            write(b"<p>secret page</p>")
            return []

        layers: list[Layer] = [_Broken()]
        if body_layer:
            layers.append(_Holder())
        recorder = Recorder()
        body = consume(Stack(layers, app)(make_environ(), server_start_response))
        assert recorder.status.startswith("500")
        assert b"".join(written) + body == b"Internal Server Error"
