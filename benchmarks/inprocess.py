"""The in-process variants: bare WSGI and Flask, headerware layers and the peers.

Variant names are ``<app>.<request>.<what>``; every group starts with its baseline (the
app alone on the same request), and every other variant of the group is measured
against it in the same interleaved run. The request kinds:

``get``        plain ``GET /`` over HTTPS with a browser's Accept headers
``cors``       CORS simple request: ``GET /api/data`` with ``Origin: https://app.example.com``
``preflight``  ``OPTIONS /api/data`` with Access-Control-Request-Method/-Headers
``session``    ``GET /dashboard`` carrying a valid signed session cookie; the app reads it
``post``       ``POST /preferences`` (form body) from the same origin, CSRF-checked
``setcookie``  ``GET /set-cookie``: the app sets two cookies (cookie policy, signing)
``bearer``     ``GET /api/data`` with ``Authorization: Bearer <valid token>``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import apps, peers
from .harness import Environ, Prepared, Unavailable, Variant, WSGIApp, environ_maker

Check = Callable[[str, list[tuple[str, str]], bytes], str | None]

BEARER_TOKEN = "benchmark-token-0123456789"


# -- request kinds -----------------------------------------------------------------------


def get_request() -> Callable[[], Environ]:
    return environ_maker(PATH_INFO="/")


def cors_request() -> Callable[[], Environ]:
    return environ_maker(PATH_INFO="/api/data", HTTP_ORIGIN=apps.ALLOWED_ORIGIN)


def preflight_request() -> Callable[[], Environ]:
    return environ_maker(
        REQUEST_METHOD="OPTIONS",
        PATH_INFO="/api/data",
        HTTP_ORIGIN=apps.ALLOWED_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
        HTTP_SEC_FETCH_MODE="cors",
        HTTP_SEC_FETCH_SITE="same-site",
    )


def session_request(cookie: str) -> Callable[[], Environ]:
    return environ_maker(PATH_INFO="/dashboard", HTTP_COOKIE=cookie)


def post_request(body: bytes = b"theme=dark", cookie: str | None = None) -> Callable[[], Environ]:
    extra: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/preferences",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "HTTP_ORIGIN": "https://localhost",
        "HTTP_REFERER": "https://localhost/preferences",
        "HTTP_SEC_FETCH_SITE": "same-origin",
        "HTTP_SEC_FETCH_MODE": "navigate",
    }
    if cookie:
        extra["HTTP_COOKIE"] = cookie
    return environ_maker(body, **extra)


def setcookie_request() -> Callable[[], Environ]:
    return environ_maker(PATH_INFO="/set-cookie")


def bearer_request() -> Callable[[], Environ]:
    return environ_maker(PATH_INFO="/api/data", HTTP_AUTHORIZATION=f"Bearer {BEARER_TOKEN}")


# -- checks ------------------------------------------------------------------------------


def header(name: str, contains: str | None = None) -> Check:
    """The response must carry ``name`` (and its value must contain ``contains``)."""

    def check(status: str, headers: list[tuple[str, str]], body: bytes) -> str | None:
        values = [v for k, v in headers if k.lower() == name.lower()]
        if not values:
            return f"no {name} header in the response"
        if contains is not None and not any(contains in v for v in values):
            return f"{name} does not contain {contains!r}: {values!r}"
        return None

    return check


def body(contains: str) -> Check:
    def check(status: str, headers: list[tuple[str, str]], data: bytes) -> str | None:
        if contains.encode() not in data:
            return f"body {data[:80]!r} does not contain {contains!r}"
        return None

    return check


def all_of(*checks: Check) -> Check:
    def check(status: str, headers: list[tuple[str, str]], data: bytes) -> str | None:
        for one in checks:
            problem = one(status, headers, data)
            if problem:
                return problem
        return None

    return check


# -- helpers -----------------------------------------------------------------------------


def hw(layers: Callable[[], list[Any]], app: Callable[[], WSGIApp]) -> WSGIApp:
    """A headerware stack of ``layers()`` around ``app()``."""
    return apps.hw_stack(layers(), app())


def session_cookie_for(app: WSGIApp, name: str = "session") -> str:
    """Mint a valid session cookie (user_id=42) by running ``GET /login`` through ``app``."""
    make = environ_maker(PATH_INFO="/login")
    value = peers.set_cookie_value(app, make(), name)
    return f"{name}={value}"


def hw_session_cookie_name() -> str:
    layer = apps.sessions()
    for attribute in ("cookie_name", "name_of_cookie"):
        value = getattr(layer, attribute, None)
        if isinstance(value, str):
            return value
    return "session"


def signed_username_cookie() -> str:
    """``username=<signed john_doe>`` minted through the SignedCookies layer."""
    app = apps.hw_stack([apps.signed_cookies()], apps.make_wsgi_app())
    value = peers.set_cookie_value(app, setcookie_request()(), "username")
    return f"username={value}"


def prepared(
    app: WSGIApp,
    make: Callable[[], Environ],
    expect: str | None = "200",
    check: Check | None = None,
) -> Prepared:
    return Prepared(app, make, expect, check)


# -- variants ----------------------------------------------------------------------------


def _wsgi_variants() -> list[Variant]:
    wsgi = apps.make_wsgi_app
    out: list[Variant] = []

    def add(name: str, kind: str, build: Callable[[], Prepared], note: str = "") -> None:
        group = {
            "get": "bare WSGI app — GET",
            "cors": "bare WSGI app — CORS simple request",
            "preflight": "bare WSGI app — CORS preflight",
            "setcookie": "bare WSGI app — app sets 2 cookies",
            "session": "bare WSGI app — signed cookie + session cookie, app reads the session",
            "post": "bare WSGI app — same-origin POST (CSRF)",
            "bearer": "bare WSGI app — bearer token",
        }[kind]
        base = None if name.endswith(".bare") else f"wsgi.{kind}.bare"
        out.append(Variant(f"wsgi.{kind}.{name.split('.', 1)[-1]}", build, base, group, kind, note))

    # GET
    add("get.bare", "get", lambda: prepared(wsgi(), get_request()))
    add(
        "get.floor",
        "get",
        lambda: prepared(apps.static_header_middleware(wsgi()), get_request()),
        "hand-written closure adding 8 static headers",
    )
    add(
        "get.secure-wsgi",
        "get",
        lambda: prepared(peers.secure_wsgi_bare(wsgi()), get_request()),
        "secure.py's SecureWSGIMiddleware",
    )
    add(
        "get.hw-request-headers",
        "get",
        lambda: prepared(hw(lambda: [apps.request_headers()], wsgi), get_request()),
    )
    add(
        "get.hw-response-headers",
        "get",
        lambda: prepared(hw(lambda: [apps.response_headers()], wsgi), get_request()),
        "ResponseHeaders setting the floor's 8 headers",
    )
    add(
        "get.hw-security",
        "get",
        lambda: prepared(
            hw(lambda: [apps.security_headers()], wsgi),
            get_request(),
            check=header("X-Frame-Options"),
        ),
        "SecurityHeaders, defaults (static values)",
    )
    add(
        "get.hw-csp-nonce",
        "get",
        lambda: prepared(
            hw(lambda: [apps.csp_nonce()], wsgi),
            get_request(),
            check=header("Content-Security-Policy", "'nonce-"),
        ),
    )
    add(
        "get.hw-security+nonce",
        "get",
        lambda: prepared(
            hw(lambda: [apps.security_headers(), apps.csp_nonce()], wsgi),
            get_request(),
            check=header("Content-Security-Policy", "'nonce-"),
        ),
    )
    add(
        "get.hw-cors-idle",
        "get",
        lambda: prepared(hw(lambda: [apps.cors()], wsgi), get_request()),
        "CORS, request without Origin",
    )
    add(
        "get.hw-cookie-policy-idle",
        "get",
        lambda: prepared(hw(lambda: [apps.cookie_policy()], wsgi), get_request()),
        "no Set-Cookie in the response",
    )
    add(
        "get.hw-negotiation",
        "get",
        lambda: prepared(hw(lambda: [apps.negotiation()], wsgi), get_request()),
    )
    add(
        "get.hw-caching", "get", lambda: prepared(hw(lambda: [apps.caching()], wsgi), get_request())
    )
    add(
        "get.hw-trusted-hosts",
        "get",
        lambda: prepared(hw(lambda: [apps.trusted_hosts()], wsgi), get_request()),
    )
    add(
        "get.hw-full-nocookies",
        "get",
        lambda: prepared(
            hw(lambda: apps.full_stack(False), wsgi),
            get_request(),
            check=header("Content-Security-Policy", "'nonce-"),
        ),
        "security + nonce + CORS + cookie policy",
    )
    add(
        "get.hw-full",
        "get",
        lambda: prepared(hw(apps.full_stack, wsgi), get_request()),
        "+ signed cookies + sessions (no cookie sent)",
    )

    # CORS simple request and preflight
    add("cors.bare", "cors", lambda: prepared(wsgi(), cors_request()))
    add(
        "cors.hw-cors",
        "cors",
        lambda: prepared(
            hw(lambda: [apps.cors()], wsgi),
            cors_request(),
            check=header("Access-Control-Allow-Origin", apps.ALLOWED_ORIGIN),
        ),
    )
    add(
        "cors.hw-full-nocookies",
        "cors",
        lambda: prepared(
            hw(lambda: apps.full_stack(False), wsgi),
            cors_request(),
            check=header("Access-Control-Allow-Origin", apps.ALLOWED_ORIGIN),
        ),
    )
    add("preflight.bare", "preflight", lambda: prepared(wsgi(), preflight_request()))
    add(
        "preflight.hw-cors",
        "preflight",
        lambda: prepared(
            hw(lambda: [apps.cors()], wsgi),
            preflight_request(),
            expect="2",
            check=header("Access-Control-Allow-Methods"),
        ),
        "answered by headerware, the app is not called",
    )

    # Set-Cookie rewriting and signing
    add("setcookie.bare", "setcookie", lambda: prepared(wsgi(), setcookie_request()))
    add(
        "setcookie.hw-cookie-policy",
        "setcookie",
        lambda: prepared(
            hw(lambda: [apps.cookie_policy()], wsgi),
            setcookie_request(),
            check=header("Set-Cookie", "HttpOnly"),
        ),
    )
    add(
        "setcookie.hw-signed",
        "setcookie",
        lambda: prepared(hw(lambda: [apps.signed_cookies()], wsgi), setcookie_request()),
        "signs username on the way out",
    )
    add(
        "setcookie.hw-full",
        "setcookie",
        lambda: prepared(hw(apps.full_stack, wsgi), setcookie_request()),
    )

    # Signed cookie + session read
    def session_variant(layers: Callable[[], list[Any]], read: bool = True) -> Prepared:
        reader, writer = apps.session_access()
        app = apps.hw_stack(layers(), wsgi(reader, writer))
        cookie = session_cookie_for(app, hw_session_cookie_name())
        cookie = f"{signed_username_cookie()}; {cookie}"
        return prepared(app, session_request(cookie), check=body("#42"))

    def session_bare() -> Prepared:
        try:
            reader, writer = apps.session_access()
            app = apps.hw_stack([apps.signed_cookies(), apps.sessions()], wsgi(reader, writer))
            cookie = (
                f"{signed_username_cookie()}; {session_cookie_for(app, hw_session_cookie_name())}"
            )
        except Unavailable:
            cookie = "username=john_doe.sig; session=eyJ1c2VyX2lkIjo0Mn0.sig"
        return prepared(wsgi(), session_request(cookie))

    add("session.bare", "session", session_bare, "same cookies, not verified, not read")
    add(
        "session.hw-signed",
        "session",
        lambda: prepared(
            hw(lambda: [apps.signed_cookies()], wsgi),
            session_request(signed_username_cookie()),
        ),
        "verifies and strips the signed username cookie",
    )
    add(
        "session.hw-sessions",
        "session",
        lambda: session_variant(lambda: [apps.sessions()]),
        "cookie session loaded and read",
    )
    add(
        "session.hw-cookies+session",
        "session",
        lambda: session_variant(
            lambda: [apps.cookie_policy(), apps.signed_cookies(), apps.sessions()]
        ),
        "cookie policy + signed-cookie verify + session read",
    )
    add(
        "session.hw-full",
        "session",
        lambda: session_variant(apps.full_stack),
        "full default stack, session read",
    )

    # CSRF and bearer auth
    add("post.bare", "post", lambda: prepared(wsgi(), post_request()))
    add(
        "post.hw-csrf",
        "post",
        lambda: prepared(hw(lambda: [apps.csrf()], wsgi), post_request()),
        "tokenless (Sec-Fetch-Site / Origin)",
    )
    add("bearer.bare", "bearer", lambda: prepared(wsgi(), bearer_request()))
    add(
        "bearer.hw-auth",
        "bearer",
        lambda: prepared(hw(lambda: [apps.bearer_auth()], wsgi), bearer_request()),
    )
    return out


def _flask_variants() -> list[Variant]:
    flask_app = apps.make_flask_app
    out: list[Variant] = []

    def add(name: str, kind: str, build: Callable[[], Prepared], note: str = "") -> None:
        group = {
            "get": "Flask hello app — GET",
            "cors": "Flask hello app — CORS simple request",
            "preflight": "Flask hello app — CORS preflight",
            "session": "Flask hello app — session cookie, view reads the session",
            "post": "Flask hello app — same-origin form POST (CSRF)",
        }[kind]
        base = None if name.endswith(".bare") else f"flask.{kind}.bare"
        out.append(
            Variant(f"flask.{kind}.{name.split('.', 1)[-1]}", build, base, group, kind, note)
        )

    nonce = header("Content-Security-Policy", "'nonce-")
    allow = header("Access-Control-Allow-Origin", apps.ALLOWED_ORIGIN)

    # GET
    add("get.bare", "get", lambda: prepared(flask_app(), get_request()))
    add(
        "get.floor",
        "get",
        lambda: prepared(apps.static_header_middleware(flask_app()), get_request()),
        "hand-written 8 static headers",
    )
    add(
        "get.hw-security",
        "get",
        lambda: prepared(hw(lambda: [apps.security_headers()], flask_app), get_request()),
    )
    add(
        "get.hw-security+nonce",
        "get",
        lambda: prepared(
            hw(lambda: [apps.security_headers(), apps.csp_nonce()], flask_app),
            get_request(),
            check=nonce,
        ),
    )
    add(
        "get.hw-full-nocookies",
        "get",
        lambda: prepared(hw(lambda: apps.full_stack(False), flask_app), get_request(), check=nonce),
        "security + nonce + CORS + cookie policy",
    )
    add(
        "get.hw-full",
        "get",
        lambda: prepared(hw(apps.full_stack, flask_app), get_request(), check=nonce),
        "+ signed cookies + sessions",
    )
    add(
        "get.talisman",
        "get",
        lambda: prepared(peers.talisman_app(), get_request(), check=header("X-Frame-Options")),
        "flask-talisman defaults",
    )
    add(
        "get.talisman-nonce",
        "get",
        lambda: prepared(peers.talisman_app(nonce=True), get_request(), check=nonce),
        "content_security_policy_nonce_in=['script-src']",
    )
    add(
        "get.talisman+cors",
        "get",
        lambda: prepared(peers.talisman_cors_app(), get_request()),
        "flask-talisman + flask-cors",
    )
    add(
        "get.flask-cors",
        "get",
        lambda: prepared(peers.flask_cors_app(), get_request()),
        "flask-cors alone, no Origin sent",
    )
    add(
        "get.secure-wsgi",
        "get",
        lambda: prepared(peers.secure_wsgi_app(), get_request(), check=header("X-Frame-Options")),
        "secure.py's SecureWSGIMiddleware",
    )
    add(
        "get.secure-after-request",
        "get",
        lambda: prepared(
            peers.secure_after_request_app(), get_request(), check=header("X-Frame-Options")
        ),
        "secure.py set_headers in after_request",
    )

    # CORS simple request
    add("cors.bare", "cors", lambda: prepared(flask_app(), cors_request()))
    add(
        "cors.hw-cors",
        "cors",
        lambda: prepared(hw(lambda: [apps.cors()], flask_app), cors_request(), check=allow),
    )
    add(
        "cors.hw-full-nocookies",
        "cors",
        lambda: prepared(
            hw(lambda: apps.full_stack(False), flask_app), cors_request(), check=allow
        ),
    )
    add(
        "cors.flask-cors",
        "cors",
        lambda: prepared(peers.flask_cors_app(), cors_request(), check=allow),
    )
    add(
        "cors.talisman+cors",
        "cors",
        lambda: prepared(peers.talisman_cors_app(), cors_request(), check=allow),
    )

    # Preflight
    add("preflight.bare", "preflight", lambda: prepared(flask_app(), preflight_request()))
    add(
        "preflight.hw-cors",
        "preflight",
        lambda: prepared(
            hw(lambda: [apps.cors()], flask_app),
            preflight_request(),
            expect="2",
            check=header("Access-Control-Allow-Methods"),
        ),
    )
    add(
        "preflight.flask-cors",
        "preflight",
        lambda: prepared(
            peers.flask_cors_app(),
            preflight_request(),
            expect="2",
            check=header("Access-Control-Allow-Methods"),
        ),
    )
    add(
        "preflight.talisman+cors",
        "preflight",
        lambda: prepared(
            peers.talisman_cors_app(),
            preflight_request(),
            expect="2",
            check=header("Access-Control-Allow-Methods"),
        ),
    )

    # Session
    def flask_session_cookie() -> str:
        app = flask_app(secret_key=apps.SECRET_KEY, write_user=apps.flask_session_writer)
        return session_cookie_for(app, "session")

    def hw_session(layers: Callable[[], list[Any]]) -> Prepared:
        reader, writer = apps.session_access()
        app = apps.hw_stack(layers(), flask_app(read_user=reader, write_user=writer))
        cookie = session_cookie_for(app, hw_session_cookie_name())
        return prepared(app, session_request(cookie), check=body("#42"))

    add(
        "session.bare",
        "session",
        lambda: prepared(flask_app(), session_request(flask_session_cookie())),
        "no secret key: the cookie is not read",
    )
    add(
        "session.flask-session",
        "session",
        lambda: prepared(
            flask_app(secret_key=apps.SECRET_KEY, read_user=apps.flask_session_reader),
            session_request(flask_session_cookie()),
            check=body("#42"),
        ),
        "Flask's own signed-cookie session, view reads session['user_id']",
    )
    add(
        "session.hw-sessions",
        "session",
        lambda: hw_session(lambda: [apps.sessions()]),
        "headerware cookie session, view reads it through the helper",
    )
    add(
        "session.hw-cookies+session",
        "session",
        lambda: hw_session(lambda: [apps.cookie_policy(), apps.signed_cookies(), apps.sessions()]),
        "cookie policy + signed cookies + session read",
    )
    add(
        "session.hw-full",
        "session",
        lambda: hw_session(apps.full_stack),
        "full default stack with the session read",
    )
    add(
        "session.talisman+cors",
        "session",
        lambda: prepared(peers.talisman_cors_app(), session_request(flask_session_cookie())),
        "the same request under flask-talisman + flask-cors",
    )

    # CSRF POST
    def flask_wtf() -> Prepared:
        app = peers.flask_wtf_app()
        # Mint a token and the session cookie carrying its secret, as a browser would.
        from .harness import request

        status, headers, token = request(app, environ_maker(PATH_INFO="/csrf-token")())
        cookie = None
        for key, value in headers:
            if key.lower() == "set-cookie" and value.startswith("session="):
                cookie = value.split(";", 1)[0]
        if cookie is None:
            raise RuntimeError(f"Flask-WTF set no session cookie: {status} {headers}")
        data = b"theme=dark&csrf_token=" + token
        return prepared(app, post_request(data, cookie), check=body("Saved dark"))

    add(
        "post.bare",
        "post",
        lambda: prepared(flask_app(), post_request(), check=body("Saved dark")),
        "the view reads request.form",
    )
    add("post.flask-wtf", "post", flask_wtf, "CSRFProtect, valid token + session cookie")
    add(
        "post.hw-csrf",
        "post",
        lambda: prepared(hw(lambda: [apps.csrf()], flask_app), post_request(), check=body("Saved")),
        "tokenless (Sec-Fetch-Site / Origin)",
    )
    return out


def variants() -> list[Variant]:
    """Every in-process variant, each group led by its baseline."""
    return _wsgi_variants() + _flask_variants()
