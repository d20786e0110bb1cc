"""CORS: preflights, actual responses, Vary, per-route rules, spoofs, report-only."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st

from headerware import Context, Layer, Response, Stack
from headerware._headers import merge_vary
from headerware.layers.cors import CORS
from headerware.options import OptionError
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app
from tests.test_origins import SPOOFS

APP_ORIGIN = "https://app.example.com"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def example_cors(**extra: Any) -> CORS:
    """The examples' contract (docs/examples.md, CORS row)."""
    options: dict[str, Any] = {
        "allow_origins": [APP_ORIGIN],
        "allow_credentials": True,
        "allow_methods": ["GET", "POST", "PUT", "DELETE"],
        "allow_headers": ["Content-Type", "Authorization"],
        "rules": {"/data": {}, "/api/*": {}},
    }
    options.update(extra)
    return CORS(**options)


class RequireBearer(Layer):
    """Stands in for bearer auth: 401 on /api/protected without a token."""

    name = "bearer"

    def on_request(self, ctx: Context) -> Response | None:
        if ctx.path == "/api/protected" and not ctx.header("authorization"):
            return Response.json(
                "401 Unauthorized", {"error": "Unauthorized"}, [("WWW-Authenticate", "Bearer")]
            )
        return None


def run(layer_or_stack: Any, app: Any = None, **environ: Any) -> tuple[Recorder, bytes]:
    wsgi = layer_or_stack if app is None else Stack([layer_or_stack], app)
    recorder = Recorder()
    body = consume(wsgi(make_environ(**environ), recorder))
    return recorder, body


def cors_headers(recorder: Recorder) -> dict[str, str]:
    return {k: v for k, v in recorder.headers if k.lower().startswith("access-control-")}


def preflight(path: str = "/api/items", **extra: Any) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "OPTIONS",
        "PATH_INFO": path,
        "HTTP_ORIGIN": APP_ORIGIN,
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PUT",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type, authorization",
    }
    environ.update(extra)
    return environ


def never_called(environ: Any, start_response: Any) -> Any:
    raise AssertionError("the application must not see a preflight")


class TestContract(LayerContract):
    def make_layer(self) -> Layer:
        return example_cors(rules=None)

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_ORIGIN": APP_ORIGIN}


class TestRulesContract(LayerContract):
    def make_layer(self) -> Layer:
        return example_cors(rules={"/*": {}, "/private/*": None})

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_ORIGIN": APP_ORIGIN}


