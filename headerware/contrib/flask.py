"""Flask: headerware's nonce and CSRF token in templates, per-view exemptions and policies.

A complete application (``flask --app app run``, or any WSGI server serving ``app``)::

    import os

    from flask import Flask, render_template_string
    from headerware import CORS, Caching, ContentSecurityPolicy, CSRFProtect, Sessions, Stack
    from headerware.contrib.flask import (
        cache_policy_view, cors_allow_view, csp_amend_view, csrf_exempt, init_app,
    )

    flask_app = Flask(__name__)
    init_app(flask_app)                    # template globals + the CSRF check per view

    @flask_app.route("/preferences", methods=["GET", "POST"])
    def preferences():
        return render_template_string(
            '<script nonce="{{ csp_nonce() }}">...</script>'
            '<form method="post"><input type="hidden" name="csrf_token"'
            ' value="{{ csrf_token() }}"><button>Save</button></form>'
        )

    @flask_app.post("/hooks/payment")
    @csrf_exempt                           # called cross-site by the payment provider
    def payment_hook():
        return "ok"

    @flask_app.get("/map")
    @csp_amend_view("script-src", "https://maps.example")   # this page only
    @csp_amend_view("img-src", "https://tiles.maps.example")
    @cache_policy_view("private, max-age=60")
    def map_page():
        return '<script src="https://maps.example/v3.js"></script>'

    @cors_allow_view("https://partner.example", expose_headers=["X-Total"])
    @flask_app.get("/api/stock")                             # either order
    def stock():
        return {"items": []}

    KEYS = [os.environ["HEADERWARE_SECRET_KEY"]]   # 32 random bytes or more
    app = Stack(
        [
            ContentSecurityPolicy(),
            CORS(allow_origins=["https://app.example"]),
            Caching(),
            Sessions(secret_keys=KEYS),
            CSRFProtect(mode="token", secret_keys=KEYS, defer_to_framework=True),
        ],
        flask_app,                         # headerware wraps the WSGI app from outside
    )

:func:`init_app` does two things, and changes nothing else in the Flask app:

* installs the ``csp_nonce()`` and ``csrf_token()`` template globals
  (:func:`headerware.contrib.jinja.install` reading ``flask.request.environ``);
* registers, first of the app's ``before_request`` functions, the view checks of
  :mod:`headerware.contrib.views`: with CSRFProtect's ``defer_to_framework=True``,
  a request the layer refused gets the layer's refusal (403 -- or 413 for a form
  too large to read -- as JSON or HTML by Accept) and the view does not run,
  unless the matched view function is decorated with :func:`csrf_exempt` (either
  above or below ``@app.route``). A request no route matches is refused too.
  Without ``defer_to_framework`` (the default) the layer refuses by itself and
  the check has nothing to do;
* in the same ``before_request`` function, before the view runs, records the
  matched view's :func:`csp_amend_view`, :func:`cors_allow_view` and
  :func:`cache_policy_view` (``csp_amend``, ``cors_allow`` and ``cache_policy``
  of :mod:`headerware.view`, :mod:`headerware.layers.cors` and
  :mod:`headerware.layers.caching` on ``request.environ``), so a streamed
  response gets them too. Their arguments are checked when the module is
  imported: a refused source raises ``ValueError`` then. A view that changes
  its policy only sometimes calls those helpers itself, with ``request.environ``.

All four decorators return the view itself (either side of ``@app.route``) and
need :func:`init_app`; without it they have no effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from flask.typing import ResponseReturnValue

from headerware.contrib.jinja import install
from headerware.contrib.views import (
    before_view,
    cache_policy_view,
    cors_allow_view,
    csp_amend_view,
    csrf_exempt,
)

__all__ = ["cache_policy_view", "cors_allow_view", "csp_amend_view", "csrf_exempt", "init_app"]


def _environ() -> Mapping[str, Any]:
    return request.environ


def init_app(app: Flask) -> None:
    """Install the template globals and the before-view checks in ``app``."""
    install(app.jinja_env, _environ)

    def headerware_view_checks() -> ResponseReturnValue | None:
        endpoint = request.endpoint
        view = app.view_functions.get(endpoint) if endpoint is not None else None
        refusal = before_view(request.environ, view)
        if refusal is None:
            return None
        return app.response_class(refusal.body, status=refusal.status, headers=refusal.headers)

    app.before_request_funcs.setdefault(None, []).insert(0, headerware_view_checks)
    app.extensions["headerware"] = True
