"""Thin framework adapters: Jinja2, Flask and Django.

The core never imports these modules; each one only translates what a framework
offers (a Jinja environment, a Flask app, a Django request) into headerware's
application-side helpers, which read the documented ``headerware.*`` environ keys:

* :mod:`headerware.contrib.jinja` -- ``install(env, environ_getter)``: the
  ``csp_nonce()`` and ``csrf_token()`` template globals for any Jinja environment.
* :mod:`headerware.contrib.flask` -- ``init_app(app)``: the same globals in Flask's
  templates, read from ``flask.request.environ``.
* :mod:`headerware.contrib.django` -- a context processor, the ``{% load headerware %}``
  template tags and ``CSPNonceMiddleware``, which makes Django's own nonce
  (Django >= 6.0, used by the admin's templates) headerware's nonce.
"""
