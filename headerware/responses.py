"""Refusals: the short error answers layers send (401, 403, 503, ...).

One helper so every layer's refusal looks the same, whichever layer refuses: its
body is negotiated from the client's Accept header — JSON ``{"error": message}``
(the default, and what ``*/*`` gets), a small HTML page when HTML is preferred (a
browser's navigation or form post), or plain text when ``text/plain`` is — and it is
never cached. The message says what was refused, never the configuration.

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

__all__ = ["MAX_ACCEPT_LENGTH", "error_response", "refusal_type"]

_OFFERED = ["application/json", "text/html", "text/plain"]
#: The longest ``Accept`` header negotiated; a longer one is answered with JSON.
MAX_ACCEPT_LENGTH = 512


def refusal_type(ctx: Context) -> str:
    """The media type of a refusal's body for this request (bounded work)."""
    accept = ctx.header("accept")
    if not accept or len(accept) > MAX_ACCEPT_LENGTH:
        return "application/json"
    return str(ctx.accept.best_match(_OFFERED) or "application/json")


def error_response(
    ctx: Context, status: str, message: str, headers: HeaderList | None = None
) -> Response:
    """A short error answer in the body type the client prefers (JSON by default)."""
    extra = [("Cache-Control", "no-store"), *(headers or [])]
    kind = refusal_type(ctx)
    if kind == "text/plain":
        return Response.text(status, message + "\n", extra)
    if kind == "text/html":
        text = html.escape(message)
        title = html.escape(status)
        markup = (
            f"<!doctype html><html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>"
        )
        return Response.html(status, markup, extra)
    return Response.json(status, {"error": message}, extra)
