"""What users would pick instead of headerware, on the same Flask app.

flask-talisman (defaults, and with a script-src nonce), flask-talisman + flask-cors,
secure.py (its WSGI middleware, and its ``set_headers`` from ``after_request``), Flask's
own signed-cookie session, and Flask-WTF's ``CSRFProtect``. Each builder returns the
wrapped Flask app, or raises ``Unavailable`` when the package is not installed.
"""

from __future__ import annotations

from typing import Any

from .apps import ALLOWED_ORIGIN, SECRET_KEY, make_flask_app
from .harness import Environ, Unavailable, WSGIApp, request

#: Talisman's default policy plus a script-src, so that the nonce actually appears
#: (Talisman only adds a nonce to directives present in the policy).
TALISMAN_NONCE_POLICY = {
    "default-src": "'self'",
    "object-src": "'none'",
    "script-src": "'self'",
}


def _talisman(app: Any, *, nonce: bool, force_https: bool = True) -> None:
    try:
        from flask_talisman import Talisman
    except ImportError as exc:
        raise Unavailable("flask-talisman is not installed") from exc
    if nonce:
        Talisman(
            app,
            force_https=force_https,
            content_security_policy=TALISMAN_NONCE_POLICY,
            content_security_policy_nonce_in=["script-src"],
        )
    else:
        Talisman(app, force_https=force_https)


def _flask_cors(app: Any) -> None:
    try:
        from flask_cors import CORS
    except ImportError as exc:
        raise Unavailable("flask-cors is not installed") from exc
    CORS(
        app,
        resources={r"/api/*": {"origins": [ALLOWED_ORIGIN]}},
        supports_credentials=True,
        methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Content-Type", "Authorization"],
    )


def talisman_app(*, nonce: bool = False, force_https: bool = True, **flask_options: Any) -> Any:
    """The Flask hello app under flask-talisman (``force_https=False`` behind plain HTTP,
    e.g. the gunicorn benchmark, where it would otherwise answer every request 302)."""
    app = make_flask_app(**flask_options)
    _talisman(app, nonce=nonce, force_https=force_https)
    return app


def talisman_cors_app(*, nonce: bool = False, **flask_options: Any) -> Any:
    """The Flask hello app under flask-talisman and flask-cors."""
    app = make_flask_app(**flask_options)
    _talisman(app, nonce=nonce)
    _flask_cors(app)
    return app


def flask_cors_app(**flask_options: Any) -> Any:
    """The Flask hello app under flask-cors alone."""
    app = make_flask_app(**flask_options)
    _flask_cors(app)
    return app


def secure_wsgi_app(**flask_options: Any) -> Any:
    """secure.py's own WSGI middleware around the Flask app (its default headers)."""
    try:
        from secure.middleware import SecureWSGIMiddleware
    except ImportError as exc:
        raise Unavailable("secure (secure.py) >= 1.0 is not installed") from exc
    return SecureWSGIMiddleware(make_flask_app(**flask_options))


def secure_wsgi_bare(app: WSGIApp) -> WSGIApp:
    """secure.py's WSGI middleware around any WSGI app."""
    try:
        from secure.middleware import SecureWSGIMiddleware
    except ImportError as exc:
        raise Unavailable("secure (secure.py) >= 1.0 is not installed") from exc
    return SecureWSGIMiddleware(app)  # type: ignore[no-any-return]


def secure_after_request_app(**flask_options: Any) -> Any:
    """secure.py used as its docs show for Flask: ``set_headers`` in ``after_request``."""
    try:
        import secure
    except ImportError as exc:
        raise Unavailable("secure (secure.py) is not installed") from exc
    app = make_flask_app(**flask_options)
    headers = secure.Secure.with_default_headers()

    @app.after_request
    def add_security_headers(response: Any) -> Any:
        headers.set_headers(response)
        return response

    return app


def flask_wtf_app(**flask_options: Any) -> Any:
    """Flask-WTF's ``CSRFProtect`` on the Flask app (needs Flask's session)."""
    try:
        from flask_wtf.csrf import CSRFProtect
    except ImportError as exc:
        raise Unavailable("flask-wtf is not installed") from exc
    app = make_flask_app(secret_key=SECRET_KEY, csrf_token_route=True, **flask_options)
    CSRFProtect(app)
    return app


def set_cookie_value(app: WSGIApp, environ: Environ, name: str) -> str:
    """Run one request and return the value of the ``name`` cookie it set."""
    status, headers, _ = request(app, environ)
    for key, value in headers:
        if key.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            cookie_name, _, cookie_value = pair.partition("=")
            if cookie_name.strip() == name:
                return cookie_value.strip()
    raise RuntimeError(f"{status}: no {name!r} cookie in {headers!r}")
