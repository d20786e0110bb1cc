"""``{% load headerware %}``: ``{% csp_nonce %}`` and ``{% csrf_input %}``."""

from __future__ import annotations

from typing import Any

from django import template  # type: ignore[import-untyped]
from django.utils.html import format_html  # type: ignore[import-untyped]

from headerware.contrib.django._request import published, token_factory
from headerware.layers.csp import csp_nonce as _csp_nonce

register = template.Library()


def _request(context: Any) -> Any:
    request = getattr(context, "request", None)
    return request if request is not None else context.get("request")


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def csp_nonce(context: Any) -> str:
    """The request's CSP nonce; ``LookupError`` (with the fix) when there is none."""
    return _csp_nonce(published(_request(context)))


@register.simple_tag(takes_context=True)  # type: ignore[untyped-decorator]
def csrf_input(context: Any, field_name: str = "csrf_token") -> str:
    """A hidden form field with a fresh CSRF token (CSRFProtect in token mode)."""
    make = token_factory(_request(context))
    if make is None:
        raise LookupError(
            "no CSRF token on this request: {% csrf_input %} needs headerware's "
            "CSRFProtect(mode='token') after a Sessions layer"
        )
    return str(format_html('<input type="hidden" name="{}" value="{}">', field_name, make()))
