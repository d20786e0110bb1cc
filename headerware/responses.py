"""Refusals: the short error answers layers send (401, 403, 503, ...).

One helper so every layer's refusal looks the same: JSON ``{"error": message}``,
or a small HTML page when the client's Accept header prefers HTML; never cached.
"""

from __future__ import annotations

import html

from ._headers import HeaderList
from .core.context import Context
from .core.layer import Response

__all__ = ["error_response"]

_OFFERED = ["application/json", "text/html"]


def error_response(
    ctx: Context, status: str, message: str, headers: HeaderList | None = None
) -> Response:
    """A short error answer: JSON ``{"error": message}``, or HTML when Accept prefers it."""
    extra = [("Cache-Control", "no-store"), *(headers or [])]
    if ctx.header("accept") and ctx.accept.best_match(_OFFERED) == "text/html":
        text = html.escape(message)
        title = html.escape(status)
        markup = (
            f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>"
        )
        return Response.html(status, markup, extra)
    return Response.json(status, {"error": message}, extra)
