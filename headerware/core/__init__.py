"""The server-interface-free core: the context, the layer protocol and the engine."""

from __future__ import annotations

from .context import Context
from .engine import Chain
from .layer import Layer, Response, ResponseHead

__all__ = ["Chain", "Context", "Layer", "Response", "ResponseHead"]
