"""View decorators: ``@csrf_exempt`` and this view's CSP, CORS and Cache-Control.

Each decorator sets an attribute and returns the view itself (no wrapper, so sync
and async views, ``method_decorator(..., name="dispatch")`` on a class-based view
and ``View.as_view()`` all work); :class:`~headerware.contrib.django.middleware.CSRFMiddleware`
(alias ``ViewMiddleware``) acts on it in ``process_view``, before the view runs::

    from django.http import HttpResponse, StreamingHttpResponse
    from django.utils.decorators import method_decorator
    from django.views import View
    from headerware.contrib.django.decorators import (
        cache_policy_view, cors_allow_view, csp_amend_view, csrf_exempt,
    )

    @csp_amend_view("script-src", "https://maps.example")    # this response only
    @cache_policy_view("private, max-age=60")
    def map_page(request):
        return HttpResponse('<script src="https://maps.example/v3.js"></script>')

    @method_decorator(cors_allow_view("https://partner.example"), name="dispatch")
    class Export(View):
        def get(self, request):                          # streamed: still granted
            return StreamingHttpResponse(iter([b"a,b\n", b"1,2\n"]))

``csrf_exempt(view)`` sets ``view.csrf_exempt = True``, the attribute Django's own
``django.views.decorators.csrf.csrf_exempt`` sets: the middleware honours either,
and either exempts the view from Django's CsrfViewMiddleware too.

``csp_amend_view(directive, *sources)``, ``cors_allow_view(origin=None, *,
expose_headers=())`` and ``cache_policy_view(value)`` record
:func:`headerware.view.csp_amend`, :func:`headerware.layers.cors.cors_allow` and
:func:`headerware.layers.caching.cache_policy` before the view runs, on the mapping
headerware reads back (``request.META`` under WSGI, ``request.scope`` under ASGI:
:func:`headerware.contrib.django.published`). Their arguments are checked when the
decorator is applied, so a refused source or origin raises ``ValueError`` at import.
On a class-based view decorate ``dispatch``: a mark on ``get`` alone is not seen
before the view runs. A view that changes its policy only sometimes calls the
helpers itself: ``csp_amend(published(request), "img-src", "https://cdn.example")``.
"""

from __future__ import annotations

from headerware.contrib.views import (
    cache_policy_view,
    cors_allow_view,
    csp_amend_view,
    csrf_exempt,
)

__all__ = ["cache_policy_view", "cors_allow_view", "csp_amend_view", "csrf_exempt"]
