"""headerware.contrib.flask.init_app: the Jinja globals in Flask's templates."""

from __future__ import annotations

import logging
import re
from typing import Any
from wsgiref.validate import validator

import webtest
from flask import Flask, render_template_string, request

from headerware import ContentSecurityPolicy, CSRFProtect, Sessions, Stack
from headerware.contrib.flask import csrf_exempt, init_app

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