class TestPreflight:
    def test_allowed_preflight_answered_without_the_app(self) -> None:
        recorder, body = run(example_cors(), never_called, **preflight())
        assert recorder.status == "204 No Content"
        assert body == b""
        assert cors_headers(recorder) == {
            "Access-Control-Allow-Origin": APP_ORIGIN,
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": "600",
            "Access-Control-Allow-Credentials": "true",
        }
        assert recorder.header_values("Vary") == [PREFLIGHT_VARY]
        assert not recorder.header_values("Content-Length")

    def test_no_requested_headers_no_allow_headers(self) -> None:
        environ = preflight(HTTP_ACCESS_CONTROL_REQUEST_HEADERS="")
        recorder, _ = run(example_cors(), never_called, **environ)
        assert recorder.status == "204 No Content"
        assert "Access-Control-Allow-Headers" not in cors_headers(recorder)

    @pytest.mark.parametrize(
        ("extra", "reason"),
        [
            pytest.param(
                {"HTTP_ORIGIN": "https://evil.example"}, "origin not allowed", id="origin"
            ),
            pytest.param(
                {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PATCH"}, "method 'PATCH'", id="method"
            ),
            pytest.param(
                {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "put"}, "method 'put'", id="method-case"
            ),
            pytest.param(
                {"HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type, x-secret"},
                "header 'x-secret'",
                id="header",
            ),
            pytest.param(
                {"HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type, x\x01y"},
                "malformed",
                id="malformed-header-list",
            ),
            pytest.param(
                {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "P<U>T"},
                "malformed Access-Control-Request-Method",
                id="malformed-method",
            ),
        ],
    )
    def test_refused_preflight(
        self, extra: dict[str, str], reason: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="headerware"):
            recorder, body = run(example_cors(), never_called, **preflight(**extra))
        assert recorder.status == "403 Forbidden"
        # issue 15 item 5: the body says why (JSON for a fetch's */*), not the configuration.
        assert recorder.header_values("Content-Type") == ["application/json"]
        message = json.loads(body)["error"]
        assert message.startswith("CORS preflight refused: ") and reason in message
        assert APP_ORIGIN not in message and "DELETE" not in message
        assert recorder.header_values("Cache-Control") == ["no-store"]
        assert cors_headers(recorder) == {}
        assert recorder.header_values("Vary") == [PREFLIGHT_VARY]
        [record] = [r for r in caplog.records if getattr(r, "hw_event", "") == "cors_refused"]
        assert reason in record.hw_fields["reason"]  # type: ignore[attr-defined]
        assert record.hw_fields["preflight"] is True  # type: ignore[attr-defined]
        assert record.levelno == logging.WARNING

    @pytest.mark.parametrize(
        ("accept", "content_type", "expected"),
        [
            pytest.param(
                "text/html",
                "text/html; charset=utf-8",
                "<p>CORS preflight refused: header &#x27;x-foo&#x27; not allowed</p>",
                id="html",
            ),
            pytest.param(
                "text/plain",
                "text/plain; charset=utf-8",
                "CORS preflight refused: header 'x-foo' not allowed\n",
                id="text",
            ),
        ],
    )
    def test_refused_preflight_negotiates_its_body(
        self, accept: str, content_type: str, expected: str
    ) -> None:
        environ = preflight(HTTP_ACCEPT=accept, HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-foo")
        recorder, body = run(example_cors(), never_called, **environ)
        assert recorder.status == "403 Forbidden"
        assert recorder.header_values("Content-Type") == [content_type]
        assert expected in body.decode()
        assert recorder.header_values("Vary") == [PREFLIGHT_VARY]

    def test_plain_options_goes_to_the_app(self) -> None:
        environ = preflight()
        del environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"]
        recorder, body = run(example_cors(), text_app(), **environ)
        assert recorder.status == "200 OK" and body == b"hello"
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == APP_ORIGIN

    def test_preflight_on_uncovered_route_goes_to_the_app(self) -> None:
        recorder, body = run(example_cors(), text_app(), **preflight(path="/"))
        assert recorder.status == "200 OK" and body == b"hello"
        assert cors_headers(recorder) == {}
        assert not recorder.header_values("Vary")

    def test_star_headers_never_cover_authorization(self) -> None:
        layer = example_cors(allow_headers=["*"])
        recorder, _ = run(
            layer, never_called, **preflight(HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-a, x-b")
        )
        assert recorder.status == "204 No Content"
        assert cors_headers(recorder)["Access-Control-Allow-Headers"] == "x-a, x-b"
        recorder, _ = run(layer, never_called, **preflight())
        assert recorder.status == "403 Forbidden"
        listed = example_cors(allow_headers=["*", "Authorization"])
        recorder, _ = run(listed, never_called, **preflight())
        assert recorder.status == "204 No Content"
        assert cors_headers(recorder)["Access-Control-Allow-Headers"] == (
            "content-type, authorization"
        )

    def test_star_methods_echo(self) -> None:
        recorder, _ = run(
            example_cors(allow_methods=["*"]),
            never_called,
            **preflight(HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH"),
        )
        assert cors_headers(recorder)["Access-Control-Allow-Methods"] == "PATCH"

    def test_max_age_none_omitted(self) -> None:
        recorder, _ = run(example_cors(max_age=None), never_called, **preflight())
        assert "Access-Control-Max-Age" not in cors_headers(recorder)

    def test_private_network_access(self) -> None:
        environ = preflight(HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK="true")
        recorder, _ = run(example_cors(), never_called, **environ)
        assert "Access-Control-Allow-Private-Network" not in cors_headers(recorder)
        recorder, _ = run(example_cors(allow_private_network=True), never_called, **environ)
        assert cors_headers(recorder)["Access-Control-Allow-Private-Network"] == "true"
        assert recorder.header_values("Vary") == [
            PREFLIGHT_VARY + ", Access-Control-Request-Private-Network"
        ]

    def test_head_preflight_is_not_special(self) -> None:
        recorder, _ = run(example_cors(), text_app(), **preflight(REQUEST_METHOD="HEAD"))
        assert recorder.status == "200 OK"


class TestActualResponses:
    @pytest.mark.parametrize("path", ["/data", "/api/items", "/api"])
    def test_allowed_origin(self, path: str) -> None:
        recorder, body = run(example_cors(), text_app(), PATH_INFO=path, HTTP_ORIGIN=APP_ORIGIN)
        assert body == b"hello"
        assert cors_headers(recorder) == {
            "Access-Control-Allow-Origin": APP_ORIGIN,
            "Access-Control-Allow-Credentials": "true",
        }
        assert recorder.header_values("Vary") == ["Origin"]

    @pytest.mark.parametrize("path", ["/", "/page", "/apiary", "/data/x"])
    def test_uncovered_routes_untouched(self, path: str) -> None:
        app = text_app()
        direct = Recorder()
        consume(app(make_environ(PATH_INFO=path), direct))
        recorder, _ = run(example_cors(), app, PATH_INFO=path, HTTP_ORIGIN=APP_ORIGIN)
        assert recorder.headers == direct.headers

    def test_other_origin_gets_vary_only(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="headerware"):
            recorder, body = run(
                example_cors(), text_app(), PATH_INFO="/data", HTTP_ORIGIN="https://evil.example"
            )
        assert body == b"hello"
        assert cors_headers(recorder) == {}
        assert recorder.header_values("Vary") == ["Origin"]
        [record] = [r for r in caplog.records if getattr(r, "hw_event", "") == "cors_refused"]
        assert record.hw_fields["preflight"] is False  # type: ignore[attr-defined]

    def test_same_origin_request_not_logged(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="headerware"):
            recorder, _ = run(
                example_cors(),
                text_app(),
                PATH_INFO="/data",
                HTTP_ORIGIN="https://api.example.com",
                HTTP_HOST="api.example.com",
                **{"wsgi.url_scheme": "https"},
            )
        assert not caplog.records
        assert recorder.header_values("Vary") == ["Origin"]

    def test_no_origin_gets_vary_only(self) -> None:
        recorder, _ = run(example_cors(), text_app(), PATH_INFO="/data")
        assert cors_headers(recorder) == {}
        assert recorder.header_values("Vary") == ["Origin"]

    def test_vary_merged_with_the_apps(self) -> None:
        app = text_app(extra=[("Vary", "Accept-Encoding"), ("Vary", "origin")])
        recorder, _ = run(example_cors(), app, PATH_INFO="/data", HTTP_ORIGIN=APP_ORIGIN)
        assert recorder.header_values("Vary") == ["Accept-Encoding, origin"]

    @pytest.mark.parametrize(
        "status", ["401 Unauthorized", "404 Not Found", "405 Method Not Allowed", "500 Oops"]
    )
    def test_error_statuses_carry_cors(self, status: str) -> None:
        recorder, _ = run(
            example_cors(), text_app(status=status), PATH_INFO="/api/x", HTTP_ORIGIN=APP_ORIGIN
        )
        assert recorder.status == status
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert recorder.header_values("Vary") == ["Origin"]

    def test_early_401_from_an_inner_layer_carries_cors(self) -> None:
        stack = Stack([example_cors(), RequireBearer()], text_app())
        recorder, body = run(stack, PATH_INFO="/api/protected", HTTP_ORIGIN=APP_ORIGIN)
        assert recorder.status == "401 Unauthorized"
        assert body == b'{"error":"Unauthorized"}'
        assert recorder.header_values("WWW-Authenticate") == ["Bearer"]
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert recorder.header_values("Vary") == ["Origin"]

    def test_apps_own_cors_headers_replaced_on_covered_routes(self) -> None:
        app = text_app(
            extra=[("Access-Control-Allow-Origin", "*"), ("access-control-allow-methods", "*")]
        )
        recorder, _ = run(example_cors(), app, PATH_INFO="/data", HTTP_ORIGIN="https://e.example")
        assert cors_headers(recorder) == {}
        recorder, _ = run(example_cors(), app, PATH_INFO="/", HTTP_ORIGIN="https://e.example")
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == "*"

    def test_expose_headers(self) -> None:
        layer = example_cors(expose_headers=["X-Total", "ETag"])
        recorder, _ = run(layer, text_app(), PATH_INFO="/data", HTTP_ORIGIN=APP_ORIGIN)
        assert cors_headers(recorder)["Access-Control-Expose-Headers"] == "X-Total, ETag"

    def test_public_star(self) -> None:
        layer = CORS(allow_origins=["*"], expose_headers=["*"])
        for origin in (APP_ORIGIN, None):
            environ = {"HTTP_ORIGIN": origin} if origin else {}
            recorder, _ = run(layer, text_app(), **environ)
            assert cors_headers(recorder) == {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Expose-Headers": "*",
            }
            assert recorder.header_values("Vary") == ["Origin"]
        recorder, _ = run(
            layer,
            never_called,
            **preflight(
                HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET", HTTP_ACCESS_CONTROL_REQUEST_HEADERS=""
            ),
        )
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == "*"

    def test_exc_info_error_response_gets_cors(self) -> None:
        import sys

        def app(environ: Any, start_response: Any) -> list[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain")])
            try:
                raise ValueError("boom")
            except ValueError:
                start_response("500 Internal Server Error", [], sys.exc_info())
            return [b"err"]

        recorder, _ = run(example_cors(), app, PATH_INFO="/data", HTTP_ORIGIN=APP_ORIGIN)
        assert recorder.status.startswith("500")
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert recorder.header_values("Vary") == ["Origin"]


@pytest.mark.parametrize("origin", SPOOFS)
def test_spoofs_refused_and_never_reflected(origin: str) -> None:
    layer = example_cors(allow_origins=[APP_ORIGIN, "https://*.partner.example"])
    for environ in (
        {"PATH_INFO": "/data", "HTTP_ORIGIN": origin},
        preflight(HTTP_ORIGIN=origin),
    ):
        recorder, _ = run(layer, text_app(), **environ)
        assert cors_headers(recorder) == {}
        if origin:
            assert all(origin not in value for _, value in recorder.headers)


class TestRules:
    def test_most_specific_rule_wins(self) -> None:
        layer = CORS(
            allow_origins=[APP_ORIGIN],
            rules={
                "/api/*": {},
                "/api/public/*": {"allow_origins": ["*"]},
                "/api/internal/*": None,
            },
        )
        recorder, _ = run(layer, text_app(), PATH_INFO="/api/x", HTTP_ORIGIN="https://o.example")
        assert cors_headers(recorder) == {}
        recorder, _ = run(
            layer, text_app(), PATH_INFO="/api/public/x", HTTP_ORIGIN="https://o.example"
        )
        assert cors_headers(recorder) == {"Access-Control-Allow-Origin": "*"}
        recorder, _ = run(layer, text_app(), PATH_INFO="/api/internal/x", HTTP_ORIGIN=APP_ORIGIN)
        assert cors_headers(recorder) == {} and not recorder.header_values("Vary")

    def test_rules_match_the_normalised_case_sensitive_path(self) -> None:
        layer = example_cors()
        recorder, _ = run(layer, text_app(), PATH_INFO="//api/./x", HTTP_ORIGIN=APP_ORIGIN)
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == APP_ORIGIN
        recorder, _ = run(layer, text_app(), PATH_INFO="/API/x", HTTP_ORIGIN=APP_ORIGIN)
        assert cors_headers(recorder) == {}

    def test_rule_overrides_defaults(self) -> None:
        layer = CORS(
            allow_origins=[APP_ORIGIN],
            rules={"/a": {}, "/b": {"allow_origins": ["https://b.example"]}},
        )
        recorder, _ = run(layer, text_app(), PATH_INFO="/b", HTTP_ORIGIN=APP_ORIGIN)
        assert cors_headers(recorder) == {}
        recorder, _ = run(layer, text_app(), PATH_INFO="/b", HTTP_ORIGIN="https://b.example")
        assert cors_headers(recorder) == {"Access-Control-Allow-Origin": "https://b.example"}


class TestReportOnly:
    def test_changes_nothing_and_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        layer = example_cors(report_only=True)
        app = text_app()
        with caplog.at_level(logging.INFO, logger="headerware"):
            recorder, body = run(layer, app, **preflight(HTTP_ORIGIN="https://evil.example"))
            assert recorder.status == "200 OK" and body == b"hello"
            assert cors_headers(recorder) == {} and not recorder.header_values("Vary")
            recorder, _ = run(layer, app, PATH_INFO="/data", HTTP_ORIGIN="https://evil.example")
            assert cors_headers(recorder) == {} and not recorder.header_values("Vary")
            recorder, _ = run(layer, app, PATH_INFO="/data", HTTP_ORIGIN=APP_ORIGIN)
            assert cors_headers(recorder) == {}
            recorder, _ = run(layer, app, **preflight())
            assert recorder.status == "200 OK"
        events = [r for r in caplog.records if getattr(r, "hw_event", "") == "cors_refused"]
        assert [e.hw_fields["preflight"] for e in events] == [True, False]  # type: ignore[attr-defined]
        assert all(e.hw_fields["report_only"] is True for e in events)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"allow_origins": ["*"], "allow_credentials": True},
            "allow_credentials",
            id="star-creds",
        ),
        pytest.param({"allow_origins": ["app.example.com"]}, "no scheme", id="no-scheme"),
        pytest.param({"allow_origins": [APP_ORIGIN + "/"]}, "slash", id="trailing-slash"),
        pytest.param({"allow_origins": [APP_ORIGIN + "/x?y"]}, "path", id="path"),
        pytest.param({"allow_origins": ["https://*example.com"]}, "anchored", id="unanchorable"),
        pytest.param({"allow_origin_regex": [".*"]}, "arbitrary", id="regex-everything"),
        pytest.param({"allow_origins": APP_ORIGIN}, "not one string", id="string"),
        pytest.param({"allow_methods": ["GET POST"]}, "allow_methods", id="bad-method"),
        pytest.param({"allow_headers": ["X\r\nY"]}, "allow_headers", id="bad-header"),
        pytest.param(
            {"allow_origins": [APP_ORIGIN], "allow_credentials": True, "expose_headers": ["*"]},
            "expose_headers",
            id="expose-star-creds",
        ),
        pytest.param({"max_age": -1}, "max_age", id="max-age"),
        pytest.param({"allow_credentials": "yes"}, "allow_credentials", id="creds-type"),
        pytest.param({"rules": {"/a": {"allow_origin": []}}}, "unknown option", id="typo"),
        pytest.param({"rules": {"a": {}}}, "start with '/'", id="bad-pattern"),
        pytest.param({"rules": {"/a": ["x"]}}, "dict of options", id="bad-rule"),
    ],
)
def test_configuration_errors_name_the_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match=message) as info:
        CORS(**options)
    option = info.value.option
    assert option.split(".")[-1] in {*_OPTION_NAMES, "rules"} or option.startswith("rules[")


