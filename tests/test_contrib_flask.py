"""headerware.contrib.flask.init_app: the Jinja globals in Flask's templates."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from flask import Flask, Response, render_template_string, request

from headerware import CORS, Caching, ContentSecurityPolicy, CSRFProtect, Sessions, Stack
from headerware.contrib.flask import (
    cache_policy_view,
    cors_allow_view,
    csp_amend_view,
    csrf_exempt,
    init_app,
)

KEY = "k" * 32


def make_app() -> Flask:
    app = Flask(__name__)
    init_app(app)

    @app.route("/", methods=["GET", "POST"])
    def index() -> str:
        if request.method == "POST":
            return "posted"
        return render_template_string(
            '<script nonce="{{ csp_nonce() }}"></script>'
            '<input name="csrf_token" value="{{ csrf_token() }}">'
        )

    return app


def client(app: Any) -> webtest.TestApp:
    layers = [
        ContentSecurityPolicy(),
        Sessions(secret_keys=[KEY]),
        CSRFProtect(mode="token", secret_keys=[KEY]),
    ]
    return webtest.TestApp(validator(Stack(layers, validator(app))), lint=True)


def test_init_app_renders_the_request_nonce_and_a_working_token() -> None:
    app = client(make_app())
    response = app.get("/")
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in response.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token is not None
    assert app.post("/", {"csrf_token": token.group(1)}).text == "posted"
    app.post("/", {"csrf_token": "forged"}, status=403)


def test_fresh_nonce_per_request() -> None:
    app = client(make_app())
    first, second = app.get("/").text, app.get("/").text
    assert first != second


def test_init_app_registers_the_extension() -> None:
    flask_app = make_app()
    assert "headerware" in flask_app.extensions
    assert "csp_nonce" in flask_app.jinja_env.globals
    assert "csrf_token" in flask_app.jinja_env.globals


# -- issue 12: per-view CSRF exemption (CSRFProtect(defer_to_framework=True)) ------

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


def exempt_app(ran: list[str]) -> Flask:
    app = Flask(__name__)

    @app.before_request
    def registered_before_init_app() -> None:
        ran.append("before_request")

    init_app(app)

    @app.post("/preferences")
    def preferences() -> str:
        ran.append("preferences")
        return "Preferences updated!"

    @app.post("/hooks/pay")
    @csrf_exempt
    def pay() -> str:
        ran.append("pay")
        return "paid"

    @csrf_exempt
    @app.post("/hooks/other-order")
    def other_order() -> str:
        ran.append("other_order")
        return "other"

    return app


def deferring_client(app: Flask, **options: Any) -> webtest.TestApp:
    layers = [CSRFProtect(defer_to_framework=True, **options)]
    return webtest.TestApp(validator(Stack(layers, validator(app))), lint=True)


def test_cross_site_post_to_a_normal_view_is_refused_before_it_runs(caplog: Any) -> None:
    ran: list[str] = []
    app = deferring_client(exempt_app(ran))
    with caplog.at_level(logging.WARNING, logger="headerware"):
        response = app.post("/preferences", {"theme": "dark"}, headers=CROSS_SITE, status=403)
    assert response.json == {"error": "Forbidden: cross-site request refused"}
    assert ran == [], "neither the view nor a later before_request may run"
    assert not [r for r in caplog.records if getattr(r, "hw_event", "") != "csrf_refused"]


def test_refusal_is_html_for_a_browser() -> None:
    app = deferring_client(exempt_app([]))
    headers = {**CROSS_SITE, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    response = app.post("/preferences", headers=headers, status=403)
    assert response.content_type == "text/html"
    assert "cross-site request refused" in response.text


def test_exempt_views_run_whatever_the_decorator_order(caplog: Any) -> None:
    ran: list[str] = []
    app = deferring_client(exempt_app(ran))
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert app.post("/hooks/pay", {"a": "1"}, headers=CROSS_SITE).text == "paid"
        assert app.post("/hooks/other-order", headers=CROSS_SITE).text == "other"
    assert ran == ["before_request", "pay", "before_request", "other_order"]
    exempted = [r for r in caplog.records if getattr(r, "hw_event", "") == "csrf_view_exempt"]
    assert [r.hw_fields["reason"] for r in exempted] == ["cross_site", "cross_site"]  # type: ignore[attr-defined]
    names = [r.hw_fields["view"] for r in exempted]  # type: ignore[attr-defined]
    assert names[0].endswith("pay")
    assert not [r for r in caplog.records if getattr(r, "hw_event", "") == "csrf_verdict_unchecked"]


def test_same_origin_post_and_unmatched_route() -> None:
    ran: list[str] = []
    app = deferring_client(exempt_app(ran))
    same = app.post("/preferences", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.text == "Preferences updated!"
    app.post("/nowhere", headers=CROSS_SITE, status=403)
    app.post("/nowhere", headers={"Sec-Fetch-Site": "same-origin"}, status=404)


def test_init_app_is_harmless_without_a_deferring_layer() -> None:
    ran: list[str] = []
    enforcing = webtest.TestApp(
        validator(Stack([CSRFProtect()], validator(exempt_app(ran)))), lint=True
    )
    enforcing.post("/hooks/pay", headers=CROSS_SITE, status=403)  # the layer refuses: no view
    assert enforcing.post("/preferences").text == "Preferences updated!"
    bare = webtest.TestApp(validator(exempt_app(ran)), lint=True)
    assert bare.post("/preferences", headers=CROSS_SITE).text == "Preferences updated!"


# -- issue 12: this view's CSP, CORS and Cache-Control, decided before the view --------

PARTNER = "https://partner.example"


def policy_app() -> Flask:
    app = Flask(__name__)
    init_app(app)

    @app.get("/plain")
    def plain() -> str:
        return "<p>plain</p>"

    @app.get("/map")
    @csp_amend_view("script-src", "https://maps.example")
    @csp_amend_view("img-src", "https://tiles.example")
    def map_page() -> str:
        return "<p>map</p>"

    @csp_amend_view("script-src", "https://maps.example")  # above the route, streamed
    @app.get("/map-stream")
    def map_stream() -> Response:
        def chunks() -> Iterator[str]:
            yield "<p>"
            yield "streamed</p>"

        return Response(chunks(), content_type="text/html")

    @app.get("/api/stock")
    @cors_allow_view(PARTNER, expose_headers=["X-Total"])
    def stock() -> dict[str, list[str]]:
        return {"items": []}

    @app.get("/api/plain")
    def api_plain() -> dict[str, list[str]]:
        return {"items": []}

    @cache_policy_view("no-cache")
    @app.get("/news")
    def news() -> dict[str, str]:
        return {"news": "none"}

    return app


def policy_client() -> webtest.TestApp:
    layers = [
        ContentSecurityPolicy(),
        CORS(allow_origins=["https://app.example"]),
        Caching(rules={"/*": "no-store"}),
    ]
    return webtest.TestApp(validator(Stack(layers, validator(policy_app()))), lint=True)


def test_csp_amend_view_adds_sources_to_this_response_only() -> None:
    app = policy_client()
    plain = app.get("/plain").headers["Content-Security-Policy"]
    amended = app.get("/map").headers["Content-Security-Policy"]
    assert "maps.example" not in plain and "tiles.example" not in plain
    script = next(d for d in amended.split(";") if d.strip().startswith("script-src"))
    assert "https://maps.example" in script and "'nonce-" in script  # the nonce stays
    assert "https://tiles.example" in amended
    assert "https://maps.example" not in app.get("/plain").headers["Content-Security-Policy"]


def test_csp_amend_view_reaches_a_streamed_response() -> None:
    response = policy_client().get("/map-stream")
    assert response.text == "<p>streamed</p>"
    assert "https://maps.example" in response.headers["Content-Security-Policy"]


def test_cors_allow_view_grants_one_extra_origin() -> None:
    app = policy_client()
    granted = app.get("/api/stock", headers={"Origin": PARTNER})
    assert granted.headers["Access-Control-Allow-Origin"] == PARTNER
    assert "X-Total" in granted.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in app.get("/api/plain", headers={"Origin": PARTNER})
    configured = app.get("/api/stock", headers={"Origin": "https://app.example"})
    assert configured.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_cache_policy_view_chooses_cache_control() -> None:
    app = policy_client()
    assert app.get("/news").headers["Cache-Control"] == "no-cache"
    assert app.get("/api/plain").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "decorate",
    [
        pytest.param(lambda: csp_amend_view("script-src", "'unsafe-inline'"), id="csp-unsafe"),
        pytest.param(lambda: csp_amend_view("script-src", "*"), id="csp-star"),
        pytest.param(lambda: csp_amend_view("scirpt-src", "https://a.example"), id="csp-typo"),
        pytest.param(lambda: cors_allow_view("https://a.example/path"), id="cors-path"),
        pytest.param(lambda: cors_allow_view("*"), id="cors-star"),
        pytest.param(lambda: cache_policy_view("no-store\r\nX: y"), id="cache-crlf"),
    ],
)
def test_a_bad_argument_fails_at_decoration_time(decorate: Any) -> None:
    app = Flask(__name__)
    with pytest.raises(ValueError):

        @app.get("/x")
        @decorate()
        def view() -> str:
            return "never registered"


def test_a_csrf_refusal_gets_none_of_the_view_policies() -> None:
    app = Flask(__name__)
    init_app(app)

    @app.post("/save")
    @cache_policy_view("public, max-age=600")
    @cors_allow_view(PARTNER)
    def save() -> str:
        return "saved"

    layers = [CORS(), Caching(), CSRFProtect(defer_to_framework=True)]
    client = webtest.TestApp(validator(Stack(layers, validator(app))), lint=True)
    refused = client.post(
        "/save", headers={"Sec-Fetch-Site": "cross-site", "Origin": PARTNER}, status=403
    )
    assert refused.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in refused.headers
    same = client.post("/save", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.text == "saved" and same.headers["Cache-Control"] == "public, max-age=600"
