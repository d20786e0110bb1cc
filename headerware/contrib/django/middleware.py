"""Django middleware: Django's CSP nonce is headerware's; per-view exemptions and policies.

A complete set-up (``settings.py`` and ``wsgi.py`` of a project; an ``asgi.py`` wraps
``get_asgi_application()`` the same way with ``load_config(path).asgi(...)`` or
``ASGIStack``)::

    # settings.py
    INSTALLED_APPS = [..., "headerware.contrib.django"]
    MIDDLEWARE = [
        ...,
        "headerware.contrib.django.middleware.CSPNonceMiddleware",
        "headerware.contrib.django.middleware.CSRFMiddleware",
    ]

    # wsgi.py
    import os
    from django.core.wsgi import get_wsgi_application
    from headerware import ContentSecurityPolicy, CSRFProtect, Stack

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    application = Stack(
        [ContentSecurityPolicy(), CSRFProtect(defer_to_framework=True)],
        get_wsgi_application(),
    )

    # views.py
    from django.http import HttpResponse
    from headerware.contrib.django.decorators import csrf_exempt

    def preferences(request):                 # a cross-site POST gets the 403
        return HttpResponse("Preferences updated!")

    @csrf_exempt                              # (Django's own csrf_exempt works too)
    def payment_hook(request):                # called cross-site by the provider
        return HttpResponse("ok")

``CSRFMiddleware``
    With CSRFProtect's ``defer_to_framework=True``, ``process_view`` answers a
    request the layer refused with the layer's refusal (403 -- or 413 for a form
    too large to read -- JSON or HTML by Accept) before the view runs, unless the
    view is marked ``csrf_exempt`` (headerware's decorator or Django's). It runs
    the checks of :mod:`headerware.contrib.views`; without ``defer_to_framework``
    the layer refuses by itself and there is nothing to do. A request no view
    answered (a 404, a response of an earlier middleware) is left as it is.
    The same ``process_view`` records the view's ``csp_amend_view``,
    ``cors_allow_view`` and ``cache_policy_view``
    (:mod:`headerware.contrib.django.decorators`) before the view runs; it is
    also importable as ``ViewMiddleware`` (list one of the two names, once).

``CSPNonceMiddleware``
    Django >= 6.0 keeps the request's nonce where ``django.middleware.csp.get_nonce``
    finds it (``request._csp_nonce`` in Django 6.0 and 6.1); its ``csp`` context
    processor, ``{% csp_nonce_attr %}`` and form media rendering read it from there.
    This middleware puts headerware's nonce (``"headerware.csp.nonce"`` in
    ``request.META``, or ``request.scope`` under ASGI) there and in
    ``request.csp_nonce``, before the view runs, again in ``process_view`` in case
    Django's ContentSecurityPolicyMiddleware sits later in ``MIDDLEWARE`` and
    replaced it. On Django 5.2 (no CSP in core) only ``request.csp_nonce`` is set. A
    request headerware gave no nonce is left as it is.

Both middlewares are sync and async capable (like Django's own): under Django's
ASGI handler neither costs a hop to a thread, and ``process_view`` is a coroutine
there too. Their work is dictionary look-ups, safe on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from headerware.contrib.django._request import nonce_of, published
from headerware.contrib.views import before_view
from headerware.core.layer import Response
from headerware.csrf_verdict import VERDICT_KEY, csrf_verdict

__all__ = ["CSPNonceMiddleware", "CSRFMiddleware", "ViewMiddleware", "adopt_nonce"]

#: Where Django >= 6.0's ``django.middleware.csp.get_nonce`` reads the nonce.
DJANGO_NONCE_ATTRIBUTE = "_csp_nonce"


def adopt_nonce(request: Any) -> str | None:
    """Make headerware's nonce the request's Django nonce; return it (or ``None``)."""
    nonce = nonce_of(request)
    if nonce is not None:
        request.csp_nonce = nonce
        setattr(request, DJANGO_NONCE_ATTRIBUTE, nonce)
    return nonce


class _Middleware:
    """Sync and async capable, as Django's ``MiddlewareMixin``: under an async handler
    ``__call__`` and ``process_view`` are coroutines, so Django adapts neither."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
            # Django looks process_view up on the instance and awaits a coroutine function.
            self.process_view = self._process_view_async  # type: ignore[method-assign]

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self._call_async(request)
        self.before(request)
        response = self.get_response(request)
        self.after(request)
        return response

    async def _call_async(self, request: Any) -> Any:
        self.before(request)
        response = await self.get_response(request)
        self.after(request)
        return response

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> Any:
        """Before ``view`` runs: a response to send instead, or ``None``."""
        return None

    async def _process_view_async(self, request: Any, view: Any, args: Any, kwargs: Any) -> Any:
        return type(self).process_view(self, request, view, args, kwargs)

    def before(self, request: Any) -> None:
        """Before the rest of ``MIDDLEWARE`` sees ``request``."""

    def after(self, request: Any) -> None:
        """After the response came back through the rest of ``MIDDLEWARE``."""


class CSPNonceMiddleware(_Middleware):
    """Put in ``MIDDLEWARE``; works on Django 5.2 and >= 6.0, under WSGI and ASGI."""

    def before(self, request: Any) -> None:
        adopt_nonce(request)

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        adopt_nonce(request)


def _django_response(response: Response) -> Any:
    from django.http import HttpResponse  # type: ignore[import-untyped]

    code, _, reason = response.status.partition(" ")
    answer = HttpResponse(response.body, status=int(code), reason=reason or None)
    for name, value in response.headers:
        answer[name] = value
    return answer


class CSRFMiddleware(_Middleware):
    """Put in ``MIDDLEWARE``: runs the before-view checks (a deferred CSRF verdict,
    the view's CSP, CORS and Cache-Control decorators)."""

    def after(self, request: Any) -> None:
        keys = published(request)
        if VERDICT_KEY in keys:
            # process_view ran for every view that ran: what is left never reached one.
            csrf_verdict(keys)

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> Any:
        refusal = before_view(published(request), view)
        return None if refusal is None else _django_response(refusal)


#: The same middleware, by the name of what it does beyond CSRF.
ViewMiddleware = CSRFMiddleware