_OPTION_NAMES = {
    "allow_origins",
    "allow_origin_regex",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "allow_credentials",
    "max_age",
    "rules",
}


@pytest.mark.parametrize(
    "regex",
    [
        pytest.param(r"https://(www\.)?example\.com.*", id="issue11-11-cors-regex-past-host"),
        pytest.param(r"https://example\.com(\..*)?", id="issue11-11-cors-regex-optional-tail"),
    ],
)
def test_regex_running_past_the_host_is_refused(regex: str) -> None:
    with pytest.raises(OptionError, match="past the end of its host") as info:
        CORS(allow_origin_regex=[regex], allow_credentials=True)
    assert info.value.option == "allow_origins"
    assert repr(regex) in str(info.value)
    # The anchored form of the same intent keeps working, and stays anchored.
    good = CORS(allow_origin_regex=[r"https://(www\.)?example\.com(:\d+)?"], allow_credentials=True)
    for origin, allowed in [
        ("https://example.com", True),
        ("https://www.example.com:8443", True),
        ("https://example.com.evil.example", False),
    ]:
        recorder, _ = run(good, text_app(), HTTP_ORIGIN=origin)
        expected = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
        }
        assert cors_headers(recorder) == (expected if allowed else {})


def test_rule_errors_name_the_rule() -> None:
    with pytest.raises(OptionError, match=r"rules\['/api/\*'\]\.allow_origins") as info:
        CORS(rules={"/api/*": {"allow_origins": ["*"], "allow_credentials": True}})
    assert info.value.option == "rules['/api/*'].allow_origins"
    with pytest.raises(OptionError) as info:
        CORS(max_age=-1)
    assert info.value.option == "max_age"


