"""Flask: headerware's nonce and CSRF token in Flask's Jinja templates.

::

    from headerware.contrib.flask import init_app

    flask_app = Flask(__name__)
    init_app(flask_app)
    app = stack_from_toml("headerware.toml", flask_app)   # headerware wraps the WSGI app

    <script nonce="{{ csp_nonce() }}">...</script>

``init_app`` is :func:`headerware.contrib.jinja.install` with
``flask.request.environ`` as the environ: the globals read the ``headerware.*``
keys the layers published for the request being handled. headerware still wraps
the WSGI application from outside (``flask_app.wsgi_app`` or the app itself);
``init_app`` changes nothing else in the Flask app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request

from headerware.contrib.jinja import install

__all__ = ["init_app"]


def _environ() -> Mapping[str, Any]:
    return request.environ


def init_app(app: Flask) -> None:
    """Install the ``csp_nonce()`` and ``csrf_token()`` template globals in ``app``."""
    install(app.jinja_env, _environ)
    app.extensions["headerware"] = True
