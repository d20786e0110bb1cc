"""``CSPNonceMiddleware``: Django's CSP nonce is headerware's nonce.

Django >= 6.0 keeps the request's nonce where ``django.middleware.csp.get_nonce``
finds it (``request._csp_nonce`` in Django 6.0 and 6.1); its ``csp`` context
processor, ``{% csp_nonce_attr %}`` and form media rendering read it from there.
This middleware puts headerware's nonce (``request.META["headerware.csp.nonce"]``)
there and in ``request.csp_nonce``, before the view runs, again in ``process_view``
in case Django's ContentSecurityPolicyMiddleware sits later in ``MIDDLEWARE`` and
replaced it. On Django 5.2 (no CSP in core) only ``request.csp_nonce`` is set. A
request headerware gave no nonce is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headerware.contrib.django._request import nonce_of

__all__ = ["CSPNonceMiddleware", "adopt_nonce"]

#: Where Django >= 6.0's ``django.middleware.csp.get_nonce`` reads the nonce.
DJANGO_NONCE_ATTRIBUTE = "_csp_nonce"


def adopt_nonce(request: Any) -> str | None:
    """Make headerware's nonce the request's Django nonce; return it (or ``None``)."""
    nonce = nonce_of(request)
    if nonce is not None:
        request.csp_nonce = nonce
        setattr(request, DJANGO_NONCE_ATTRIBUTE, nonce)
    return nonce


class CSPNonceMiddleware:
    """Put in ``MIDDLEWARE``; works on Django 5.2 and >= 6.0."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        adopt_nonce(request)
        return self.get_response(request)

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        adopt_nonce(request)
