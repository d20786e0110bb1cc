"""Request header validation and limits, the request_header accessor, response header rules."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import flask
import pytest
import webtest
from hypothesis import given, settings
from hypothesis import strategies as st

from headerware import Context, Layer, OptionError, Stack
from headerware.layers.headers import RequestHeaders, ResponseHeaders, request_header
from headerware.layers.security import SecurityHeaders
from headerware.wsgi import WSGIContext
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app

Headers = list[tuple[str, str]]


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.hw_fields for r in caplog.records if getattr(r, "hw_event", None) == name]


def run(layer_app: Any, **environ: Any) -> tuple[Recorder, bytes]:
    recorder = Recorder()
    body = consume(layer_app(make_environ(**environ), recorder))
    return recorder, body


class CountingApp:
    """The app behind the layer: counts its calls, answers 200 with two app headers."""

    def __init__(self, extra: Headers | None = None) -> None:
        self.calls = 0
        self.extra = extra or []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("Content-Length", "2"), ("X-App", "1"), *self.extra],
        )
        return [b"ok"]


# -- request_header ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "name", "expected"),
    [
        pytest.param({"HTTP_USER_AGENT": "UA/1"}, "User-Agent", "UA/1", id="canonical"),
        pytest.param({"HTTP_USER_AGENT": "UA/1"}, "user-agent", "UA/1", id="lower"),
        pytest.param({"HTTP_USER_AGENT": "UA/1"}, "USER-AGENT", "UA/1", id="upper"),
        pytest.param({"HTTP_X_API_KEY": "k"}, "X-Api-Key", "k", id="dashed"),
        pytest.param({"CONTENT_TYPE": "text/csv"}, "content-type", "text/csv", id="content-type"),
        pytest.param({"CONTENT_LENGTH": "12"}, "Content-Length", "12", id="content-length"),
        pytest.param({"CONTENT_TYPE": ""}, "Content-Type", None, id="empty-cgi-is-absent"),
        pytest.param({"HTTP_CONTENT_TYPE": "x/y"}, "Content-Type", None, id="not-http-prefixed"),
        pytest.param({}, "Accept", None, id="missing"),
        pytest.param({"HTTP_X_EMPTY": ""}, "X-Empty", "", id="empty-header-is-present"),
    ],
)
def test_request_header_from_a_bare_environ(
    environ: dict[str, str], name: str, expected: str | None
) -> None:
    assert request_header(environ, name) == expected
    assert request_header(environ, name, "dflt") == (expected if expected is not None else "dflt")


def test_request_header_from_flask_and_django_style_meta() -> None:
    flask_app = flask.Flask(__name__)
    seen: dict[str, Any] = {}

    @flask_app.post("/")
    def index() -> str:
        seen["ua"] = request_header(flask.request.environ, "user-agent")
        seen["ct"] = request_header(flask.request.environ, "Content-Type")
        return "ok"

    client = webtest.TestApp(flask_app, lint=True)
    client.post("/", params=b"{}", content_type="application/json", headers={"User-Agent": "T/1"})
    assert seen == {"ua": "T/1", "ct": "application/json"}
    # Django's request.META is a plain dict with the same CGI/HTTP_ keys.
    meta = {"HTTP_ACCEPT_LANGUAGE": "es", "CONTENT_LENGTH": "0", "REMOTE_ADDR": "1.2.3.4"}
    assert request_header(meta, "Accept-Language") == "es"
    assert request_header(meta, "content-length") == "0"


# -- RequestHeaders -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "header"),
    [
        pytest.param({"HTTP_X_A": "a\r\nSet-Cookie: x=1"}, "X-A", id="crlf"),
        pytest.param({"HTTP_X_A": "a\nb"}, "X-A", id="lf"),
        pytest.param({"HTTP_X_A": "a\rb"}, "X-A", id="cr"),
        pytest.param({"HTTP_X_A": "a\x00b"}, "X-A", id="nul"),
        pytest.param({"HTTP_X_A": "a\x7fb"}, "X-A", id="del"),
        pytest.param({"HTTP_X_A": "a\x1bb"}, "X-A", id="escape"),
        pytest.param({"HTTP_X_A": "snow\u2603"}, "X-A", id="not-latin-1"),
        pytest.param({"CONTENT_TYPE": "text/plain\r\nX: y"}, "Content-Type", id="content-type"),
        pytest.param({"HTTP_X(A": "v"}, "X(A", id="name-not-a-token"),
        pytest.param({"HTTP_X A": "v"}, "X A", id="name-with-space"),
        pytest.param({"HTTP_": "v"}, "(empty)", id="empty-name"),
    ],
)
def test_malformed_request_headers_get_400(
    extra: dict[str, Any], header: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = CountingApp()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        recorder, body = run(RequestHeaders(app), **extra)
    assert recorder.status == "400 Bad Request"
    assert json.loads(body) == {"error": f"Bad Request: malformed {header} header"}
    assert recorder.header_values("Content-Type")[0].startswith("application/json")
    assert app.calls == 0
    (event,) = events(caplog, "request_header_malformed")
    assert event["header"] == header
    assert "report_only" not in event
    assert "Set-Cookie" not in caplog.text  # the value is never logged


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"HTTP_X_A": "a\tb"}, id="tab-is-allowed"),
        pytest.param({"HTTP_X_A": "caf\xe9"}, id="obs-text-latin-1"),
        pytest.param({"HTTP_X_A": ""}, id="empty-value"),
        pytest.param({"CONTENT_LENGTH": "", "CONTENT_TYPE": ""}, id="empty-cgi-headers"),
        pytest.param({"HTTP_COOKIE": "a=1; b=2", "HTTP_ACCEPT": "*/*"}, id="ordinary"),
    ],
)
def test_valid_request_headers_pass(extra: dict[str, Any]) -> None:
    app = CountingApp()
    recorder, body = run(RequestHeaders(app), **extra)
    assert (recorder.status, body, app.calls) == ("200 OK", b"ok", 1)


def many(count: int, size: int = 1) -> dict[str, str]:
    return {f"HTTP_X_H{index}": "v" * size for index in range(count)}


@pytest.mark.parametrize(
    ("options", "extra", "limit", "message"),
    [
        pytest.param({}, many(100), "count", b"too many request headers", id="count-default"),
        pytest.param({"max_count": 3}, many(3), "count", b"too many", id="count-configured"),
        pytest.param({}, many(3, 7000), "size", b"request headers too large", id="total-size"),
        pytest.param(
            {}, {"HTTP_COOKIE": "c" * 8193}, "value_size", b"Cookie header too large", id="value"
        ),
        pytest.param(
            {"max_value_size": 10, "max_size": 100},
            {"HTTP_X_A": "x" * 11},
            "value_size",
            b"X-A header too large",
            id="value-configured",
        ),
    ],
)
def test_oversized_request_headers_get_431(
    options: dict[str, int],
    extra: dict[str, str],
    limit: str,
    message: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = CountingApp()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        recorder, body = run(RequestHeaders(app, **options), **extra)
    assert recorder.status == "431 Request Header Fields Too Large"
    assert message in body
    assert app.calls == 0
    (event,) = events(caplog, "request_headers_too_large")
    assert event["limit"] == limit
    assert event["size"] > event["max"]


def test_limits_are_inclusive() -> None:
    # make_environ already carries HTTP_HOST: 99 more headers make exactly 100.
    app = CountingApp()
    recorder, _ = run(RequestHeaders(app), **many(99))
    assert recorder.status == "200 OK"
    layer = RequestHeaders(app, max_value_size=5, max_size=100)
    recorder, _ = run(layer, HTTP_HOST="h", HTTP_X_A="x" * 5)
    assert recorder.status == "200 OK"


def test_refusal_keeps_the_outer_layers_headers() -> None:
    stack = Stack([SecurityHeaders(), RequestHeaders()], CountingApp())
    for extra, status in (({"HTTP_X_A": "a\nb"}, "400"), (many(200), "431")):
        recorder, body = run(stack, **extra)
        assert recorder.status.startswith(status)
        message = json.loads(body)["error"]
        assert message.startswith("Bad Request" if status == "400" else "Request Header Fields")
        assert recorder.header_values("X-Frame-Options") == ["DENY"]
        assert recorder.header_values("X-Content-Type-Options") == ["nosniff"]
        assert recorder.header_values("Content-Length") == [str(len(body))]


@pytest.mark.parametrize(
    ("extra", "event_name"),
    [
        pytest.param({"HTTP_X_A": "a\r\nb"}, "request_header_malformed", id="malformed"),
        pytest.param(many(150), "request_headers_too_large", id="too-many"),
    ],
)
def test_report_only_logs_and_lets_through(
    extra: dict[str, str], event_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = CountingApp()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        recorder, body = run(RequestHeaders(app, report_only=True), **extra)
    assert (recorder.status, body, app.calls) == ("200 OK", b"ok", 1)
    (event,) = events(caplog, event_name)
    assert event["report_only"] is True


def test_request_headers_through_webtest() -> None:
    client = webtest.TestApp(RequestHeaders(CountingApp(), max_count=5), lint=True)
    assert client.get("/", headers={"X-A": "1"}).text == "ok"
    refused = client.get("/", headers={f"X-H{i}": "1" for i in range(6)}, status=431)
    assert refused.content_type == "application/json"
    assert refused.json == {"error": "Request Header Fields Too Large: too many request headers"}
    bad = client.get("/", extra_environ={"HTTP_X_A": "a\x00"}, status=400)
    assert bad.json == {"error": "Bad Request: malformed X-A header"}


@pytest.mark.parametrize(
    ("accept", "content_type", "expected"),
    [
        pytest.param(
            "text/html,application/xhtml+xml,*/*;q=0.8",
            "text/html",
            "<p>Bad Request: malformed X-A header</p>",
            id="issue15-5-malformed-html",
        ),
        pytest.param(
            "text/plain",
            "text/plain",
            "Bad Request: malformed X-A header\n",
            id="issue15-5-malformed-text",
        ),
        pytest.param(
            "application/json",
            "application/json",
            '{"error":"Bad Request: malformed X-A header"}',
            id="issue15-5-malformed-json",
        ),
        pytest.param(
            "text/html;q=0.1, " * 200 + "text/plain",
            "application/json",
            '"Bad Request: malformed X-A header"',
            id="issue15-5-malformed-huge-accept-is-not-parsed",
        ),
    ],
)
def test_refusal_body_is_negotiated(accept: str, content_type: str, expected: str) -> None:
    # The same refusal body as every other layer's (headerware.responses.error_response).
    app = CountingApp()
    client = webtest.TestApp(RequestHeaders(app), lint=True)
    bad = client.get(
        "/", headers={"Accept": accept}, extra_environ={"HTTP_X_A": "a\x00"}, status=400
    )
    assert bad.content_type == content_type
    assert expected in bad.text
    assert bad.headers["Cache-Control"] == "no-store"
    assert "a\x00" not in bad.text and app.calls == 0


def test_refusal_431_is_negotiated() -> None:
    client = webtest.TestApp(RequestHeaders(CountingApp(), max_count=5), lint=True)
    headers = {f"X-H{i}": "1" for i in range(6)}
    html_page = client.get("/", headers={**headers, "Accept": "text/html"}, status=431)
    assert html_page.content_type == "text/html"
    assert "too many request headers" in html_page.text


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"max_count": 0}, "max_count: 0 must be a whole number >= 1", id="count-0"),
        pytest.param({"max_size": "16k"}, "max_size: '16k'", id="size-str"),
        pytest.param({"max_value_size": True}, "max_value_size: True", id="bool"),
        pytest.param(
            {"max_size": 100, "max_value_size": 200},
            "max_value_size: 200 is larger than max_size",
            id="value>total",
        ),
        pytest.param({"report_only": "no"}, "report_only: 'no' is not a boolean", id="flag"),
    ],
)
def test_request_headers_bad_config(options: dict[str, Any], match: str) -> None:
    with pytest.raises(OptionError, match=match) as info:
        RequestHeaders(**options)
    assert info.value.option in options


def test_request_headers_describe() -> None:
    assert RequestHeaders(max_count=10).describe() == {
        "max_count": 10,
        "max_size": 16384,
        "max_value_size": 8192,
        "report_only": False,
    }


_names = st.text(alphabet="AZ_09!x(é ", max_size=6).map(lambda n: "HTTP_" + n)
_values = st.text(alphabet=st.sampled_from("a \t\r\n\x00\x7f\xe9\u2603~"), max_size=12)


def expected_refusal(
    environ: dict[str, Any], max_count: int, max_value_size: int, max_size: int
) -> str | None:
    """The documented rules, header by header: the status a request must get."""
    items = WSGIContext(environ).header_items()
    total = 0
    for name, value in items:
        if not name or any(c not in TOKEN_CHARACTERS for c in name):
            return "400 Bad Request"
        if len(value) > max_value_size:
            return "431 Request Header Fields Too Large"
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F or ord(c) > 0xFF for c in value):
            return "400 Bad Request"
        total += len(name) + len(value) + 4
    if len(items) > max_count or total > max_size:
        return "431 Request Header Fields Too Large"
    return None


TOKEN_CHARACTERS = set(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(_names, _values, max_size=8),
    content_type=st.sampled_from(["", "text/plain", "a\nb"]),
    limits=st.tuples(st.integers(1, 8), st.integers(1, 20), st.integers(20, 120)),
)
def test_verdict_follows_the_documented_rules(
    headers: dict[str, str], content_type: str, limits: tuple[int, int, int]
) -> None:
    max_count, max_value_size, max_size = limits
    layer = RequestHeaders(max_count=max_count, max_value_size=max_value_size, max_size=max_size)
    environ = make_environ(CONTENT_TYPE=content_type, **headers)
    expected = expected_refusal(dict(environ), max_count, max_value_size, max_size)
    recorder, _ = run(Stack([layer], CountingApp()), **{**environ})
    assert recorder.status == (expected or "200 OK")


class TestRequestHeadersContract(LayerContract):
    def make_layer(self) -> Layer:
        return RequestHeaders()


# -- ResponseHeaders ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "app_extra", "expected"),
    [
        pytest.param(
            {"set": {"X-Custom": "ours"}},
            [("x-custom", "theirs"), ("X-Custom", "again")],
            {"X-Custom": ["ours"]},
            id="set-overwrites-any-case",
        ),
        pytest.param(
            {"set": {"X-Custom": "ours"}}, [], {"X-Custom": ["ours"]}, id="set-when-absent"
        ),
        pytest.param(
            {"setdefault": {"Cache-Control": "no-store"}},
            [("cache-control", "max-age=60")],
            {"Cache-Control": ["max-age=60"]},
            id="setdefault-keeps-the-apps",
        ),
        pytest.param(
            {"setdefault": {"Cache-Control": "no-store"}},
            [],
            {"Cache-Control": ["no-store"]},
            id="setdefault-fills-in",
        ),
        pytest.param(
            {"add": {"Link": ["</a.css>; rel=preload", "</b.js>; rel=preload"]}},
            [("Link", "</c>; rel=next")],
            {"Link": ["</c>; rel=next", "</a.css>; rel=preload", "</b.js>; rel=preload"]},
            id="add-appends",
        ),
        pytest.param(
            {"add": {"Vary": "Cookie"}},
            [("Vary", "Accept"), ("vary", "cookie")],
            {"Vary": ["Accept, cookie"]},
            id="add-vary-merges",
        ),
        pytest.param(
            {"remove": ["X-Powered-By", "server"]},
            [("x-powered-by", "PHP/5"), ("Server", "Apache/2.2")],
            {"X-Powered-By": [], "Server": []},
            id="remove",
        ),
        pytest.param(
            {"set": {"X-A": "1"}, "setdefault": {"X-B": "2"}, "add": {"X-C": "3"}},
            [("X-B", "app")],
            {"X-A": ["1"], "X-B": ["app"], "X-C": ["3"]},
            id="all-together",
        ),
    ],
)
def test_response_header_policies(
    options: dict[str, Any], app_extra: Headers, expected: dict[str, list[str]]
) -> None:
    cookies = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    for dynamic in (False, True):
        if dynamic:  # the same rules as callables take the per-request path
            options = {
                key: (
                    {k: (lambda ctx, v=v: v) if isinstance(v, str) else v for k, v in value.items()}
                    if isinstance(value, dict)
                    else value
                )
                for key, value in options.items()
            }
        recorder, body = run(ResponseHeaders(CountingApp(app_extra + cookies), **options))
        assert (recorder.status, body) == ("200 OK", b"ok")
        for name, values in expected.items():
            assert recorder.header_values(name) == values, (dynamic, name)
        assert recorder.header_values("X-App") == ["1"]
        assert recorder.header_values("Set-Cookie") == ["a=1", "b=2"]
        assert recorder.header_values("Content-Length") == ["2"]


def test_callables_are_evaluated_per_request() -> None:
    layer = ResponseHeaders(
        CountingApp([("X-Path", "app")]),
        set={"X-Path": lambda ctx: ctx.path if ctx.path != "/" else None},
    )
    first, _ = run(layer, PATH_INFO="/one")
    second, _ = run(layer, PATH_INFO="/two")
    root, _ = run(layer, PATH_INFO="/")
    assert first.header_values("X-Path") == ["/one"]
    assert second.header_values("X-Path") == ["/two"]
    assert root.header_values("X-Path") == ["app"], "None leaves the app's header alone"


def _raises(ctx: Context) -> str:
    raise RuntimeError("bug in a header callable")


@pytest.mark.parametrize(
    ("compute", "reason"),
    [
        pytest.param(_raises, "callable raised", id="raises"),
        pytest.param(lambda e: "v\r\nSet-Cookie: admin=1", "control character", id="crlf"),
        pytest.param(lambda e: "v\nX-Injected: 1", "control character", id="lf"),
        pytest.param(lambda e: "v\x00", "control character", id="nul"),
        pytest.param(lambda e: "\u2603", "non-latin-1", id="not-latin-1"),
        pytest.param(lambda e: 42, "returned int", id="not-a-string"),
        pytest.param(lambda e: b"bytes", "returned bytes", id="bytes"),
    ],
)
@pytest.mark.parametrize("policy", ["set", "setdefault", "add"])
def test_bad_callable_value_is_dropped_logged_and_the_rest_intact(
    compute: Any, reason: str, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = CountingApp([("X-Dyn", "app-value"), ("Set-Cookie", "s=1")])
    options = {policy: {"X-Dyn": compute}, "add" if policy != "add" else "set": {"X-Ok": "yes"}}
    with caplog.at_level(logging.WARNING, logger="headerware"):
        recorder, body = run(ResponseHeaders(app, **options))
    assert (recorder.status, body) == ("200 OK", b"ok")
    assert recorder.header_values("X-Dyn") == ["app-value"]
    assert recorder.header_values("X-Ok") == ["yes"]
    assert recorder.header_values("Set-Cookie") == ["s=1"]
    assert recorder.header_values("X-App") == ["1"]
    assert not recorder.header_values("X-Injected")
    for _, value in recorder.headers:
        assert "\r" not in value and "\n" not in value and "admin" not in value
    (event,) = events(caplog, "response_header_dropped")
    assert event["header"] == "X-Dyn"
    assert reason in event["reason"]


def test_response_headers_through_webtest() -> None:
    client = webtest.TestApp(
        ResponseHeaders(
            CountingApp([("X-Powered-By", "Flask")]),
            set={"X-Custom-Header": "MyValue"},
            add={"X-Request-Path": lambda ctx: ctx.path},
            remove=["X-Powered-By"],
        ),
        lint=True,
    )
    response = client.get("/custom-header")
    assert response.headers["X-Custom-Header"] == "MyValue"
    assert response.headers["X-Request-Path"] == "/custom-header"
    assert "X-Powered-By" not in response.headers
    assert response.text == "ok"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"set": {"X-A": "a\r\nb"}}, "set: the value of 'X-A' contains a", id="crlf"),
        pytest.param({"add": {"X-A": "a\x00"}}, "add: the value of 'X-A'", id="nul"),
        pytest.param({"set": {"X A": "v"}}, "'X A' is not a valid header name", id="name-space"),
        pytest.param({"set": {"X:A": "v"}}, "'X:A' is not a valid header name", id="colon"),
        pytest.param({"set": {"": "v"}}, "'' is not a valid header name", id="empty-name"),
        pytest.param({"remove": ["X\nA"]}, "remove: 'X\\\\nA' is not a valid", id="remove-name"),
        pytest.param({"set": {"Connection": "close"}}, "hop-by-hop", id="hop-by-hop"),
        pytest.param(
            {"setdefault": {"Transfer-Encoding": lambda e: "x"}}, "hop-by-hop", id="hop-callable"
        ),
        pytest.param({"set": {"Content-Length": "1"}}, "'Content-Length' is computed", id="cl"),
        pytest.param({"set": {"X-A": 1}}, "set: the value of 'X-A' is 1", id="not-a-string"),
        pytest.param({"add": {"X-A": []}}, "empty list", id="empty-add"),
        pytest.param(
            {"set": {"X-A": "1"}, "remove": ["x-a"]}, "both 'set' and 'remove'", id="two-policies"
        ),
        pytest.param(
            {"set": {"X-A": "1"}, "setdefault": {"x-A": "2"}},
            "both 'set' and 'setdefault'",
            id="set-and-setdefault",
        ),
        pytest.param({"remove": "X-Powered-By"}, "is a string, not a list", id="remove-str"),
    ],
)
def test_response_headers_bad_config(options: dict[str, Any], match: str) -> None:
    with pytest.raises(OptionError, match=match) as info:
        ResponseHeaders(**options)
    assert info.value.option in options  # the bare option name (set, add, remove, ...)


def test_response_headers_describe() -> None:
    def stamp(ctx: Context) -> str:
        return "x"

    layer = ResponseHeaders(set={"X-A": "1"}, add={"Link": ["<a>", stamp]}, remove=["Server"])
    described = layer.describe()
    assert described["set"] == {"X-A": "1"}
    assert described["add"]["Link"][0] == "<a>"
    assert "stamp" in described["add"]["Link"][1]
    assert described["remove"] == ["Server"]
    assert described["setdefault"] == {}
    # Static rules are option-shaped: they paste back into ResponseHeaders(...) as is.
    static = ResponseHeaders(
        set={"X-A": "1"}, setdefault={"Cache-Control": "no-cache"}, add={"Vary": ["a", "b"]}
    )
    assert ResponseHeaders(**static.describe()).describe() == static.describe()


def test_no_rules_leave_the_response_untouched() -> None:
    app = text_app()
    bare = Recorder()
    consume(app(make_environ(), bare))
    recorder, _ = run(ResponseHeaders(app))
    assert recorder.headers == bare.headers


class TestResponseHeadersContract(LayerContract):
    def make_layer(self) -> Layer:
        return ResponseHeaders(
            set={"X-Static": "1"},
            add={"X-Dynamic": lambda ctx: ctx.path},
            setdefault={"Cache-Control": "no-cache"},
            remove=["X-Powered-By"],
        )


def test_request_value_with_an_inner_tab_is_accepted() -> None:
    # RFC 9110 field-content allows HTAB; only the other control characters are refused.
    recorder, body = run(RequestHeaders(text_app()), HTTP_X_LIST="a\tb")
    assert recorder.status == "200 OK" and body == b"hello"
    recorder, _ = run(RequestHeaders(text_app()), HTTP_X_LIST="a\x0bb")
    assert recorder.status.startswith("400")
