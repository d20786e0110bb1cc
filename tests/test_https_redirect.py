"""HTTPSRedirect: redirect, exemptions, bad hosts, report-only, runs after the host check."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import pytest
import webtest

from headerware import Layer, OptionError, Stack
from headerware.config import stack_from_dict
from headerware.layers.hosts import TrustedHosts
from headerware.layers.https_redirect import HTTPSRedirect
from headerware.layers.security import SecurityHeaders
from headerware.registry import ORDER
from tests.contract import LayerContract, Recorder, consume, make_environ

Headers = list[tuple[str, str]]

#: The security headers a plain-HTTP HTML response gets by default (no HSTS).
DOCUMENT_NAMES = {
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
    "Origin-Agent-Cluster",
    "Permissions-Policy",
    "Referrer-Policy",
    "X-Content-Type-Options",
    "X-DNS-Prefetch-Control",
    "X-Download-Options",
    "X-Frame-Options",
    "X-Permitted-Cross-Domain-Policies",
    "X-XSS-Protection",
}


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.hw_fields for r in caplog.records if getattr(r, "hw_event", None) == name]


class App:
    """Answers ``ok`` as HTML; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "2")])
        return [b"ok"]


def run(app: Any, **environ: Any) -> tuple[Recorder, bytes]:
    """Call ``app`` once; an environ key given as ``None`` is left out of the request."""
    env = make_environ(**environ)
    for key in [key for key, value in env.items() if value is None]:
        del env[key]
    recorder = Recorder()
    body = consume(app(env, recorder))
    return recorder, body


def redirecting(app: Any, **options: Any) -> Stack:
    """The redirect with the security headers outside it, as in the canonical order."""
    return Stack([SecurityHeaders(), HTTPSRedirect(**options)], app)


def security(recorder: Recorder) -> set[str]:
    names = {name for name, _ in recorder.headers}
    return names & (DOCUMENT_NAMES | {"Strict-Transport-Security"})


@pytest.mark.parametrize(
    ("options", "environ", "status", "location"),
    [
        pytest.param({}, {}, "301 Moved Permanently", "https://localhost/", id="root"),
        pytest.param(
            {},
            {"PATH_INFO": "/a/b", "QUERY_STRING": "x=1&y=%20"},
            "301 Moved Permanently",
            "https://localhost/a/b?x=1&y=%20",
            id="path-and-query",
        ),
        pytest.param(
            {}, {"REQUEST_METHOD": "HEAD"}, "301 Moved Permanently", "https://localhost/", id="head"
        ),
        pytest.param(
            {},
            {"REQUEST_METHOD": "POST"},
            "308 Permanent Redirect",
            "https://localhost/",
            id="post",
        ),
        pytest.param(
            {"status": 308},
            {},
            "308 Permanent Redirect",
            "https://localhost/",
            id="308",
        ),
        pytest.param(
            {"status": 302},
            {"REQUEST_METHOD": "PUT"},
            "307 Temporary Redirect",
            "https://localhost/",
            id="302-put-becomes-307",
        ),
        pytest.param(
            {},
            {"HTTP_HOST": "example.com:8080"},
            "301 Moved Permanently",
            "https://example.com/",
            id="http-port-dropped",
        ),
        pytest.param(
            {"https_port": 8443},
            {"HTTP_HOST": "Example.com"},
            "301 Moved Permanently",
            "https://Example.com:8443/",
            id="https-port",
        ),
        pytest.param(
            {},
            {"HTTP_HOST": "[::1]:8000"},
            "301 Moved Permanently",
            "https://[::1]/",
            id="ipv6",
        ),
        pytest.param(
            {},
            {"HTTP_HOST": None, "SERVER_NAME": "srv.example", "SERVER_PORT": "80"},
            "301 Moved Permanently",
            "https://srv.example/",
            id="no-host-header",
        ),
        pytest.param(
            {},
            {"PATH_INFO": "/a\r\nSet-Cookie: x=1", "QUERY_STRING": "q=\r\n"},
            "301 Moved Permanently",
            "https://localhost/a%0D%0ASet-Cookie:%20x=1?q=%0D%0A",
            id="crlf-encoded",
        ),
        pytest.param(
            {},
            {"PATH_INFO": "/caf\xc3\xa9/100%", "SCRIPT_NAME": "/app"},
            "301 Moved Permanently",
            "https://localhost/app/caf%C3%A9/100%25",
            id="utf8-path-and-percent",
        ),
        pytest.param(
            {},
            {"PATH_INFO": "//evil.example/x"},
            "301 Moved Permanently",
            "https://localhost//evil.example/x",
            id="double-slash-stays-on-host",
        ),
    ],
)
def test_https_redirect(
    options: dict[str, Any], environ: dict[str, Any], status: str, location: str
) -> None:
    app = App()
    recorder, _ = run(redirecting(app, **options), **environ)
    assert recorder.status == status
    assert recorder.header_values("Location") == [location]
    assert app.calls == 0
    # The redirect itself carries the security headers (no HSTS: it is plain HTTP).
    assert security(recorder) == DOCUMENT_NAMES


