"""headerware.contrib.jinja: the nonce and CSRF token as Jinja globals, in a bare WSGI
app and (rendered with ``scope=``) in a Starlette app."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any
from wsgiref.validate import validator

import httpx
import jinja2
import pytest
import webtest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route

from headerware import ASGIStack, ContentSecurityPolicy, CSRFProtect, Sessions, Stack
from headerware.contrib.jinja import install

KEY = "k" * 32
PAGE = (
    '<script nonce="{{ csp_nonce() }}">run()</script>'
    '<form method="post"><input name="csrf_token" value="{{ csrf_token() }}"></form>'
)


def environment(getter: Any = None) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True)
    install(env, getter)
    return env


def page_app(env: jinja2.Environment, pass_environ: bool) -> Any:
    template = env.from_string(PAGE)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            body = b"posted"
        else:
            kwargs = {"environ": environ} if pass_environ else {}
            body = template.render(**kwargs).encode()
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def client(app: Any) -> webtest.TestApp:
    layers = [
        ContentSecurityPolicy(),
        Sessions(secret_keys=[KEY]),
        CSRFProtect(mode="token", secret_keys=[KEY]),
    ]
    return webtest.TestApp(validator(Stack(layers, validator(app))), lint=True)


def nonce_of(response: Any) -> str:
    match = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert match is not None
    return match.group(1)


def test_globals_from_the_environ_template_variable() -> None:
    app = client(page_app(environment(), pass_environ=True))
    response = app.get("/")
    assert f'<script nonce="{nonce_of(response)}">' in response.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert token is not None
    # The token the template rendered is the one CSRFProtect accepts.
    assert app.post("/", {"csrf_token": token.group(1)}).text == "posted"
    app.post("/", {"csrf_token": "forged"}, status=403)


def test_globals_from_the_environ_getter() -> None:
    current: dict[str, Any] = {}

    def inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        current["environ"] = environ
        return page_app(env, pass_environ=False)(environ, start_response)

    env = environment(lambda: current["environ"])
    response = client(inner).get("/")
    assert f'<script nonce="{nonce_of(response)}">' in response.text


def test_template_variable_wins_over_the_getter() -> None:
    env = environment(lambda: {"headerware.csp.nonce": "from-getter"})
    template = env.from_string("{{ csp_nonce() }}")
    assert template.render() == "from-getter"
    assert template.render(environ={"headerware.csp.nonce": "given"}) == "given"


def test_missing_nonce_is_a_clear_error_unless_a_default_is_given() -> None:
    env = environment(lambda: {})
    with pytest.raises(LookupError, match="ContentSecurityPolicy"):
        env.from_string("{{ csp_nonce() }}").render()
    assert env.from_string("[{{ csp_nonce(default='') }}]").render() == "[]"
    with pytest.raises(LookupError, match="mode='token'"):
        env.from_string("{{ csrf_token() }}").render()


def test_no_environ_at_all_names_the_fix() -> None:
    with pytest.raises(LookupError, match="environ_getter"):
        environment().from_string("{{ csp_nonce() }}").render()


def test_getter_must_be_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        install(jinja2.Environment(), "not callable")  # type: ignore[arg-type]


def test_nonce_is_escaped_in_markup() -> None:
    env = environment(lambda: {"headerware.csp.nonce": '"><b>'})
    assert env.from_string("{{ csp_nonce() }}").render() == "&#34;&gt;&lt;b&gt;"


def test_globals_from_the_scope_template_variable_under_asgi() -> None:
    """An ASGI app renders with ``scope=request.scope``: the same keys are there."""
    template = environment().from_string(PAGE)

    async def view(request: Request) -> PlainTextResponse | HTMLResponse:
        if request.method == "POST":
            return PlainTextResponse("posted")
        return HTMLResponse(template.render(scope=request.scope))

    layers = [
        ContentSecurityPolicy(),
        Sessions(secret_keys=[KEY]),
        CSRFProtect(mode="token", secret_keys=[KEY]),
    ]
    stack = ASGIStack(layers, Starlette(routes=[Route("/", view, methods=["GET", "POST"])]))

    async def visit() -> None:
        transport = httpx.ASGITransport(app=stack)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as app:
            response = await app.get("/")
            assert f'<script nonce="{nonce_of(response)}">' in response.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
            assert token is not None
            posted = await app.post("/", data={"csrf_token": token.group(1)})
            assert (posted.status_code, posted.text) == (200, "posted")
            forged = await app.post("/", data={"csrf_token": "forged"})
            assert forged.status_code == 403

    asyncio.run(visit())


def test_scope_template_variable_wins_over_the_getter() -> None:
    env = environment(lambda: {"headerware.csp.nonce": "from-getter"})
    template = env.from_string("{{ csp_nonce() }}")
    assert template.render(scope={"headerware.csp.nonce": "from-scope"}) == "from-scope"
    assert template.render(scope="not a mapping") == "from-getter"
