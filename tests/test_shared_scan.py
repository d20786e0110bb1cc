"""The engine's shared response scan: adjacent built-in layers read the app's headers once.

The fast path must give exactly what the layers' own hooks give, one after the other;
these tests run the same requests through a stack with and without the grouping.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import headerware.engine as engine
from headerware.engine import Context, Layer, Stack
from headerware.layers import csp as csp_module
from headerware.layers.cookies import CookiePolicy
from headerware.layers.cors import CORS
from headerware.layers.csp import ContentSecurityPolicy
from headerware.layers.security import SecurityHeaders
from headerware.layers.signing import SignedCookies
from tests.contract import Recorder, consume, make_environ, text_app

Headers = list[tuple[str, str]]
ORIGIN = "https://app.example.com"
KEY = "shared-scan-test-key-0123456789abcdef"


def full_stack(app: Any) -> Stack:
    return Stack(
        [
            SecurityHeaders(),
            ContentSecurityPolicy(report_to="https://r.example.com/csp"),
            CORS(allow_origins=[ORIGIN], allow_credentials=True),
            CookiePolicy(),
            SignedCookies(cookies=["username"], secret_keys=[KEY]),
        ],
        app,
    )


def ungrouped(layers: Any) -> tuple[tuple[int, int, None], ...]:
    return tuple((index, index + 1, None) for index in range(len(layers)))


def run(app: Any, environ: dict[str, Any]) -> tuple[str, Headers, bytes]:
    csp_module._NONCE_POOL.clear()
    csp_module._NONCE_POOL.extend(["fixed-nonce"] * 4)
    recorder = Recorder()
    body = consume(app(environ, recorder))
    csp_module._NONCE_POOL.clear()
    return recorder.status, list(recorder.headers), body


APP_HEADERS = [
    pytest.param([], id="plain"),
    pytest.param([("Content-Type", "application/json")], id="json"),
    pytest.param([("content-type", "application/problem+json")], id="json-lower-case"),
    pytest.param([("Vary", "Accept-Encoding")], id="vary"),
    pytest.param([("VARY", "Accept")], id="vary-odd-spelling"),
    pytest.param([("Access-Control-Allow-Origin", "*")], id="app-cors"),
    pytest.param([("Content-Security-Policy", "default-src 'self'")], id="app-csp"),
    pytest.param([("content-security-policy-report-only", "x")], id="app-csp-ro"),
    pytest.param([("Reporting-Endpoints", 'a="https://a.example"')], id="app-endpoints"),
    pytest.param([("X-Frame-Options", "SAMEORIGIN")], id="app-frame-options"),
    pytest.param([("Server", "gunicorn"), ("X-Powered-By", "php")], id="removed"),
    pytest.param([("Set-Cookie", "username=bob; Path=/")], id="set-cookie"),
    pytest.param([("X-Custom", "1"), ("Cache-Control", "no-store")], id="unrelated"),
    pytest.param(
        [("Vary", "Cookie"), ("Set-Cookie", "theme=dark"), ("X-Frame-Options", "DENY")],
        id="several-layers-concerned",
    ),
    pytest.param(
        [("Content-Security-Policy", "default-src 'none'"), ("Vary", "Origin")],
        id="csp-and-vary",
    ),
]
REQUESTS = [
    pytest.param({}, id="http"),
    pytest.param({"wsgi.url_scheme": "https", "HTTP_ORIGIN": ORIGIN}, id="https-allowed-origin"),
    pytest.param({"HTTP_ORIGIN": "https://evil.example"}, id="foreign-origin"),
]


@pytest.mark.parametrize("extra", REQUESTS)
@pytest.mark.parametrize("app_headers", APP_HEADERS)
def test_shared_scan_gives_what_the_hooks_give_one_by_one(
    monkeypatch: pytest.MonkeyPatch, app_headers: Headers, extra: dict[str, Any]
) -> None:
    grouped = full_stack(text_app(extra=app_headers))
    expected_groups = engine._Chain(grouped.layers).response_groups
    assert any(scan is not None for _, _, scan in expected_groups)
    got = run(grouped, make_environ(**extra))
    monkeypatch.setattr(engine, "_groups", ungrouped)
    plain = full_stack(text_app(extra=app_headers))
    assert run(plain, make_environ(**extra)) == got


class Watching(Layer):
    """Offers the clean path; ``fail`` makes it raise there, ``adds`` declares a name."""

    name = "watching"

    def __init__(self, *, fail: bool = False, adds: str | None = None) -> None:
        super().__init__()
        self.fail = fail
        self.added = adds
        self._watched = frozenset({"x-watched"})
        self._adds = frozenset({adds}) if adds else frozenset()

    def on_response(self, ctx: Context, status: str, headers: Headers) -> str | None:
        headers.append(("X-Hook", "full"))
        return None

    def _on_clean(self, ctx: Context, headers: Headers, content_type: str | None) -> None:
        if self.fail:
            raise RuntimeError("clean path bug")
        headers.append(("X-Hook", "clean"))


def test_clean_path_and_fallback_are_both_taken() -> None:
    stack = Stack([SecurityHeaders(), Watching()], text_app())
    recorder = Recorder()
    consume(stack(make_environ(), recorder))
    assert recorder.header_values("X-Hook") == ["clean"]
    assert recorder.header_values("X-Frame-Options") == ["DENY"]
    stack = Stack([SecurityHeaders(), Watching()], text_app(extra=[("X-Watched", "1")]))
    recorder = Recorder()
    consume(stack(make_environ(), recorder))
    assert recorder.header_values("X-Hook") == ["full"]
    assert recorder.header_values("X-Frame-Options") == ["DENY"]


def test_only_the_layer_whose_name_came_runs_its_full_hook() -> None:
    # X-Watched concerns Watching only: SecurityHeaders keeps its clean path, and
    # an app's X-Frame-Options concerns SecurityHeaders only.
    stack = Stack([SecurityHeaders(), Watching()], text_app(extra=[("X-Watched", "1")]))
    scan = engine._Chain(stack.layers).response_groups[0][2]
    assert scan is not None and scan.classify("X-Watched") == 2
    recorder = Recorder()
    consume(stack(make_environ(), recorder))
    assert recorder.header_values("X-Hook") == ["full"]
    stack = Stack([SecurityHeaders(), Watching()], text_app(extra=[("X-Frame-Options", "x")]))
    recorder = Recorder()
    consume(stack(make_environ(), recorder))
    assert recorder.header_values("X-Hook") == ["clean"]
    assert recorder.header_values("X-Frame-Options") == ["DENY"]


def test_a_layer_watching_content_type_is_not_grouped() -> None:
    stack = Stack([SecurityHeaders(remove_headers=["Content-Type"]), Watching()], text_app())
    groups = engine._Chain(stack.layers).response_groups
    assert all(scan is None for _, _, scan in groups)


def test_a_failing_clean_path_is_a_logged_500_with_the_other_layers_headers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = Stack([SecurityHeaders(), Watching(fail=True)], text_app(b"secret"))
    recorder = Recorder()
    with caplog.at_level(logging.ERROR, logger="headerware"):
        body = consume(stack(make_environ(), recorder))
    assert recorder.status.startswith("500")
    assert body == b"Internal Server Error"
    assert recorder.header_values("X-Frame-Options") == ["DENY"]
    assert "watching failed on the response" in caplog.text


def test_a_layer_is_not_grouped_after_one_that_adds_a_name_it_watches() -> None:
    # Watching runs first (inner) and declares it adds X-Frame-Options, which
    # SecurityHeaders watches: no shared scan for them.
    stack = Stack([SecurityHeaders(), Watching(adds="x-frame-options")], text_app())
    groups = engine._Chain(stack.layers).response_groups
    assert all(scan is None for _, _, scan in groups)
    stack = Stack([SecurityHeaders(), Watching(adds="x-other")], text_app())
    groups = engine._Chain(stack.layers).response_groups
    assert [scan is not None for _, _, scan in groups] == [True]


def test_unusual_spellings_are_classified_once_and_bounded() -> None:
    stack = Stack([SecurityHeaders(), Watching()], text_app())
    (_, _, scan), *_ = engine._Chain(stack.layers).response_groups
    assert scan is not None
    # Response order: Watching (bit 2), then SecurityHeaders (bit 4); Content-Type: bit 1.
    assert scan.classify("X-WATCHED") == 2
    assert scan.classify("CONTENT-TYPE") == 1
    assert scan.classify("x-frame-OPTIONS") == 4
    assert scan.classify("X-Nobody-Cares") == 0
    for number in range(2000):
        scan.classify(f"X-Junk-{number}")
    assert len(scan.kinds) <= engine._SCAN_CACHE_SIZE
    assert scan.kinds["Content-Type"] == 1
