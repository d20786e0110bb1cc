"""The application's side of CSRFProtect: the token, the verdict, the refusal.

CSRFProtect (:mod:`headerware.layers.csrf`) publishes, for every request that
reaches the application:

* ``headerware.csrf.verdict`` (:data:`VERDICT_KEY`): ``None`` when the request
  passed, else the refusal reason (``"cross_site"``, ``"origin_mismatch"``,
  ``"token_missing"``, ``"token_invalid"``, ``"form_too_large"``,
  ``"body_incomplete"``: an ASGI client left mid-body). Only a layer
  with ``defer_to_framework=True`` lets a refused request through, so that the
  framework can refuse it before the view runs unless the view is exempt;
* ``headerware.csrf.refusal`` (:data:`REFUSAL_KEY`): with a refused verdict, the
  :class:`~headerware.core.layer.Response` the layer would have sent (403, 413
  for a form too large to read, 400 for an incomplete one; JSON or HTML by Accept);
* ``headerware.csrf.token`` (:data:`TOKEN_KEY`), in token mode: a zero-argument
  callable returning a fresh masked token.

The helpers below read them from the WSGI environ (Flask's ``request.environ``,
Django's ``request.META``); the framework adapters in :mod:`headerware.contrib`
are built on them. Reading the verdict sets ``headerware.csrf.checked``
(:data:`CHECKED_KEY`), which tells the layer the application did look.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from .core.layer import Response

__all__ = [
    "CHECKED_KEY",
    "REFUSAL_KEY",
    "TOKEN_KEY",
    "VERDICT_KEY",
    "csrf_refusal",
    "csrf_token",
    "csrf_verdict",
]

#: The published key of the zero-argument callable that returns a fresh masked token.
TOKEN_KEY = "headerware.csrf.token"
#: The published verdict: ``None`` (passed) or the refusal reason.
VERDICT_KEY = "headerware.csrf.verdict"
#: The published refusal (a :class:`~headerware.core.layer.Response`) of a deferred verdict.
REFUSAL_KEY = "headerware.csrf.refusal"
#: Set by :func:`csrf_verdict` once the application has read the verdict.
CHECKED_KEY = "headerware.csrf.checked"


def csrf_token(environ: Mapping[str, Any]) -> str:
    """A fresh masked CSRF token for a form or header (needs ``mode="token"``)."""
    factory = environ.get(TOKEN_KEY)
    if not callable(factory):
        raise LookupError(
            "no CSRF token on this request: use CSRFProtect(mode='token') after a "
            "Sessions layer (the default origin mode needs no token)"
        )
    return str(factory())


def csrf_verdict(environ: MutableMapping[str, Any]) -> str | None:
    """The CSRF verdict of this request: ``None`` (passed) or the refusal reason.

    Only a ``defer_to_framework=True`` layer lets a refused request reach the
    application; it must then refuse it (unless the view is exempt). Reading the
    verdict marks it as checked. ``LookupError`` when no CSRFProtect layer ran.
    """
    if VERDICT_KEY not in environ:
        raise LookupError("no CSRF verdict on this request: wrap the application in CSRFProtect")
    environ[CHECKED_KEY] = True
    verdict = environ[VERDICT_KEY]
    return None if verdict is None else str(verdict)


def csrf_refusal(environ: MutableMapping[str, Any]) -> Response | None:
    """The response CSRFProtect would have sent (403; 413 or 400 for a form too large
    or incomplete), or ``None`` when the request passed; marks the verdict as checked."""
    verdict = csrf_verdict(environ)
    if verdict is None:
        return None
    refusal = environ.get(REFUSAL_KEY)
    if isinstance(refusal, Response):
        return refusal
    return Response.json("403 Forbidden", {"error": "Forbidden"}, [("Cache-Control", "no-store")])
