"""The applications measured: a bare WSGI app, a Flask hello app, the hand-written floor,
and headerware's layers built lazily (a layer not written yet raises ``Unavailable``).

Every application answers the same small routes so that every request kind of the suite
gets a 200 from each of them:

``GET /``                   ``Hello, World!`` (text/plain)
``GET /api/data``           JSON (the CORS route; Flask also answers OPTIONS itself)
``GET /dashboard``          reads ``user_id`` from the session (when the variant has one)
``GET /login``              writes ``user_id = 42`` into the session (used once, to mint a
                            valid session cookie for the measured requests)
``POST /preferences``       reads the form body, answers 200
``GET /set-cookie``         sets two cookies (exercises the cookie policy rewriter)
``GET /csrf-token``         Flask-WTF only: the token for the measured POST
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from .harness import Environ, Unavailable, WSGIApp

SECRET_KEY = "benchmark-secret-key-0123456789abcdef"
ALLOWED_ORIGIN = "https://app.example.com"
HELLO = b"Hello, World!"

#: The 8 static headers of the hand-written floor (what a security-headers layer sends).
STATIC_HEADERS: list[tuple[str, str]] = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Origin-Agent-Cluster", "?1"),
    ("X-DNS-Prefetch-Control", "off"),
    ("X-Permitted-Cross-Domain-Policies", "none"),
]

Reader = Callable[[Environ], Any]
Writer = Callable[[Environ], None]


# -- bare WSGI ---------------------------------------------------------------------------


def make_wsgi_app(read_user: Reader | None = None, write_user: Writer | None = None) -> WSGIApp:
    """A plain WSGI callable; ``read_user``/``write_user`` reach the session if any.

    Its pages are HTML, like Flask's default: the documents a CSP nonce is for.
    """
    text_headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "13")]
    json_body = b'{"message":"Hello JSON!"}'
    json_headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(json_body))),
    ]

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            environ["wsgi.input"].read(length)
        if path == "/api/data":
            start_response("200 OK", list(json_headers))
            return [json_body]
        if path == "/dashboard" and read_user is not None:
            body = f"Welcome user #{read_user(environ)}".encode()
            start_response(
                "200 OK",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path == "/login" and write_user is not None:
            write_user(environ)
        if path == "/set-cookie":
            start_response(
                "200 OK",
                [
                    *text_headers,
                    ("Set-Cookie", "username=john_doe; Max-Age=604800"),
                    ("Set-Cookie", "theme=dark; Max-Age=31536000; Path=/"),
                ],
            )
            return [HELLO]
        start_response("200 OK", list(text_headers))
        return [HELLO]

    return app


def static_header_middleware(app: WSGIApp) -> WSGIApp:
    """The floor: a closure ``start_response`` appending 8 precomputed headers."""
    extra = list(STATIC_HEADERS)

    def middleware(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # type: ignore[no-untyped-def]
            return start_response(status, headers + extra, exc_info)

        return app(environ, _start_response)

    return middleware


def one_header_middleware(app: WSGIApp, name: str) -> WSGIApp:
    """A hand-written middleware adding one header: nested N times for the scaling table."""
    extra = [(name, "1")]

    def middleware(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # type: ignore[no-untyped-def]
            return start_response(status, headers + extra, exc_info)

        return app(environ, _start_response)

    return middleware


# -- Flask -------------------------------------------------------------------------------


def make_flask_app(
    *,
    secret_key: str | None = None,
    read_user: Reader | None = None,
    write_user: Writer | None = None,
    csrf_token_route: bool = False,
) -> Any:
    """A Flask hello app; ``read_user(environ)`` is how the dashboard reads the session."""
    try:
        import flask
    except ImportError as exc:
        raise Unavailable("flask is not installed") from exc
    app = flask.Flask(f"bench_{id(object())}")
    if secret_key:
        app.secret_key = secret_key

    @app.route("/")
    def index() -> Any:
        return "Hello, World!"

    @app.route("/api/data", methods=["GET", "POST", "PUT", "DELETE"])
    def data() -> Any:
        return {"message": "Hello JSON!"}

    @app.route("/dashboard")
    def dashboard() -> Any:
        user = read_user(flask.request.environ) if read_user else None
        return f"Welcome user #{user}"

    @app.route("/login")
    def login() -> Any:
        if write_user:
            write_user(flask.request.environ)
        return "Logged in"

    @app.route("/preferences", methods=["GET", "POST"])
    def preferences() -> Any:
        if flask.request.method == "POST":
            return f"Saved {flask.request.form.get('theme', '')}"
        return "Preferences"

    @app.route("/set-cookie")
    def set_cookie() -> Any:
        response = flask.make_response("Cookie set")
        response.set_cookie("username", "john_doe", max_age=604800)
        response.set_cookie("theme", "dark", max_age=31536000)
        return response

    if csrf_token_route:

        @app.route("/csrf-token")
        def csrf_token() -> Any:
            from flask_wtf.csrf import generate_csrf

            return generate_csrf()

    return app


def flask_session_reader(environ: Environ) -> Any:
    """Flask's own session: the view reads ``flask.session``."""
    import flask

    return flask.session.get("user_id")