@pytest.mark.parametrize(
    ("path", "redirected"),
    [
        pytest.param("/healthz", False, id="exact"),
        pytest.param("/healthz/deep", True, id="exact-is-not-a-prefix"),
        pytest.param("/healthzz", True, id="no-string-prefix"),
        pytest.param("/.well-known/acme-challenge/token", False, id="prefix"),
        pytest.param("/.well-known/acme-challenge", False, id="prefix-covers-its-root"),
        pytest.param("/.well-known/acme-challengex", True, id="prefix-on-a-segment-boundary"),
        pytest.param("/.well-known/other", True, id="other"),
    ],
)
def test_https_redirect_exempt_paths(path: str, redirected: bool) -> None:
    app = App()
    layer = HTTPSRedirect(app, exempt=["/healthz", "/.well-known/acme-challenge/*"])
    recorder, _ = run(layer, PATH_INFO=path)
    assert recorder.status.startswith("301") is redirected
    assert app.calls == (0 if redirected else 1)


@pytest.mark.parametrize(
    ("path", "redirected"),
    [
        pytest.param("/.well-known", False, id="the-root-itself"),
        pytest.param("/.well-known/acme/x", False, id="below"),
        pytest.param("/.well-known/a/../../admin", True, id="dot-segments-leave-the-subtree"),
        pytest.param("/admin/../.well-known/x", True, id="raw-path-outside"),
        pytest.param("/admin", True, id="outside"),
    ],
)
def test_https_redirect_exemption_needs_raw_and_resolved_path(path: str, redirected: bool) -> None:
    app = App()
    layer = HTTPSRedirect(app, exempt=["/.well-known/*"])
    recorder, _ = run(layer, PATH_INFO=path)
    assert recorder.status.startswith("301") is redirected
    assert app.calls == (0 if redirected else 1)
    if redirected:  # the Location is the path as sent: the https request is judged anew
        assert recorder.header_values("Location") == [f"https://localhost{path}"]


