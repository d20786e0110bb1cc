"""headerware.contrib.flask.init_app: the Jinja globals in Flask's templates."""

from __future__ import annotations

import re
from typing import Any
from wsgiref.validate import validator

import webtest
from flask import Flask, render_template_string, request

from headerware import ContentSecurityPolicy, CSRFProtect, Sessions, Stack
from headerware.contrib.flask import init_app

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
