"""Helpers a view calls to change what headerware does for *this* response.

Every helper takes the request's WSGI environ, so the same call works from any
framework: Flask's ``request.environ``, Django's ``request.META`` (the same dict
in a WSGI deployment) or a bare WSGI app's ``environ``. A helper records the
change under a documented ``headerware.*`` environ key; the layer reads it when
the application calls ``start_response``. Call it before the view returns (a
streamed response too: its headers are decided before the first chunk).

A mistake in the call (an unknown directive, a source that is refused) is the
application's programming error: a ``ValueError`` raised at once, in the view,
not a response sent with a policy the developer did not mean.

Content-Security-Policy nonce: :func:`csp_nonce`
    ``csp_nonce(environ)`` is the request's nonce for ``<script nonce="...">``
    (:mod:`headerware.layers.csp` documents it; importable from there too).

Content-Security-Policy amendments: :func:`csp_amend`
    ``csp_amend(environ, "script-src", "https://cdn.example")`` or
    ``csp_amend(environ, "script-src", csp_hash(inline_js))`` adds sources to one
    directive of the policies the ``csp`` layer sends on this response (the
    enforced one and the report-only one; the request nonce stays). Several calls
    add up. The sources are checked like the configuration, and stricter
    (:func:`headerware.csp_policy.check_amendment`): hosts, schemes such as
    ``wss:``, ``'self'`` and hashes only; ``'unsafe-inline'``, ``'unsafe-eval'``,
    ``*``, ``data:``, ``https:``, a fixed nonce, ``'none'`` and
    ``'strict-dynamic'`` raise ``ValueError``, as does a value with whitespace or a
    control character. A directive the policy does not set is written out from the
    one it falls back to (``default-src``) plus the sources. An application that
    sends its own ``Content-Security-Policy`` keeps it as it is (the layer's
    ``override_app_policy`` decides), amendments included. Responses of views that
    amend nothing get the layer's precomputed policies (the fast path).

    The record is :data:`CSP_AMEND_ENVIRON_KEY` (``"headerware.csp.amend"``): a list
    of ``(directive, (source, ...))`` pairs, normalised. Write it only through
    :func:`csp_amend`; the layer ignores (and logs as ``csp_amend_refused``) a
    value of another shape or one that no longer makes a valid policy.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from .csp_policy import Amendment, check_amendment

__all__ = [
    "CSP_AMEND_ENVIRON_KEY",
    "NONCE_ENVIRON_KEY",
    "csp_amend",
    "csp_amendments",
    "csp_nonce",
]

#: The published (environ) key holding the request's CSP nonce (a base64 ``str``).
NONCE_ENVIRON_KEY = "headerware.csp.nonce"
#: The environ key of this response's CSP amendments (a list of (directive, sources)).
CSP_AMEND_ENVIRON_KEY = "headerware.csp.amend"


def csp_nonce(environ: Mapping[str, Any], *, default: str | None = None) -> str:
    """The CSP nonce of the current request, for ``<script nonce="...">``.

    Raises ``LookupError`` when there is none (the app is not wrapped by the CSP
    layer, or nonces are off), unless ``default`` is given.
    """
    nonce = environ.get(NONCE_ENVIRON_KEY)
    if isinstance(nonce, str):
        return nonce
    if default is not None:
        return default
    raise LookupError(
        f"no CSP nonce for this request ({NONCE_ENVIRON_KEY!r} is not in the environ): "
        "wrap the WSGI app in headerware's ContentSecurityPolicy (with nonce_directives "
        "not empty), or call csp_nonce(environ, default='') to render without one"
    )


def csp_amend(environ: MutableMapping[str, Any], directive: str, *sources: str) -> None:
    """Add ``sources`` to ``directive`` of this response's Content-Security-Policy.

    ``environ`` is the request's WSGI environ (Flask ``request.environ``, Django
    ``request.META``). Raises ``ValueError`` for an unknown directive or a refused
    source (``'unsafe-inline'``, ``*``, ``data:``, a nonce, a control character...).
    """
    amendment = check_amendment(directive, sources)
    recorded = environ.get(CSP_AMEND_ENVIRON_KEY)
    if not isinstance(recorded, list):
        recorded = []
        environ[CSP_AMEND_ENVIRON_KEY] = recorded
    recorded.append(amendment)


def csp_amendments(environ: Mapping[str, Any]) -> tuple[Amendment, ...]:
    """The amendments :func:`csp_amend` recorded for this request (for tests, logs)."""
    recorded = environ.get(CSP_AMEND_ENVIRON_KEY)
    return tuple(recorded) if isinstance(recorded, list) else ()