def test_describe() -> None:
    described = example_cors().describe()
    assert described["report_only"] is False
    assert set(described["rules"]) == {"/data", "/api/*"}
    rule = described["rules"]["/data"]
    assert rule == {
        "allow_origins": [APP_ORIGIN],
        "allow_origin_regex": [],
        "allow_methods": ["GET", "POST", "PUT", "DELETE"],
        "allow_headers": ["Content-Type", "Authorization"],
        "expose_headers": [],
        "allow_credentials": True,
        "max_age": 600,
        "allow_private_network": False,
    }
    assert CORS(**described).describe() == described  # option-shaped: pastes back
    single = CORS(allow_origins=["https://B.example", "https://*.a.example"]).describe()
    assert single["rules"] is None
    assert single["allow_origins"] == ["https://b.example", "https://*.a.example"]
    assert single["allow_origin_func"] is None
    assert set(single) == set(inspect.signature(CORS).parameters) - {"app"}
    assert CORS(**single).describe() == single


def test_closed_by_default() -> None:
    recorder, _ = run(CORS(), text_app(), HTTP_ORIGIN=APP_ORIGIN)
    assert cors_headers(recorder) == {}
    recorder, _ = run(CORS(), never_called, **preflight(path="/"))
    assert recorder.status == "403 Forbidden"


