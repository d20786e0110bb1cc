"""``headerware.contrib.django.context_processors.headerware``: nonce and token in context."""

from __future__ import annotations

from typing import Any

from django.utils.functional import lazy  # type: ignore[import-untyped]

from headerware.contrib.django._request import nonce_of, token_factory

__all__ = ["headerware"]


def headerware(request: Any) -> dict[str, Any]:
    """``csp_nonce`` (headerware's nonce) and, in CSRF token mode, ``csrf_token``.

    A key is left out when headerware has nothing for it, so Django's own
    ``csp`` and ``csrf`` context processors keep their values.
    """
    context: dict[str, Any] = {}
    nonce = nonce_of(request)
    if nonce is not None:
        context["csp_nonce"] = nonce
    make = token_factory(request)
    if make is not None:
        context["csrf_token"] = lazy(make, str)()
    return context
