"""The example routes as a bare WSGI callable, wrapped by headerware.

``bare_app`` is a plain PEP 3333 application with no framework; ``app`` is the
same wrapped in the stack that ``examples/headerware.toml`` configures. Serve it
with ``gunicorn examples.wsgi_app:app``. Same routes, same behaviour as
``examples/flask_app.py``: the contract of ``docs/examples.md``.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from werkzeug.http import dump_cookie, parse_cookie

from examples.common import (
    COOKIE_DELETED,
    COOKIE_SET,
    LOGGED_IN,
    PREFERENCES_TEMPLATE,
    PREFERENCES_UPDATED,
    THEME_PATTERN,
    THEME_SET,
    jinja_environment,
    wants_json,
    wrap,
)
from headerware import get_session, negotiated_language, negotiated_media_type

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Reply = tuple[str, list[tuple[str, str]], bytes]
MAX_FORM_BODY = 64 * 1024
# Jinja with headerware's csp_nonce() / csrf_token() globals; render(environ=environ).
TEMPLATES = jinja_environment()


def _reply(
    body: str,
    status: str = "200 OK",
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    data = body.encode("utf-8")
    base = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
    return status, base + (headers or []), data


def _cookie(environ: WSGIEnvironment, name: str) -> str | None:
    return parse_cookie(environ.get("HTTP_COOKIE", "")).get(name)


def _form(environ: WSGIEnvironment) -> dict[str, list[str]]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    content_type = environ.get("CONTENT_TYPE", "")
    if length <= 0 or length > MAX_FORM_BODY:
        return {}
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    raw = environ["wsgi.input"].read(length).decode("latin-1")
    return parse_qs(raw, keep_blank_values=True)


def index(environ: WSGIEnvironment) -> Reply:
    return _reply(f"Your browser is: {environ.get('HTTP_USER_AGENT', '')}")


def page(environ: WSGIEnvironment) -> Reply:
    markup = TEMPLATES.get_template("page.html").render(environ=environ)
    return _reply(markup, content_type="text/html; charset=utf-8")


def custom_header(environ: WSGIEnvironment) -> Reply:
    return _reply("Hello, World!", headers=[("X-Custom-Header", "MyValue")])


def set_cookie(environ: WSGIEnvironment) -> Reply:
    cookie = dump_cookie("username", "john_doe", max_age=604800, path="/")
    return _reply(COOKIE_SET, headers=[("Set-Cookie", cookie)])


def get_cookie(environ: WSGIEnvironment) -> Reply:
    username = _cookie(environ, "username")
    return _reply(f"Hello, {html.escape(username) if username else 'stranger'}!")


def delete_cookie(environ: WSGIEnvironment) -> Reply:
    cookie = dump_cookie("username", "", max_age=0, expires=0, path="/")
    return _reply(COOKIE_DELETED, headers=[("Set-Cookie", cookie)])


def login(environ: WSGIEnvironment) -> Reply:
    session = get_session(environ)
    session.regenerate()
    session["user_id"] = 42
    return _reply(LOGGED_IN)


def dashboard(environ: WSGIEnvironment) -> Reply:
    user_id = get_session(environ).get("user_id")
    if user_id is None:
        return _reply("Please log in")
    return _reply(f"Welcome user #{int(user_id)}")


def data(environ: WSGIEnvironment) -> Reply:
    if negotiated_media_type(environ) == "application/json":
        return _reply(json.dumps({"message": "Hello JSON!"}), content_type="application/json")
    return _reply("<p>Hello HTML!</p>", content_type="text/html; charset=utf-8")


def hello(environ: WSGIEnvironment) -> Reply:
    return _reply("¡Hola!" if negotiated_language(environ) == "es" else "Hello!")


def protected(environ: WSGIEnvironment) -> Reply:
    return _reply(json.dumps({"data": "secret information"}), content_type="application/json")


def _theme_cookie(theme: str) -> tuple[str, str]:
    return ("Set-Cookie", dump_cookie("theme", theme, max_age=31536000, path="/"))


def set_theme(environ: WSGIEnvironment, theme: str) -> Reply:
    if not THEME_PATTERN.fullmatch(theme):
        return _reply("Invalid theme", status="400 Bad Request")
    return _reply(THEME_SET, headers=[_theme_cookie(theme)])


def preferences(environ: WSGIEnvironment) -> Reply:
    if environ["REQUEST_METHOD"] == "POST":
        theme = _form(environ).get("theme", [""])[0]
        if not THEME_PATTERN.fullmatch(theme):
            return _reply("Invalid theme", status="400 Bad Request")
        return _reply(PREFERENCES_UPDATED, headers=[_theme_cookie(theme)])
    theme = _cookie(environ, "theme") or "light"
    if not THEME_PATTERN.fullmatch(theme):
        theme = "light"
    if wants_json(environ):
        return _reply(json.dumps({"theme": theme}), content_type="application/json")
    markup = PREFERENCES_TEMPLATE.format(theme=theme)
    return _reply(markup, content_type="text/html; charset=utf-8")


ROUTES: dict[str, tuple[tuple[str, ...], Callable[[WSGIEnvironment], Reply]]] = {
    "/": (("GET", "HEAD"), index),
    "/page": (("GET", "HEAD"), page),
    "/custom-header": (("GET", "HEAD"), custom_header),
    "/set-cookie": (("GET", "HEAD"), set_cookie),
    "/get-cookie": (("GET", "HEAD"), get_cookie),
    "/delete-cookie": (("GET", "HEAD"), delete_cookie),
    "/login": (("GET", "HEAD"), login),
    "/dashboard": (("GET", "HEAD"), dashboard),
    "/data": (("GET", "HEAD"), data),
    "/hello": (("GET", "HEAD"), hello),
    "/api/protected": (("GET", "HEAD"), protected),
    "/preferences": (("GET", "HEAD", "POST"), preferences),
}


def _dispatch(environ: WSGIEnvironment) -> Reply:
    path = environ.get("PATH_INFO", "") or "/"
    method = environ.get("REQUEST_METHOD", "GET")
    if path.startswith("/set-theme/") and path.count("/") == 2:
        if method not in ("GET", "HEAD"):
            return _reply(
                "Method Not Allowed", "405 Method Not Allowed", headers=[("Allow", "GET, HEAD")]
            )
        return set_theme(environ, path[len("/set-theme/") :])
    route = ROUTES.get(path)
    if route is None:
        return _reply("Not Found", "404 Not Found")
    methods, handler = route
    if method not in methods:
        allow = ", ".join(methods)
        return _reply("Method Not Allowed", "405 Method Not Allowed", headers=[("Allow", allow)])
    return handler(environ)


def bare_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The example application without headerware."""
    status, headers, body = _dispatch(environ)
    start_response(status, headers)
    return [body]


app = wrap(bare_app)

if __name__ == "__main__":  # pragma: no cover - manual use
    from wsgiref.simple_server import make_server

    port = int(os.environ.get("PORT", "8000"))
    make_server("127.0.0.1", port, app).serve_forever()
