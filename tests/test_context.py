"""The per-request context as the WSGI adapter builds it: the views layers read."""

from __future__ import annotations

import io

import pytest

from headerware.core.context import ACCEPT_LIMIT, parse_language_accept, parse_mime_accept
from headerware.wsgi import WSGIContext
from tests.contract import make_environ


def test_request_views() -> None:
    environ = make_environ(
        REQUEST_METHOD="post",
        PATH_INFO="//api/./x/../y",
        SCRIPT_NAME="/mount",
        QUERY_STRING="a=1",
        REMOTE_ADDR="192.0.2.1",
        HTTP_HOST="example.com:8443",
        HTTP_X_THING="yes",
        CONTENT_TYPE="text/plain",
    )
    ctx = WSGIContext(environ)
    assert ctx.method == "POST"
    assert ctx.raw_path == "//api/./x/../y"
    assert ctx.path == "/api/y"
    assert ctx.root_path == "/mount"
    assert ctx.query_string == "a=1"
    assert ctx.client == "192.0.2.1"
    assert ctx.host == "example.com:8443"
    assert ctx.url_root == "http://example.com:8443/mount"
    assert ctx.header("x-thing") == ctx.header("X-Thing") == "yes"
    assert ctx.header("content-type") == "text/plain"
    assert ctx.header("absent") is None
    items = dict(ctx.header_items())
    assert items["X-Thing"] == "yes" and items["Content-Type"] == "text/plain"


def test_host_falls_back_to_the_server_name() -> None:
    environ = make_environ(SERVER_NAME="internal", SERVER_PORT="8080")
    del environ["HTTP_HOST"]
    assert WSGIContext(environ).host == "internal:8080"
    environ["SERVER_PORT"] = "80"
    assert WSGIContext(environ).host == "internal"


def test_changes_reach_the_application_side() -> None:
    environ = make_environ(HTTP_COOKIE="a=1")
    ctx = WSGIContext(environ)
    ctx.set_header("x-added", "1")
    ctx.set_header("cookie", None)
    ctx.publish("headerware.thing", 42)
    ctx.set_origin(scheme="https", host="[::1]:8443", client="203.0.113.9", root_path="/p")
    assert environ["HTTP_X_ADDED"] == "1"
    assert "HTTP_COOKIE" not in environ
    assert ctx.published("headerware.thing") == 42 == environ["headerware.thing"]
    assert ctx.published("headerware.other", "none") == "none"
    assert ctx.is_secure and environ["wsgi.url_scheme"] == "https"
    assert environ["SERVER_NAME"] == "[::1]" and environ["HTTP_HOST"] == "[::1]:8443"
    assert environ["REMOTE_ADDR"] == "203.0.113.9" and environ["SCRIPT_NAME"] == "/p"


def test_set_cookies_rebuilds_the_header_and_keeps_the_original() -> None:
    environ = make_environ(HTTP_COOKIE="a=1; bad cookie; a=2; b=3")
    ctx = WSGIContext(environ)
    cookies = ctx.cookies
    assert dict(cookies) == {"a": "1", "b": "3"}
    ctx.set_cookies(cookies)
    assert environ["HTTP_COOKIE"] == "a=1; b=3"
    assert environ["headerware.cookies.orig"] == "a=1; bad cookie; a=2; b=3"
    ctx.set_cookies(cookies.__class__([]))
    assert "HTTP_COOKIE" not in environ
    assert environ["headerware.cookies.orig"] == "a=1; bad cookie; a=2; b=3", "kept once"


@pytest.mark.parametrize(
    ("length", "body"),
    [
        pytest.param("5", b"hello", id="within"),
        pytest.param("6", None, id="over-limit"),
        pytest.param("-1", None, id="negative"),
        pytest.param("x", None, id="not-a-number"),
        pytest.param("", b"", id="absent"),
    ],
)
def test_read_body_is_bounded_and_leaves_the_body_readable(length: str, body: bytes | None) -> None:
    environ = make_environ(CONTENT_LENGTH=length, **{"wsgi.input": io.BytesIO(b"hello!")})
    ctx = WSGIContext(environ)
    assert ctx.read_body(5) == body
    if body is not None:
        assert environ["wsgi.input"].read() == body, "the application reads it again"


def test_accept_is_parsed_once_and_capped() -> None:
    ctx = WSGIContext(make_environ(HTTP_ACCEPT="application/json;q=0.9, text/html"))
    assert ctx.accept is ctx.accept and ctx.accept.best == "text/html"
    huge = "text/html, " + ", ".join(f"x/y{i};q=0.1" for i in range(100_000))
    parsed = parse_mime_accept(huge)
    assert parsed.best == "text/html"
    assert len(parsed) <= ACCEPT_LIMIT // 4, "a 1 MiB value is cut before parsing"
    languages = parse_language_accept("es, " + "en;q=0.1, " * 100_000)
    assert languages.best == "es" and len(languages) <= ACCEPT_LIMIT // 4


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        pytest.param(None, "application/json", id="no-accept-json"),
        pytest.param("*/*", "application/json", id="curl-json"),
        pytest.param(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html; charset=utf-8",
            id="browser-html",
        ),
        pytest.param("text/plain", "text/plain; charset=utf-8", id="text"),
        pytest.param("text/html;q=0.1, application/json", "application/json", id="q-values"),
        pytest.param("text/html, " * 200, "application/json", id="oversized-not-parsed"),
    ],
)
def test_refusals_negotiate_their_body(accept: str | None, content_type: str) -> None:
    from headerware.responses import error_response

    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    refusal = error_response(WSGIContext(make_environ(**extra)), "403 Forbidden", "Forbidden")
    headers = dict(refusal.headers)
    assert headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Length"] == str(len(refusal.body))
    assert b"Forbidden" in refusal.body
