"""What the Django adapters read of a request: headerware's published keys in META."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headerware.csrf_verdict import TOKEN_KEY, csrf_token
from headerware.layers.csp import NONCE_ENVIRON_KEY

__all__ = ["meta_of", "nonce_of", "token_factory"]


def meta_of(request: Any) -> Mapping[str, Any]:
    """``request.META`` (the WSGI environ), or an empty mapping."""
    meta = getattr(request, "META", None)
    return meta if isinstance(meta, Mapping) else {}


def nonce_of(request: Any) -> str | None:
    """headerware's CSP nonce for ``request``, or ``None`` when there is none."""
    nonce = meta_of(request).get(NONCE_ENVIRON_KEY)
    return nonce if isinstance(nonce, str) else None


def token_factory(request: Any) -> Any:
    """A callable making a fresh CSRF token, or ``None`` without token mode."""
    meta = meta_of(request)
    if not callable(meta.get(TOKEN_KEY)):
        return None

    def make() -> str:
        return csrf_token(meta)

    return make