def test_https_requests_are_not_redirected() -> None:
    app = App()
    recorder, body = run(redirecting(app), **{"wsgi.url_scheme": "https"})
    assert (recorder.status, body, app.calls) == ("200 OK", b"ok", 1)
    assert recorder.header_values("Strict-Transport-Security") == [
        "max-age=31536000; includeSubDomains"
    ]


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("evil.example\r\nSet-Cookie: a=1", id="crlf"),
        pytest.param("evil.example/path", id="slash"),
        pytest.param("user@evil.example", id="userinfo"),
        pytest.param("a b", id="space"),
    ],
)
def test_https_redirect_refuses_a_bad_host(host: str, caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        recorder, body = run(redirecting(app), HTTP_HOST=host)
    assert recorder.status == "400 Bad Request"
    assert json.loads(body) == {"error": "Bad Request: invalid Host header"}
    assert host.encode() not in body
    assert recorder.header_values("Location") == []
    assert recorder.header_values("X-Frame-Options") == ["DENY"]
    assert events(caplog, "https_redirect_bad_host")
    assert app.calls == 0


def test_https_redirect_report_only(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    layer = redirecting(app, report_only=True)
    with caplog.at_level(logging.WARNING, logger="headerware"):
        recorder, body = run(layer, PATH_INFO="/x", REQUEST_METHOD="POST")
    assert (recorder.status, body, app.calls) == ("200 OK", b"ok", 1)
    assert security(recorder) == DOCUMENT_NAMES
    (event,) = events(caplog, "https_redirect")
    assert event == {
        "layer": "https_redirect",
        "path": "/x",
        "status": "308 Permanent Redirect",
        "report_only": True,
    }


def test_https_redirect_through_webtest() -> None:
    client = webtest.TestApp(HTTPSRedirect(App()), lint=True)
    response = client.get("/page?a=1", status=301)
    assert response.headers["Location"] == "https://localhost/page?a=1"
    assert client.post("/form", status=308).headers["Location"] == "https://localhost/form"
    assert client.get("https://localhost/page").text == "ok"


# -- its place: after the host check (issue 11, item 13) -------------------------------


def test_registered_right_after_trusted_hosts() -> None:
    assert ORDER["https_redirect"] == ORDER["trusted_hosts"] + 1
    assert ORDER["security_headers"] < ORDER["trusted_hosts"]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda app: Stack(
                [SecurityHeaders(), TrustedHosts(allowed_hosts=["example.com"]), HTTPSRedirect()],
                app,
            ),
            id="issue11-13-foreign-host-stack-in-canonical-order",
        ),
        pytest.param(
            lambda app: stack_from_dict(
                {
                    "https_redirect": {},
                    "trusted_hosts": {"allowed_hosts": ["example.com"]},
                    "security_headers": {},
                },
                app,
            ),
            id="issue11-13-foreign-host-from-config",
        ),
    ],
)
def test_a_foreign_host_gets_400_not_a_redirect(
    build: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    stack = build(app)
    with caplog.at_level(logging.WARNING, logger="headerware"):
        refused, _ = run(
            stack, HTTP_HOST="evil.example", PATH_INFO="/reset", HTTP_ACCEPT="text/html"
        )
    assert refused.status.startswith("400")
    assert refused.header_values("Location") == []
    # The refusal (an HTML page for a browser) still carries the document headers.
    assert security(refused) == DOCUMENT_NAMES
    assert events(caplog, "host_refused") and not events(caplog, "https_redirect")
    # Nothing else was lost: the served host is still redirected, HTTPS still served.
    served, _ = run(stack, HTTP_HOST="example.com", PATH_INFO="/reset")
    assert served.status == "301 Moved Permanently"
    assert served.header_values("Location") == ["https://example.com/reset"]
    secure, body = run(stack, HTTP_HOST="example.com", **{"wsgi.url_scheme": "https"})
    assert (secure.status, body, app.calls) == ("200 OK", b"ok", 1)


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "option", "match"),
    [
        pytest.param({"status": 303}, "status", "303 is not one of", id="status"),
        pytest.param({"https_port": 0}, "https_port", "0 is not a TCP port", id="port"),
        pytest.param({"https_port": True}, "https_port", "True is not a TCP port", id="port-bool"),
        pytest.param({"exempt": ["healthz"]}, "exempt", "must start with '/'", id="exempt"),
        pytest.param(
            {"exempt": ["/api/*/x"]},
            "exempt",
            "has a '\\*' that is not a final '/\\*'",
            id="star",
        ),
        pytest.param(
            {"exempt": ["/a/../b"]}, "exempt", "not a normalised path", id="exempt-dot-segments"
        ),
        pytest.param({"exempt": "/healthz"}, "exempt", "is a string", id="str"),
        pytest.param({"report_only": 1}, "report_only", "1 is not a boolean", id="report-only"),
    ],
)
def test_bad_config_fails_at_start_up(options: dict[str, Any], option: str, match: str) -> None:
    with pytest.raises(OptionError, match=match) as info:
        HTTPSRedirect(**options)
    assert info.value.option == option
    assert str(info.value).startswith(f"{option}: ")


def test_describe_is_option_shaped() -> None:
    layer = HTTPSRedirect(status=308, exempt=["/healthz"], https_port=8443)
    described = layer.describe()
    assert described == {
        "status": 308,
        "exempt": ["/healthz"],
        "https_port": 8443,
        "report_only": False,
    }
    assert HTTPSRedirect(**described).describe() == described


class TestHTTPSRedirectContract(LayerContract):
    def make_layer(self) -> Layer:
        return HTTPSRedirect()

    def environ_extra(self) -> dict[str, Any]:
        return {"wsgi.url_scheme": "https", "SERVER_PORT": "443"}


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        pytest.param("text/html", "text/html", id="issue15-5-bad-host-html"),
        pytest.param("text/plain", "text/plain", id="issue15-5-bad-host-text"),
        pytest.param("*/*", "application/json", id="issue15-5-bad-host-json"),
    ],
)
def test_bad_host_refusal_is_negotiated(accept: str, content_type: str) -> None:
    client = webtest.TestApp(redirecting(App()), lint=True)
    refused = client.get(
        "/",
        headers={"Accept": accept},
        extra_environ={"HTTP_HOST": "user@evil.example"},
        status=400,
    )
    assert refused.content_type == content_type
    assert "invalid Host header" in refused.text
    assert "evil.example" not in refused.text  # what was refused, not the value
    assert refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Frame-Options"] == "DENY"
