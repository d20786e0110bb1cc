"""The example routes as a minimal Django project, wrapped by headerware.

``examples.django_app.wsgi`` holds the WSGI callables; serve them with
``gunicorn examples.django_app.wsgi:app``. ``examples.django_app.asgi`` holds the
same project wrapped for ASGI: ``uvicorn examples.django_app.asgi:app``. For
symmetry with ``examples.flask_app`` and ``examples.wsgi_app``, ``app``,
``application`` and ``bare_app`` can also be imported from this package: they are
loaded from ``wsgi`` on first access, so importing ``examples.django_app.settings``
(as Django does) never sets Django up.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "application", "bare_app"]


def __getattr__(name: str) -> Any:
    """Load the WSGI callables from ``wsgi`` only when they are asked for."""
    if name in __all__:
        from examples.django_app import wsgi

        return getattr(wsgi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
