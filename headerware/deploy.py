"""Deployment: wrap any WSGI app in a configured stack, straight from gunicorn.

gunicorn evaluates an application reference of the form ``module:call(...)`` with
*literal* arguments only (strings, numbers, ...), so :func:`wrap` takes the app as a
``"module:attribute"`` string and the configuration as a file path::

    gunicorn 'headerware.deploy:wrap("examples.flask_app:flask_app",
                                     config="examples/headerware.toml")'

(one line in the shell)
or, in a gunicorn config file (see ``examples/gunicorn.conf.py``)::

    wsgi_app = 'headerware.deploy:wrap("myproject.wsgi:application", config="headerware.toml")'

Without ``config``, the file named by the environment variable ``HEADERWARE_CONFIG`` is
used, else headerware's defaults (security headers, CSP, cookie policy: the layers that
need no secret). The configuration is validated when the worker loads the app, so a
mistake stops the server at start-up with the key path, never at the first request.
Every worker builds the same stack from the same file and environment: signing keys
come from ``HEADERWARE_SECRET_KEYS`` and server-side sessions from a shared SQLite file
or Redis, so several worker processes agree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config import StackFactory, factory_from
from .core.layer import Layer
from .registry import import_reference
from .stack import Stack

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["CONFIG_ENV_VAR", "load_app", "wrap"]

#: Names the configuration file when none is passed.
CONFIG_ENV_VAR = "HEADERWARE_CONFIG"


def load_app(reference: str) -> WSGIApplication:
    """Import the WSGI app ``"package.module:attribute"`` (``module`` alone means ``:app``).

    The current directory is importable, as under gunicorn.
    """
    if not isinstance(reference, str) or not reference.strip():
        raise ValueError("APP: give the WSGI application as 'module:attribute', e.g. 'myapp:app'")
    if ":" not in reference:
        reference = f"{reference}:app"
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        app = import_reference(reference)
    except ModuleNotFoundError as exc:
        raise ValueError(
            f"APP {reference!r}: module {exc.name!r} not found; run from the project "
            "directory or give the full dotted module path"
        ) from exc
    except AttributeError as exc:
        raise ValueError(f"APP {reference!r}: no such attribute ({exc})") from exc
    except ValueError as exc:
        raise ValueError(f"APP: {exc}; e.g. 'myapp:app'") from exc
    if not callable(app):
        raise ValueError(f"APP {reference!r} is {type(app).__name__}, not a WSGI callable")
    return app


def resolve_config(
    config: str | os.PathLike[str] | Mapping[str, Any] | StackFactory | None,
) -> StackFactory:
    """The configuration to use: the argument, else ``$HEADERWARE_CONFIG``, else defaults."""
    if config is None:
        config = os.environ.get(CONFIG_ENV_VAR) or None
    return factory_from(config)


def wrap(
    app: str | WSGIApplication,
    config: str | os.PathLike[str] | Mapping[str, Any] | StackFactory | None = None,
) -> Stack:
    """``app`` (an object or ``"module:attribute"``) wrapped in the configured stack."""
    application = load_app(app) if isinstance(app, str) else app
    if isinstance(application, (Layer, Stack)):
        raise ValueError(
            f"APP {app!r} is already wrapped in headerware; point at the bare application "
            "(e.g. examples.flask_app:flask_app) so layers are not applied twice"
        )
    return resolve_config(config)(application)
