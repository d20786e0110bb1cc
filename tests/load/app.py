"""A small WSGI app behind a full headerware stack, served by gunicorn in the load tests.

Routes (bare WSGI, no framework):

``GET /``            200 ``ok`` (text)
``GET /page``        200 HTML whose inline script carries the request's CSP nonce
``GET /api/data``    200 JSON; CORS for ``https://app.example.com`` (``/api/*``)
``GET /count``       the session counter: ``session["n"] += 1``, body is the new value
``GET /boom/request``   a layer whose ``on_request`` raises
``GET /boom/response``  a layer whose ``on_response`` raises
``GET /boom/callback``  a ``ResponseHeaders`` per-request callable that raises
``GET /boom/app``       the application itself raises

Only ``/count`` runs the Sessions layer (a per-route variant of the stack), so a
session store that is down costs the session routes only. Configuration by
environment, read once at import:

``HW_LOAD_STORE``      ``cookie`` (default), ``sqlite:/path/to/file.db`` or a
                       ``redis://127.0.0.1:PORT/0`` URL
``HW_LOAD_TIMEOUT``    the store's bounded wait in seconds (SQLite busy timeout,
                       Redis socket timeout); default ``0.5``
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from headerware import Context, Layer, Response, ResponseHead, Stack
from headerware.layers.cookies import CookiePolicy
from headerware.layers.cors import CORS
from headerware.layers.csp import ContentSecurityPolicy, csp_nonce
from headerware.layers.headers import ResponseHeaders
from headerware.layers.security import SecurityHeaders
from headerware.layers.sessions import Sessions, get_session
from headerware.stores import CookieStore, ServerStore
from headerware.stores.redis import RedisStore
from headerware.stores.sqlite import SQLiteStore

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SECRET_KEY = "load-test-key-0123456789abcdef"
ALLOWED_ORIGIN = "https://app.example.com"
SESSION_PATHS = ("/count",)


def _text(start_response: StartResponse, body: bytes, content_type: str) -> list[bytes]:
    start_response(
        "200 OK",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            # Which worker process answered: the tests check that both took part.
            ("X-Worker-Pid", str(os.getpid())),
        ],
    )
    return [body]


def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The bare application: one branch per route."""
    path = environ.get("PATH_INFO", "/")
    if path == "/count":
        session = get_session(environ)
        session["n"] = int(session.get("n", 0)) + 1
        return _text(start_response, str(session["n"]).encode(), "text/plain")
    if path == "/page":
        nonce = csp_nonce(environ)
        markup = (
            "<!doctype html><title>page</title>"
            f'<script nonce="{nonce}">document.body.dataset.ran = "yes"</script>'
        )
        return _text(start_response, markup.encode(), "text/html; charset=utf-8")
    if path == "/api/data":
        body = json.dumps({"message": "Hello JSON!"}).encode()
        return _text(start_response, body, "application/json")
    if path == "/boom/app":
        raise RuntimeError("application bug (load-test fault injection)")
    if path.startswith("/boom/") or path == "/":
        return _text(start_response, b"ok", "text/plain")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


class Boom(Layer):
    """A buggy custom layer: raises in ``on_request`` / ``on_response`` on its paths."""

    name: ClassVar[str] = "boom"

    def on_request(self, ctx: Context) -> Response | None:
        if ctx.path == "/boom/request":
            raise RuntimeError("layer bug in on_request (fault injection)")
        return None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        if ctx.path == "/boom/response":
            raise RuntimeError("layer bug in on_response (fault injection)")


def request_tag(ctx: Context) -> str | None:
    """A per-request header value whose callable raises on ``/boom/callback``."""
    if ctx.path == "/boom/callback":
        raise RuntimeError("callback bug (fault injection)")
    return "tagged"


def make_store(spec: str, timeout: float) -> CookieStore | ServerStore:
    """The session store named by ``HW_LOAD_STORE``."""
    if spec == "cookie":
        return CookieStore()
    if spec.startswith("sqlite:"):
        return SQLiteStore(spec.removeprefix("sqlite:"), timeout=timeout)
    if spec.startswith("redis://"):
        return RedisStore(spec, socket_timeout=timeout, prefix="hw-load:")
    raise ValueError(f"HW_LOAD_STORE: {spec!r}; use cookie, sqlite:/path or redis://host:port/0")


def build(store: CookieStore | ServerStore) -> Stack:
    """The stack: security headers, CSP, CORS, cookie policy, response headers, Boom."""
    base: list[Layer] = [
        SecurityHeaders(),
        ContentSecurityPolicy(),
        CORS(rules={"/api/*": {"allow_origins": [ALLOWED_ORIGIN], "allow_credentials": True}}),
        CookiePolicy(),
        ResponseHeaders(set={"X-Request-Tag": request_tag}),
        Boom(),
    ]
    sessions = Sessions(store=store, secret_keys=[SECRET_KEY])
    routes: list[tuple[str, Any]] = [(path, [*base, sessions]) for path in SESSION_PATHS]
    return Stack(base, application, routes=routes)


app = build(
    make_store(
        os.environ.get("HW_LOAD_STORE", "cookie"), float(os.environ.get("HW_LOAD_TIMEOUT", "0.5"))
    )
)
