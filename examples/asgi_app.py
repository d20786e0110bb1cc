"""The example routes as a Starlette (ASGI) app, wrapped by headerware.

``starlette_app`` is the bare Starlette application; ``app`` is the same wrapped in
the layers that ``examples/headerware.toml`` configures, as an ASGI application
(``load_config(CONFIG_PATH).asgi(...)``). Serve it with
``uvicorn examples.asgi_app:app``. Same routes, same behaviour as
``examples/flask_app.py`` and ``examples/wsgi_app.py``: the contract of
``docs/examples.md``. headerware's per-request values are read from the ASGI
scope (``request.scope``) with the same helpers the WSGI examples use on the environ.
"""

from __future__ import annotations

import html
import os
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from examples.common import (
    CONFIG_PATH,
    COOKIE_DELETED,
    COOKIE_SET,
    LOGGED_IN,
    PREFERENCES_OFFERS,
    PREFERENCES_TEMPLATE,
    PREFERENCES_UPDATED,
    THEME_PATTERN,
    THEME_SET,
    jinja_environment,
)
from headerware import (
    get_session,
    load_config,
    negotiate_media_type,
    negotiated_language,
    negotiated_media_type,
)

MAX_FORM_BODY = 64 * 1024
# Jinja with headerware's csp_nonce() / csrf_token() globals; render(scope=request.scope).
TEMPLATES = jinja_environment()


async def _form(request: Request) -> dict[str, list[str]]:
    """An urlencoded form body of at most ``MAX_FORM_BODY`` bytes (else empty)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BODY:
            return {}
    return parse_qs(body.decode("latin-1"), keep_blank_values=True)


async def index(request: Request) -> Response:
    return PlainTextResponse(f"Your browser is: {request.headers.get('user-agent', '')}")


async def page(request: Request) -> Response:
    return HTMLResponse(TEMPLATES.get_template("page.html").render(scope=request.scope))


async def custom_header(request: Request) -> Response:
    return PlainTextResponse("Hello, World!", headers={"X-Custom-Header": "MyValue"})


async def set_cookie(request: Request) -> Response:
    response = PlainTextResponse(COOKIE_SET)
    response.set_cookie("username", "john_doe", max_age=604800)
    return response


async def get_cookie(request: Request) -> Response:
    username = request.cookies.get("username")
    return PlainTextResponse(f"Hello, {html.escape(username) if username else 'stranger'}!")


async def delete_cookie(request: Request) -> Response:
    response = PlainTextResponse(COOKIE_DELETED)
    response.delete_cookie("username")
    return response


async def login(request: Request) -> Response:
    session = get_session(request.scope)
    session.regenerate()
    session["user_id"] = 42
    return PlainTextResponse(LOGGED_IN)


async def dashboard(request: Request) -> Response:
    user_id = get_session(request.scope).get("user_id")
    if user_id is None:
        return PlainTextResponse("Please log in")
    return PlainTextResponse(f"Welcome user #{int(user_id)}")


async def data(request: Request) -> Response:
    if negotiated_media_type(request.scope) == "application/json":
        return JSONResponse({"message": "Hello JSON!"})
    return HTMLResponse("<p>Hello HTML!</p>")


async def hello(request: Request) -> Response:
    return PlainTextResponse("¡Hola!" if negotiated_language(request.scope) == "es" else "Hello!")


async def protected(request: Request) -> Response:
    return JSONResponse({"data": "secret information"})


def _with_theme(response: Response, theme: str) -> Response:
    response.set_cookie("theme", theme, max_age=31536000)
    return response


async def set_theme(request: Request) -> Response:
    theme = request.path_params["theme"]
    if not THEME_PATTERN.fullmatch(theme):
        return PlainTextResponse("Invalid theme", status_code=400)
    return _with_theme(PlainTextResponse(THEME_SET), theme)


async def preferences(request: Request) -> Response:
    if request.method == "POST":
        theme = (await _form(request)).get("theme", [""])[0]
        if not THEME_PATTERN.fullmatch(theme):
            return PlainTextResponse("Invalid theme", status_code=400)
        return _with_theme(PlainTextResponse(PREFERENCES_UPDATED), theme)
    theme = request.cookies.get("theme", "light")
    if not THEME_PATTERN.fullmatch(theme):
        theme = "light"
    # Negotiated through headerware's helper, which also marks the response Vary: Accept.
    chosen = negotiate_media_type(request.scope, PREFERENCES_OFFERS, default="text/html")
    if chosen == "application/json":
        return JSONResponse({"theme": theme})
    return HTMLResponse(PREFERENCES_TEMPLATE.format(theme=theme))


starlette_app = Starlette(
    routes=[
        Route("/", index),
        Route("/page", page),
        Route("/custom-header", custom_header),
        Route("/set-cookie", set_cookie),
        Route("/get-cookie", get_cookie),
        Route("/delete-cookie", delete_cookie),
        Route("/login", login),
        Route("/dashboard", dashboard),
        Route("/data", data),
        Route("/hello", hello),
        Route("/api/protected", protected),
        Route("/set-theme/{theme}", set_theme),
        Route("/preferences", preferences, methods=["GET", "POST"]),
    ]
)
# Like Flask and the bare app: /page/ is a 404, not a redirect to /page.
starlette_app.router.redirect_slashes = False

app = load_config(CONFIG_PATH).asgi(starlette_app)

if __name__ == "__main__":  # pragma: no cover - manual use
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