class TestWebTest:
    def app(self) -> webtest.TestApp:
        stack = Stack([example_cors(), RequireBearer()], text_app())
        return webtest.TestApp(stack, lint=True)

    def test_preflight(self) -> None:
        response = self.app().options(
            "/api/protected",
            headers={
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
            status=204,
        )
        assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert response.headers["Access-Control-Allow-Credentials"] == "true"

    def test_401_readable_cross_origin(self) -> None:
        response = self.app().get("/api/protected", headers={"Origin": APP_ORIGIN}, status=401)
        assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert response.headers["Vary"] == "Origin"
        assert response.json == {"error": "Unauthorized"}

    def test_refused_preflight(self) -> None:
        response = self.app().options(
            "/data",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
            status=403,
        )
        assert "Access-Control-Allow-Origin" not in response.headers


# -- the shared Vary merger's in-place fast path (every CORS response uses it) ---------


def _reference_merge_vary(headers: list[tuple[str, str]], tokens: tuple[str, ...]) -> None:
    """merge_vary as first written: always folds and rebuilds the list."""
    seen: dict[str, str] = {}
    first = -1
    kept: list[tuple[str, str]] = []
    for key, value in headers:
        if key.lower() == "vary":
            if first < 0:
                first = len(kept)
            for token in value.split(","):
                token = token.strip()
                if token:
                    seen.setdefault(token.lower(), token)
        else:
            kept.append((key, value))
    for token in tokens:
        seen.setdefault(token.lower(), token)
    if not seen:
        return
    value = "*" if "*" in seen else ", ".join(seen.values())
    if first < 0:
        kept.append(("Vary", value))
    else:
        kept.insert(first, ("Vary", value))
    headers[:] = kept


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Vary", "vary", "VARY", "Content-Type", "X-A", "Varies"]),
            st.text(alphabet="ab*, Origin", max_size=12),
        ),
        max_size=5,
    ),
    st.lists(st.sampled_from(["Origin", "origin", "Cookie", "*", "Accept"]), max_size=3),
)
def test_merge_vary_fast_path_matches_the_general_fold(
    headers: list[tuple[str, str]], tokens: list[str]
) -> None:
    fast, reference = list(headers), list(headers)
    merge_vary(fast, tuple(tokens))
    _reference_merge_vary(reference, tuple(tokens))
    assert fast == reference


