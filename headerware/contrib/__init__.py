"""Thin framework adapters: Jinja2, Flask and Django.

The core never imports these modules; each one only translates what a framework
offers (a Jinja environment, a Flask app, a Django request) into headerware's
application-side helpers, which read the documented ``headerware.*`` environ keys:

* :mod:`headerware.contrib.jinja` -- ``install(env, environ_getter)``: the
  ``csp_nonce()`` and ``csrf_token()`` template globals for any Jinja environment.
* :mod:`headerware.contrib.flask` -- ``init_app(app)``: the same globals in Flask's
  templates, read from ``flask.request.environ``, and the before-view checks
  (``@csrf_exempt`` views under ``CSRFProtect(defer_to_framework=True)``; this
  view's CSP, CORS and Cache-Control: ``@csp_amend_view``, ``@cors_allow_view``,
  ``@cache_policy_view``).
* :mod:`headerware.contrib.django` -- a context processor, the ``{% load headerware %}``
  template tags, ``CSPNonceMiddleware``, which makes Django's own nonce
  (Django >= 6.0, used by the admin's templates) headerware's nonce, and
  ``CSRFMiddleware`` with ``decorators`` (``csrf_exempt`` and the same three
  policy decorators; the before-view checks).
* :mod:`headerware.contrib.views` -- what the adapters share: view marks
  (``mark``, ``csrf_exempt``, the policy decorators) and
  ``before_view(environ, view)``, which runs the checks of ``VIEW_CHECKS``
  before the matched view. A new view-level decision is
  a decorator and a check there; both adapters pick it up.
"""
