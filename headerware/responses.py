"""Refusals: the short error answers layers send (401, 403, 503, ...).

One helper so every layer's refusal looks the same: JSON ``{"error": message}``,
or a small HTML page when the client's Accept header prefers HTML; never cached.

The choice costs a bounded amount of work whatever the client sends: refusals are
what an unauthenticated client gets most cheaply, so an ``Accept`` header longer
than :data:`MAX_ACCEPT_LENGTH` (no browser sends one) is not parsed at all and
gets JSON; a shorter one goes through the context's shared, memoised parse.
"""

from __future__ import annotations

import html

from ._headers import HeaderList
from .core.context import Context
from .core.layer import Response

__all__ = ["MAX_ACCEPT_LENGTH", "error_response"]

_OFFERED = ["application/json", "text/html"]
#: The longest ``Accept`` header negotiated; a longer one is answered with JSON.
MAX_ACCEPT_LENGTH = 512


def _prefers_html(ctx: Context) -> bool:
    accept = ctx.header("accept")
    if not accept or len(accept) > MAX_ACCEPT_LENGTH:
        return False
    return bool(ctx.accept.best_match(_OFFERED) == "text/html")


def error_response(
    ctx: Context, status: str, message: str, headers: HeaderList | None = None
) -> Response:
    """A short error answer: JSON ``{"error": message}``, or HTML when Accept prefers it."""
    extra = [("Cache-Control", "no-store"), *(headers or [])]
    if _prefers_html(ctx):
        text = html.escape(message)
        title = html.escape(status)
        markup = (
            f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>"
        )
        return Response.html(status, markup, extra)
    return Response.json(status, {"error": message}, extra)
