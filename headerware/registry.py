"""The layer registry: config name -> layer class, imported lazily, in canonical order.

Configuration files, PasteDeploy filters and the CLI name layers by their config key
(``csp``, ``cors``, ...). The registry maps each key to ``"module:Class"`` and imports
the class only when a configuration uses it, so a missing optional dependency of one
layer never breaks the others.

The canonical order is the order layers run in when a configuration does not give
its own (request hooks top to bottom, response hooks bottom to top):

``proxy``
    First: every later layer must see the scheme, host and client address the
    trusted proxy reported (HSTS, the HTTPS redirect, CORS and CSRF depend on them).
``security_headers``
    Right after the proxy: outermost of the response side, so every response gets
    the security headers, including the early answers of every layer below (a
    refused host or oversized header, the HTTPS redirect, preflights, 401, 403).
``trusted_hosts``
    Refuse a forged ``Host`` before any other work is done for it.
``https_redirect``
    Right after the host check, so a redirect is only ever built for a host the
    server serves (a client-chosen Host gets the 400, not a cacheable 301).
``request_headers``
    Refuse malformed or oversized request headers before other layers parse them.
``csp``
    After the request checks, so its report receiver only sees requests that passed
    them; its policy is on every response of the application and of the layers below.
``cors``
    Before the cookie, session, CSRF and auth layers: a preflight is answered before
    CSRF or bearer auth could refuse it, and their 401/403 still carry CORS headers.
``websocket_origins``
    Next to CORS (the same origin rules, for WebSocket handshakes under ASGI): after
    ``proxy`` and ``trusted_hosts``, so a same-origin check compares the ``Origin``
    with the proxied scheme and a host already checked.
``cookie_policy``
    Outside the layers that write cookies: its response hook runs after theirs, so it
    enforces Secure/HttpOnly/SameSite on the final ``Set-Cookie`` headers.
``signed_cookies``, ``sessions``
    Verify (request) and sign (response) cookies around the application; sessions
    inside signing so a signed-cookie session is read after verification.
``csrf``, ``bearer_auth``
    Refuse unsafe cross-site requests and unauthenticated API calls once the session
    and proxy information they need is known.
``negotiation``, ``caching``
    Closest to the application: negotiation sets what the app reads; caching sees
    the application's own body and status to compute ETags and answer 304.
``response_headers``
    Innermost: headers it injects look as if the application had set them, so every
    other layer (cookie policy, caching, CORS) treats them like the app's own.
"""

from __future__ import annotations

import importlib

from .core.layer import Layer

__all__ = ["LAYERS", "ORDER", "import_reference", "layer_class", "register", "unregister"]

#: Config key -> ``"module:Class"``, in canonical order.
LAYERS: dict[str, str] = {
    "proxy": "headerware.layers.hosts:TrustedProxy",
    "security_headers": "headerware.layers.security:SecurityHeaders",
    "trusted_hosts": "headerware.layers.hosts:TrustedHosts",
    "https_redirect": "headerware.layers.https_redirect:HTTPSRedirect",
    "request_headers": "headerware.layers.headers:RequestHeaders",
    "csp": "headerware.layers.csp:ContentSecurityPolicy",
    "cors": "headerware.layers.cors:CORS",
    "websocket_origins": "headerware.layers.websocket:WebSocketOrigins",
    "cookie_policy": "headerware.layers.cookies:CookiePolicy",
    "signed_cookies": "headerware.layers.signing:SignedCookies",
    "sessions": "headerware.layers.sessions:Sessions",
    "csrf": "headerware.layers.csrf:CSRFProtect",
    "bearer_auth": "headerware.layers.auth:BearerAuth",
    "negotiation": "headerware.layers.negotiation:Negotiation",
    "caching": "headerware.layers.caching:Caching",
    "response_headers": "headerware.layers.headers:ResponseHeaders",
}

#: Canonical position of every registered layer (lower runs first on the request).
ORDER: dict[str, int] = {name: index for index, name in enumerate(LAYERS)}

_loaded: dict[str, type[Layer]] = {}


def register(name: str, target: str | type[Layer], *, before: str | None = None) -> None:
    """Make a layer available to configuration under ``name``.

    ``target`` is a class or ``"module:Class"``. The layer runs just before the
    registered layer ``before`` in the canonical order, or after all of them.
    """
    if not name.isidentifier() or name != name.lower():
        raise ValueError(f"register: {name!r} is not a valid layer name; use lower_case_words")
    if before is not None and before not in LAYERS:
        raise ValueError(f"register: before={before!r} is not a registered layer")
    if isinstance(target, type):
        if not issubclass(target, Layer):
            raise TypeError(f"register: {target!r} is not a headerware Layer subclass")
        _loaded[name] = target
        reference = f"{target.__module__}:{target.__qualname__}"
    else:
        reference = target
        _loaded.pop(name, None)
    items = [(key, value) for key, value in LAYERS.items() if key != name]
    position = len(items)
    if before is not None:
        position = [key for key, _ in items].index(before)
    items.insert(position, (name, reference))
    LAYERS.clear()
    LAYERS.update(items)
    ORDER.clear()
    ORDER.update({key: index for index, key in enumerate(LAYERS)})


def unregister(name: str) -> None:
    """Remove a layer added with :func:`register` (for tests)."""
    LAYERS.pop(name, None)
    _loaded.pop(name, None)
    ORDER.clear()
    ORDER.update({key: index for index, key in enumerate(LAYERS)})


def import_reference(reference: str) -> object:
    """Import ``"package.module:attr"`` (``attr`` may be dotted)."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{reference!r} is not a 'module:attribute' reference")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def layer_class(name: str) -> type[Layer]:
    """The layer class registered as ``name`` (imported on first use)."""
    cls = _loaded.get(name)
    if cls is not None:
        return cls
    reference = LAYERS[name]
    try:
        obj = import_reference(reference)
    except (ImportError, AttributeError) as exc:
        raise ImportError(
            f"layer {name!r} ({reference}) could not be imported: {exc}; "
            "is the module installed and its optional dependency present?"
        ) from exc
    if not (isinstance(obj, type) and issubclass(obj, Layer)):
        raise TypeError(f"layer {name!r}: {reference} is not a headerware Layer subclass")
    _loaded[name] = obj
    return obj
