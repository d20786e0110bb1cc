"""TEMPORARY import shim during the core redesign (branch only; deleted before merge)."""

from .core.context import Context, parse_language_accept, parse_mime_accept
from .core.layer import Layer, Response, ResponseHead
from .stack import Stack
from .wsgi import CONTEXT_KEY, current_context

__all__ = [
    "CONTEXT_KEY",
    "Context",
    "Layer",
    "Response",
    "ResponseHead",
    "Stack",
    "current_context",
    "parse_language_accept",
    "parse_mime_accept",
]
