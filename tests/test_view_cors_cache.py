"""Issue 12: a view amends this response's CORS and cache policy at run time.

``cors_allow(environ, origin, expose_headers=...)`` and ``cache_policy(environ,
value)`` record under ``headerware.cors.allow`` / ``headerware.caching.policy``;
the layers read them in their response hook. Exercised through WebTest with
``wsgiref.validate`` on both sides of the stack, from a bare WSGI app (list and
streamed bodies) and from a Flask app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

import flask
import pytest
import webtest

from headerware import CORS, Caching, Stack
from headerware.layers.caching import POLICY_KEY, cache_policy
from headerware.layers.cors import ALLOW_KEY, cors_allow

APP_ORIGIN = "https://app.example.com"
PARTNER = "https://partner.example"
STATIC_RULE = "public, max-age=31536000, immutable"

View = Callable[[dict[str, Any]], None]


def bare_app(view: View | None = None, *, extra: list[tuple[str, str]] | None = None) -> Any:
    """A bare WSGI app whose 'view' runs before start_response."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if view is not None:
            view(environ)
        body = b"hello"
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers + (extra or []))
        return [body]

    return app


def streaming_app(view: View) -> Any:
    """A generator app: the view runs, then start_response on the first iteration."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        view(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"hel"
        yield b"lo"

    return app


def cors_layer(**options: Any) -> CORS:
    defaults: dict[str, Any] = {
        "allow_origins": [APP_ORIGIN],
        "allow_credentials": True,
        "expose_headers": ["X-Request-Id"],
        "rules": {"/api/*": {}, "/closed": None},
    }
    defaults.update(options)
    return CORS(**defaults)


def client(layers: list[Any], app: Any, *, inner: bool = True) -> webtest.TestApp:
    """The stack between two validators; ``inner=False`` keeps the app's list body
    visible to the stack (the inner validator wraps it: no computed ETag then)."""
    return webtest.TestApp(validator(Stack(layers, validator(app) if inner else app)), lint=True)


def acao(response: webtest.TestResponse) -> str | None:
    value = response.headers.get("Access-Control-Allow-Origin")
    return None if value is None else str(value)


# -- CORS: one extra origin or exposed header ---------------------------------------


def partner_view(environ: dict[str, Any]) -> None:
    cors_allow(environ, PARTNER, expose_headers=["X-Total", "x-request-id"])


@pytest.mark.parametrize("make_app", [bare_app, streaming_app], ids=["list", "streamed"])
def test_view_allows_one_extra_origin(make_app: Callable[[View], Any]) -> None:
    app = client([cors_layer()], make_app(partner_view))
    response = app.get("/api/items", headers={"Origin": PARTNER})
    assert response.text == "hello"
    assert acao(response) == PARTNER  # the request's own Origin, never "*"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Expose-Headers"] == "X-Request-Id, X-Total"
    assert response.headers["Vary"] == "Origin"


def test_extra_origin_grants_only_that_origin() -> None:
    app = client([cors_layer()], bare_app(partner_view))
    other = app.get("/api/items", headers={"Origin": "https://other.example"})
    assert acao(other) is None and "Access-Control-Expose-Headers" not in other.headers
    assert other.headers["Vary"] == "Origin"
    # The configured origin keeps its grant, and gets the view's exposed header too.
    listed = app.get("/api/items", headers={"Origin": APP_ORIGIN})
    assert acao(listed) == APP_ORIGIN
    assert listed.headers["Access-Control-Expose-Headers"] == "X-Request-Id, X-Total"


def test_extra_origin_is_for_this_response_only() -> None:
    def view(environ: dict[str, Any]) -> None:
        if environ["PATH_INFO"] == "/api/partner":
            cors_allow(environ, PARTNER)

    app = client([cors_layer()], bare_app(view))
    assert acao(app.get("/api/partner", headers={"Origin": PARTNER})) == PARTNER
    assert acao(app.get("/api/other", headers={"Origin": PARTNER})) is None


def test_view_cannot_switch_cors_on_where_it_is_off() -> None:
    app = client([cors_layer()], bare_app(partner_view))
    for path in ("/closed", "/uncovered"):
        response = app.get(path, headers={"Origin": PARTNER})
        assert acao(response) is None
        assert "Vary" not in response.headers


def test_public_route_stays_star_without_credentials() -> None:
    layer = CORS(allow_origins=["*"])
    response = client([layer], bare_app(partner_view)).get("/", headers={"Origin": PARTNER})
    assert acao(response) == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.headers["Access-Control-Expose-Headers"] == "X-Total, x-request-id"


def test_preflight_is_answered_from_the_configuration() -> None:
    app = client([cors_layer()], bare_app(partner_view))
    headers = {"Origin": PARTNER, "Access-Control-Request-Method": "POST"}
    response = app.options("/api/items", headers=headers, status=403)
    assert acao(response) is None
    assert "origin not allowed" in response.json["error"]


def test_view_replaces_the_apps_own_cors_headers() -> None:
    app = client(
        [cors_layer()],
        bare_app(partner_view, extra=[("Access-Control-Allow-Origin", "*")]),
    )
    response = app.get("/api/items", headers={"Origin": PARTNER})
    assert response.headers.getall("Access-Control-Allow-Origin") == [PARTNER]


def test_later_calls_add_to_earlier_ones() -> None:
    def view(environ: dict[str, Any]) -> None:
        cors_allow(environ, PARTNER)
        cors_allow(environ, "https://second.example", expose_headers=["X-Total"])
        cors_allow(environ, expose_headers=["X-Page"])

    app = client([cors_layer()], bare_app(view))
    for origin in (PARTNER, "https://second.example"):
        response = app.get("/api/items", headers={"Origin": origin})
        assert acao(response) == origin
        assert response.headers["Access-Control-Expose-Headers"] == "X-Request-Id, X-Total, X-Page"


def test_report_only_does_not_log_a_granted_origin(caplog: pytest.LogCaptureFixture) -> None:
    app = client([cors_layer(report_only=True)], bare_app(partner_view))
    with caplog.at_level(logging.INFO, logger="headerware"):
        response = app.get("/api/items", headers={"Origin": PARTNER})
        app.get("/api/items", headers={"Origin": "https://other.example"})
    assert acao(response) is None  # report-only changes nothing
    refused = [r.hw_fields["origin"] for r in caplog.records]  # type: ignore[attr-defined]
    assert refused == ["https://other.example"]


@pytest.mark.parametrize(
    ("origin", "expose", "message"),
    [
        pytest.param("*", (), "'*' is not an origin", id="star"),
        pytest.param("null", (), "not a serialized origin", id="null"),
        pytest.param("https://Partner.example", (), "write 'https://partner.example'", id="case"),
        pytest.param(
            "https://partner.example:443", (), "write 'https://partner.example'", id="default-port"
        ),
        pytest.param("https://partner.example/", (), "not a serialized origin", id="path"),
        pytest.param("partner.example", (), "not a serialized origin", id="no-scheme"),
        pytest.param("https://p.example\r\nX: y", (), "not a serialized origin", id="crlf"),
        pytest.param(None, ["X Total"], "not a header name", id="header-space"),
        pytest.param(None, ["*"], "not a header name", id="header-star"),
        pytest.param(None, "X-Total", "not a string", id="header-string"),
    ],
)
def test_cors_allow_refuses_programming_errors(
    origin: str | None, expose: Any, message: str
) -> None:
    environ: dict[str, Any] = {}
    with pytest.raises(ValueError, match=message):
        cors_allow(environ, origin, expose_headers=expose)
    assert ALLOW_KEY not in environ


def test_hand_written_grant_is_ignored() -> None:
    def view(environ: dict[str, Any]) -> None:
        environ[ALLOW_KEY] = {"origins": [PARTNER]}  # not what cors_allow records

    response = client([cors_layer()], bare_app(view)).get("/api/x", headers={"Origin": PARTNER})
    assert acao(response) is None


# -- Caching: the view chooses the cache policy -------------------------------------


def caching_layer(**options: Any) -> Caching:
    return Caching(rules={"/static/*": STATIC_RULE}, **options)


def policy_view(value: str) -> View:
    def view(environ: dict[str, Any]) -> None:
        cache_policy(environ, value)

    return view


@pytest.mark.parametrize("make_app", [bare_app, streaming_app], ids=["list", "streamed"])
def test_view_policy_wins_over_rules(make_app: Callable[[View], Any]) -> None:
    app = client([caching_layer()], make_app(policy_view("no-cache")))
    response = app.get("/static/app.js")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.text == "hello"


def test_view_policy_wins_over_override_and_the_apps_header() -> None:
    app = client(
        [caching_layer(override=True)],
        bare_app(policy_view("public, max-age=60"), extra=[("Cache-Control", "no-cache")]),
        inner=False,
    )
    response = app.get("/static/app.js")
    assert response.headers.getall("Cache-Control") == ["public, max-age=60"]
    assert response.headers["ETag"].startswith('W/"')


def test_without_a_view_policy_the_rules_apply() -> None:
    app = client([caching_layer()], bare_app())
    assert app.get("/static/app.js").headers["Cache-Control"] == STATIC_RULE


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Authorization": "Bearer t"}, "no-store", id="authorization"),
        pytest.param({"Cookie": "session=abc"}, "no-store", id="session-cookie"),
    ],
)
def test_view_public_never_reaches_an_authenticated_request(
    headers: dict[str, str], expected: str
) -> None:
    app = client([caching_layer()], bare_app(policy_view("public, max-age=60")), inner=False)
    response = app.get("/page", headers=headers)
    assert response.headers["Cache-Control"] == expected
    assert "ETag" not in response.headers


def test_view_private_is_kept_for_an_authenticated_request() -> None:
    app = client([caching_layer()], bare_app(policy_view("private, max-age=60")))
    response = app.get("/page", headers={"Authorization": "Bearer t"})
    assert response.headers["Cache-Control"] == "private, max-age=60"


def test_view_public_with_set_cookie_becomes_private() -> None:
    app = client(
        [caching_layer()],
        bare_app(policy_view("public, max-age=60"), extra=[("Set-Cookie", "theme=dark; Path=/")]),
    )
    response = app.get("/page")
    assert response.headers["Cache-Control"] == "private, max-age=60"


def test_view_no_store_gets_no_etag() -> None:
    app = client([caching_layer()], bare_app(policy_view("no-store")), inner=False)
    response = app.get("/static/app.js")
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers
    # The rule alone would have given an ETag: the view's no-store is what removed it.
    assert "ETag" in client([caching_layer()], bare_app(), inner=False).get("/static/a").headers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("public\r\nSet-Cookie: a=b", "control character", id="crlf"),
        pytest.param("max-age=60\n", "control character", id="lf"),
        pytest.param("", "must be a Cache-Control value", id="empty"),
        pytest.param("  ", "must be a Cache-Control value", id="blank"),
        pytest.param(60, "must be a Cache-Control value", id="not-a-string"),
    ],
)
def test_cache_policy_refuses_what_a_rule_refuses(value: Any, message: str) -> None:
    environ: dict[str, Any] = {}
    with pytest.raises(ValueError, match=message):
        cache_policy(environ, value)
    assert POLICY_KEY not in environ


def test_later_cache_policy_replaces_the_earlier() -> None:
    def view(environ: dict[str, Any]) -> None:
        cache_policy(environ, "no-cache")
        cache_policy(environ, "max-age=5")

    app = client([caching_layer()], bare_app(view))
    assert app.get("/x").headers["Cache-Control"] == "max-age=5"


def test_hand_written_bad_policy_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    def view(environ: dict[str, Any]) -> None:
        environ[POLICY_KEY] = "public\r\nX-Injected: 1"

    app = client([caching_layer()], bare_app(view))
    with caplog.at_level(logging.WARNING, logger="headerware"):
        response = app.get("/static/app.js")
    assert response.headers["Cache-Control"] == STATIC_RULE
    assert "X-Injected" not in response.headers
    events = [r.hw_event for r in caplog.records]  # type: ignore[attr-defined]
    assert events == ["cache_policy_ignored"]


# -- the same helpers from a Flask view ---------------------------------------------


def flask_app() -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/api/report")
    def report() -> str:
        cors_allow(flask.request.environ, PARTNER, expose_headers=["X-Total"])
        cache_policy(flask.request.environ, "private, max-age=30")
        return "report"

    @app.get("/static/live.json")
    def live() -> dict[str, bool]:
        cache_policy(flask.request.environ, "no-cache")
        return {"live": True}

    @app.get("/static/app.js")
    def static_file() -> str:
        return "js"

    return app


def test_flask_view_amends_cors_and_caching() -> None:
    app = client([cors_layer(), caching_layer()], flask_app())
    response = app.get("/api/report", headers={"Origin": PARTNER})
    assert response.text == "report"
    assert acao(response) == PARTNER
    assert response.headers["Access-Control-Expose-Headers"] == "X-Request-Id, X-Total"
    assert response.headers["Cache-Control"] == "private, max-age=30"
    assert acao(app.get("/api/report", headers={"Origin": "https://other.example"})) is None
    assert app.get("/static/live.json").headers["Cache-Control"] == "no-cache"
    assert app.get("/static/app.js").headers["Cache-Control"] == STATIC_RULE
