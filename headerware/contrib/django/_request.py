"""Where the Django adapters find headerware's published keys: the scope or META.

Under WSGI, Django's ``request.META`` *is* the environ the layers published into.
Under ASGI, Django's ``ASGIRequest`` builds ``META`` afresh from the scope's headers,
so the keys are in ``request.scope`` -- the very scope headerware's ASGI adapter gave
Django, so what a view records there (``csp_amend``, ``cors_allow``...) reaches the
layers on ``http.response.start``. Everything in :mod:`headerware.contrib.django`
reads and writes through :func:`published`, so both deployments behave alike.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from headerware.csrf_verdict import TOKEN_KEY, csrf_token
from headerware.layers.csp import NONCE_ENVIRON_KEY

__all__ = ["nonce_of", "published", "token_factory"]


def published(request: Any) -> MutableMapping[str, Any]:
    """The mapping headerware published into for ``request``.

    ``request.scope`` for Django's ``ASGIRequest``, ``request.META`` (the WSGI environ)
    otherwise; an empty dict when the request has neither. Pass it to headerware's
    helpers: ``get_session(published(request))``, ``csp_amend(published(request), ...)``.
    """
    scope = getattr(request, "scope", None)
    if isinstance(scope, MutableMapping):
        return scope
    meta = getattr(request, "META", None)
    return meta if isinstance(meta, MutableMapping) else {}


def nonce_of(request: Any) -> str | None:
    """headerware's CSP nonce for ``request``, or ``None`` when there is none."""
    nonce = published(request).get(NONCE_ENVIRON_KEY)
    return nonce if isinstance(nonce, str) else None


def token_factory(request: Any) -> Any:
    """A callable making a fresh CSRF token, or ``None`` without token mode."""
    keys = published(request)
    if not callable(keys.get(TOKEN_KEY)):
        return None

    def make() -> str:
        return csrf_token(keys)

    return make