def flask_session_writer(environ: Environ) -> None:
    import flask

    flask.session["user_id"] = 42


# -- headerware, built lazily ------------------------------------------------------------


def hw_module(name: str) -> Any:
    """``headerware.layers.<name>`` or ``Unavailable`` while it is being written."""
    try:
        return importlib.import_module(f"headerware.layers.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("headerware"):
            raise Unavailable(f"headerware.layers.{name} does not exist yet") from exc
        raise


def hw_class(module: str, *names: str) -> Any:
    """The first of ``names`` defined in ``headerware.layers.<module>``."""
    mod = hw_module(module)
    for name in names:
        cls = getattr(mod, name, None)
        if cls is not None:
            return cls
    raise Unavailable(f"headerware.layers.{module} has no {' / '.join(names)} yet")


def hw_stack(layers: list[Any], app: WSGIApp) -> WSGIApp:
    from headerware import Stack

    return Stack(layers, app)


def security_headers() -> Any:
    """SecurityHeaders with its defaults (static values)."""
    return hw_class("security", "SecurityHeaders")()


def csp_nonce() -> Any:
    """ContentSecurityPolicy with its defaults: a per-request nonce in script-src and
    style-src."""
    return hw_class("csp", "ContentSecurityPolicy", "CSP")()


def cors() -> Any:
    """CORS for the example's API origin, with credentials."""
    cls = hw_class("cors", "CORS")
    return cls(
        allow_origins=[ALLOWED_ORIGIN],
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Content-Type", "Authorization"],
    )


def cookie_policy() -> Any:
    return hw_class("cookies", "CookiePolicy")()


def signed_cookies() -> Any:
    cls = hw_class("signing", "SignedCookies")
    return cls(cookies=["username"], secret_keys=[SECRET_KEY])


def sessions() -> Any:
    cls = hw_class("sessions", "Sessions", "SessionLayer", "CookieSessions")
    return cls(secret_keys=[SECRET_KEY])


def session_access() -> tuple[Reader, Writer]:
    """The reader/writer of headerware's session through its documented helper."""
    mod = hw_module("sessions")
    helper = getattr(mod, "get_session", None) or getattr(mod, "session", None)
    if helper is None:
        raise Unavailable("headerware.layers.sessions has no get_session helper yet")

    def read(environ: Environ) -> Any:
        return helper(environ).get("user_id")

    def write(environ: Environ) -> None:
        helper(environ)["user_id"] = 42

    return read, write


def csrf() -> Any:
    """CSRFProtect with its default, tokenless mode (Sec-Fetch-Site / Origin)."""
    return hw_class("csrf", "CSRFProtect", "CSRFProtection", "CSRF")()


def bearer_auth() -> Any:
    cls = hw_class("auth", "BearerAuth")
    return cls(tokens=["benchmark-token-0123456789"], paths=["/api/*"])


def negotiation() -> Any:
    cls = hw_class("negotiation", "Negotiation", "ContentNegotiation")
    return cls(
        media_types={"/": ["text/html", "application/json"]},
        languages={"/": ["en", "es"]},
    )


def caching() -> Any:
    return hw_class("caching", "Caching", "CacheControl")()


def trusted_hosts() -> Any:
    cls = hw_class("hosts", "TrustedHosts")
    return cls(allowed_hosts=["localhost"])


def request_headers() -> Any:
    return hw_class("headers", "RequestHeaders")()


def response_headers() -> Any:
    cls = hw_class("headers", "ResponseHeaders")
    return cls(set=dict(STATIC_HEADERS))


def full_stack(with_cookies: bool = True) -> list[Any]:
    """The full default stack: security headers + CSP nonce + CORS + cookie policy
    (+ signed cookies + sessions)."""
    layers = [security_headers(), csp_nonce(), cors(), cookie_policy()]
    if with_cookies:
        layers += [signed_cookies(), sessions()]
    return layers


# -- apps for the real-server benchmark (gunicorn factory: literal arguments only) -------


def same_headers_middleware(app: WSGIApp) -> WSGIApp:
    """A hand-written middleware adding exactly the headers the full stack adds to a plain
    HTTP ``GET /`` (nonce frozen): separates the server's cost of sending more headers
    from headerware's own cost."""
    from .harness import environ_maker, request

    environ = environ_maker(**{"wsgi.url_scheme": "http", "SERVER_PORT": "80"})()
    _, bare_headers, _ = request(app, dict(environ))
    _, full_headers, _ = request(hw_stack(full_stack(), app), environ)
    extra = [h for h in full_headers if h not in bare_headers]

    def middleware(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # type: ignore[no-untyped-def]
            return start_response(status, headers + extra, exc_info)

        return app(environ, _start_response)

    return middleware


def server_app(name: str) -> WSGIApp:
    """``gunicorn 'benchmarks.apps:server_app("wsgi-full")'``."""
    if name == "wsgi-bare":
        return make_wsgi_app()
    if name == "wsgi-floor":
        return static_header_middleware(make_wsgi_app())
    if name == "wsgi-full":
        return hw_stack(full_stack(), make_wsgi_app())
    if name == "wsgi-same-headers":
        return same_headers_middleware(make_wsgi_app())
    if name == "flask-bare":
        return make_flask_app()  # type: ignore[no-any-return]
    if name == "flask-full":
        return hw_stack(full_stack(), make_flask_app())
    if name == "flask-talisman":
        from .peers import talisman_app

        return talisman_app(nonce=True, force_https=False)  # type: ignore[no-any-return]
    raise ValueError(f"server_app: unknown app {name!r}")


def handwritten_full_middleware(app: WSGIApp) -> WSGIApp:
    """A hand-written middleware doing the work of the full default stack on a plain or
    CORS ``GET``: the security headers (precomputed, an app's own value kept), a fresh
    CSP nonce per request (published in the environ, rendered into the policy), the
    CORS decision on ``Origin`` with ``Vary``, a scan of every ``Set-Cookie`` for the
    cookie flags, and a look at the Cookie header for the session and signed cookies.
    The limit the full stack is held to (at most 2x this)."""
    import base64
    import os

    from .harness import environ_maker, request

    probe = environ_maker(**{"wsgi.url_scheme": "http", "SERVER_PORT": "80"})()
    _, full_headers, _ = request(hw_stack(full_stack(), app), probe)
    _, bare_headers, _ = request(app, environ_maker()())
    bare_names = {name.lower() for name, _ in bare_headers}
    static = [
        (name, value)
        for name, value in full_headers
        if name.lower() not in bare_names
        and name.lower() not in ("content-security-policy", "vary")
    ]
    csp = next(v for k, v in full_headers if k.lower() == "content-security-policy")
    nonce_start = csp.index("'nonce-") + len("'nonce-")
    nonce_end = csp.index("'", nonce_start)
    template = csp[:nonce_start].replace("%", "%%") + "%s" + csp[nonce_end:].replace("%", "%%")
    allowed = ALLOWED_ORIGIN
    cors_headers = [
        ("Access-Control-Allow-Origin", allowed),
        ("Access-Control-Allow-Credentials", "true"),
    ]

    def harden(value: str, secure: bool) -> str:
        lower = value.lower()
        if "httponly" not in lower:
            value += "; HttpOnly"
        if "samesite" not in lower:
            value += "; SameSite=Lax"
        if "path=" not in lower:
            value += "; Path=/"
        if secure and "secure" not in lower:
            value += "; Secure"
        return value

    def middleware(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        nonce = base64.b64encode(os.urandom(16)).decode("ascii")
        environ["headerware.csp.nonce"] = nonce
        origin = environ.get("HTTP_ORIGIN")
        cookie = environ.get("HTTP_COOKIE")
        if cookie and ("session=" in cookie or "username=" in cookie):
            environ["HTTP_COOKIE"] = cookie  # a real one would verify and rebuild it
        secure = environ.get("wsgi.url_scheme") == "https"

        def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):  # type: ignore[no-untyped-def]
            out = []
            names = set()
            for name, value in headers:
                lower = name.lower()
                names.add(lower)
                if lower == "set-cookie":
                    value = harden(value, secure)
                out.append((name, value))
            for name, value in static:
                if name.lower() not in names:
                    out.append((name, value))
            out.append(("Content-Security-Policy", template % nonce))
            out.append(("Vary", "Origin"))
            if origin == allowed:
                out.extend(cors_headers)
            return start_response(status, out, exc_info)

        return app(environ, _start_response)

    return middleware
