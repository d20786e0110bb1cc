"""The example routes as a plain Flask app, wrapped by headerware.

``flask_app`` is the bare Flask application; ``app`` is the same wrapped in the
stack that ``examples/headerware.toml`` configures. Serve it with
``gunicorn examples.flask_app:app``. The routes and their behaviour are the
contract of ``docs/examples.md`` and are identical to ``examples/wsgi_app.py``.
"""

from __future__ import annotations

import os

from flask import Flask, Response, jsonify, render_template, request
from markupsafe import escape

from examples.common import (
    COOKIE_DELETED,
    COOKIE_SET,
    LOGGED_IN,
    PREFERENCES_TEMPLATE,
    PREFERENCES_UPDATED,
    TEMPLATES_DIR,
    THEME_PATTERN,
    THEME_SET,
    wants_json,
    wrap,
)
from headerware import get_session, negotiated_language, negotiated_media_type
from headerware.contrib.flask import init_app

flask_app = Flask(__name__, template_folder=str(TEMPLATES_DIR))
flask_app.jinja_env.keep_trailing_newline = True
# csp_nonce() and csrf_token() in every template, read from flask.request.environ.
init_app(flask_app)


@flask_app.get("/")
def index() -> Response:
    agent = request.headers.get("User-Agent", "")
    return Response(f"Your browser is: {agent}", mimetype="text/plain")


@flask_app.get("/page")
def page() -> Response:
    return Response(render_template("page.html"), mimetype="text/html")


@flask_app.get("/custom-header")
def custom_header() -> Response:
    response = Response("Hello, World!", mimetype="text/plain")
    response.headers["X-Custom-Header"] = "MyValue"
    return response


@flask_app.get("/set-cookie")
def set_cookie() -> Response:
    response = Response(COOKIE_SET, mimetype="text/plain")
    response.set_cookie("username", "john_doe", max_age=604800)
    return response


@flask_app.get("/get-cookie")
def get_cookie() -> Response:
    username = request.cookies.get("username")
    name = escape(username) if username else "stranger"
    return Response(f"Hello, {name}!", mimetype="text/plain")


@flask_app.get("/delete-cookie")
def delete_cookie() -> Response:
    response = Response(COOKIE_DELETED, mimetype="text/plain")
    response.delete_cookie("username")
    return response


@flask_app.get("/login")
def login() -> Response:
    session = get_session(request.environ)
    session.regenerate()
    session["user_id"] = 42
    return Response(LOGGED_IN, mimetype="text/plain")


@flask_app.get("/dashboard")
def dashboard() -> Response:
    user_id = get_session(request.environ).get("user_id")
    if user_id is None:
        return Response("Please log in", mimetype="text/plain")
    return Response(f"Welcome user #{int(user_id)}", mimetype="text/plain")


@flask_app.get("/data")
def data() -> Response:
    if negotiated_media_type(request.environ) == "application/json":
        return jsonify(message="Hello JSON!")
    return Response("<p>Hello HTML!</p>", mimetype="text/html")


@flask_app.get("/hello")
def hello() -> Response:
    text = "¡Hola!" if negotiated_language(request.environ) == "es" else "Hello!"
    return Response(text, mimetype="text/plain")


@flask_app.get("/api/protected")
def protected() -> Response:
    return jsonify(data="secret information")


@flask_app.get("/set-theme/<theme>")
def set_theme(theme: str) -> Response:
    if not THEME_PATTERN.fullmatch(theme):
        return Response("Invalid theme", status=400, mimetype="text/plain")
    response = Response(THEME_SET, mimetype="text/plain")
    response.set_cookie("theme", theme, max_age=31536000)
    return response


@flask_app.route("/preferences", methods=["GET", "POST"])
def preferences() -> Response:
    if request.method == "POST":
        theme = request.form.get("theme", "")
        if not THEME_PATTERN.fullmatch(theme):
            return Response("Invalid theme", status=400, mimetype="text/plain")
        response = Response(PREFERENCES_UPDATED, mimetype="text/plain")
        response.set_cookie("theme", theme, max_age=31536000)
        return response
    theme = request.cookies.get("theme", "light")
    if not THEME_PATTERN.fullmatch(theme):
        theme = "light"
    if wants_json(request.environ):
        return jsonify(theme=theme)
    return Response(PREFERENCES_TEMPLATE.format(theme=theme), mimetype="text/html")


app = wrap(flask_app)

if __name__ == "__main__":  # pragma: no cover - manual use
    from wsgiref.simple_server import make_server

    port = int(os.environ.get("PORT", "8000"))
    make_server("127.0.0.1", port, app).serve_forever()