@pytest.mark.parametrize("spelling", ["access-control-allow-origin", "ACCESS-CONTROL-MAX-AGE"])
@pytest.mark.parametrize("vary", ["vary", "VARY", "Vary"])
def test_apps_cors_headers_in_any_spelling_are_replaced(spelling: str, vary: str) -> None:
    app = text_app(extra=[(spelling, "https://evil.example"), (vary, "Accept"), ("X-A", "1")])
    for _ in range(2):
        recorder, _ = run(example_cors(), app, PATH_INFO="/data", HTTP_ORIGIN=APP_ORIGIN)
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == APP_ORIGIN
        assert "https://evil.example" not in str(recorder.headers)
        assert recorder.header_values("Vary") == ["Accept, Origin"]
        assert recorder.header_values("X-A") == ["1"]


def test_pattern_origins_decided_alike_on_repeated_requests() -> None:
    layer = example_cors(allow_origins=["https://*.partner.example"])
    for _ in range(3):
        recorder, _ = run(
            layer, text_app(), PATH_INFO="/data", HTTP_ORIGIN="https://a.partner.example"
        )
        assert cors_headers(recorder)["Access-Control-Allow-Origin"] == "https://a.partner.example"
        recorder, _ = run(
            layer, text_app(), PATH_INFO="/data", HTTP_ORIGIN="https://a.partner.example.evil"
        )
        assert cors_headers(recorder) == {}


@pytest.mark.parametrize(
    ("path", "granted"),
    [
        pytest.param("/api/data", True, id="plain"),
        pytest.param("/api//data", True, id="repeated-slash"),
        pytest.param("/api/x/../data", True, id="dot-dot-inside-the-rule"),
        pytest.param("/public/../api/data", False, id="dot-dot-into-the-rule"),
        pytest.param("/api/../private", False, id="dot-dot-out-of-the-rule"),
    ],
)
def test_rules_grant_only_when_raw_and_resolved_path_agree(path: str, granted: bool) -> None:
    layer = CORS(
        allow_origins=["https://app.example.com"], rules={"/api/*": {}}, allow_credentials=True
    )
    recorder = Recorder()
    environ = make_environ(PATH_INFO=path, HTTP_ORIGIN="https://app.example.com")
    consume(Stack([layer], text_app())(environ, recorder))
    assert bool(recorder.header_values("Access-Control-Allow-Origin")) is granted
