"""Django: headerware's nonce and CSRF token in Django templates, Django's nonce made ours.

Add the app (for the template tags), the context processor and the middleware::

    INSTALLED_APPS = [..., "headerware.contrib.django"]
    MIDDLEWARE = [
        ...,
        "headerware.contrib.django.middleware.CSPNonceMiddleware",
        "headerware.contrib.django.middleware.CSRFMiddleware",   # per-view decorators
    ]
    TEMPLATES = [{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            ...,
            "headerware.contrib.django.context_processors.headerware",
        ]},
    }]

and wrap Django's handler in headerware: the WSGI one (``stack_from_toml(path,
get_wsgi_application())``) or the ASGI one (``load_config(path).asgi(
get_asgi_application())``), from the same TOML file. Under WSGI ``request.META``
*is* the environ the layers published their ``headerware.*`` keys into; under ASGI
Django builds ``META`` from the headers alone and the keys are in ``request.scope``.
Everything here reads them through :func:`published`, and so should views::

    from headerware import get_session
    from headerware.contrib.django import published

    def dashboard(request):                    # the same code under WSGI and ASGI
        user_id = get_session(published(request)).get("user_id")

* Context processor ``headerware.contrib.django.context_processors.headerware``:
  ``{{ csp_nonce }}`` (headerware's nonce) and, when headerware's CSRFProtect runs in
  token mode, ``{{ csrf_token }}`` (a fresh masked token, made only when used).
  Without headerware's token mode ``csrf_token`` is left alone, so Django's own
  ``{% csrf_token %}`` keeps working with Django's CsrfViewMiddleware.
* Template tags, ``{% load headerware %}``: ``{% csp_nonce %}`` (the nonce) and
  ``{% csrf_input %}`` (``<input type="hidden" name="csrf_token" value="...">``;
  ``{% csrf_input "other_name" %}`` when CSRFProtect's ``field_name`` differs).
* ``CSPNonceMiddleware`` (``headerware.contrib.django.middleware``): Django >= 6.0
  has a CSP nonce of its own (``django.middleware.csp``; the ``csp`` context
  processor and ``{% csp_nonce_attr %}``, used by the admin's templates). The
  middleware makes that nonce headerware's nonce, so Django's and third-party
  templates run under headerware's policy; ``request.csp_nonce`` is set on every
  Django version. Let headerware send the header: leave ``SECURE_CSP`` empty or
  Django's ContentSecurityPolicyMiddleware out.
* ``CSRFMiddleware`` (``headerware.contrib.django.middleware``) and
  ``headerware.contrib.django.decorators.csrf_exempt``: with headerware's
  ``CSRFProtect(defer_to_framework=True)``, a request the layer refused is answered
  with its 403 before the view runs, unless the view is exempt (headerware's
  decorator or Django's own ``csrf_exempt``). The middleware's module docstring
  has a complete example. The same middleware applies the view's
  ``decorators.csp_amend_view``, ``cors_allow_view`` and ``cache_policy_view``
  before it runs (:mod:`headerware.contrib.django.decorators` has an example).
"""

from __future__ import annotations

from headerware.contrib.django._request import published

__all__ = ["published"]
