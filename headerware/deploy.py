"""Deployment: wrap any WSGI app in a configured stack, straight from gunicorn.

gunicorn evaluates an application reference of the form ``module:call(...)`` with
*literal* arguments only (strings, numbers, ...), so :func:`wrap` takes the app as a
``"module:attribute"`` string and the configuration as a file path::

    export HEADERWARE_SECRET_KEYS=$(headerware keygen)
    gunicorn 'headerware.deploy:wrap("examples.flask_app:flask_app", \
        config="examples/headerware.toml")'

or with the production settings of ``examples/gunicorn.conf.py`` (workers, binding,
proxy trust; the app from ``HEADERWARE_APP``, the file from ``HEADERWARE_CONFIG``,
both defaulting to the example)::

    gunicorn -c examples/gunicorn.conf.py

An app given on gunicorn's command line replaces the config file's ``wsgi_app``; the
config file still names the configuration (it sets ``HEADERWARE_CONFIG``), so
``gunicorn -c examples/gunicorn.conf.py 'headerware.deploy:wrap("examples.flask_app:flask_app")'``
serves the same stack.

Without ``config``, the file named by the environment variable ``HEADERWARE_CONFIG`` is
used, else headerware's defaults (security headers, CSP, cookie policy: the layers that
need no secret), with a logged warning listing them. The configuration is validated
when the worker loads the app, so a mistake stops the server at start-up with the key
path, never at the first request.

:func:`wrap` is a production entry point: the public development key is refused
(whatever ``HEADERWARE_DEVELOPMENT`` says; see :mod:`headerware.keys`) with the
command that creates a real key. Every worker builds the same stack from the same
file and environment: signing keys come from ``HEADERWARE_SECRET_KEYS`` and
server-side sessions from a shared SQLite file or Redis, so several worker processes
agree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._log import logger
from .config import StackFactory, factory_from
from .core.layer import Layer
from .keys import deployment
from .registry import import_reference
from .stack import Stack

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["CONFIG_ENV_VAR", "load_app", "wrap"]

#: Names the configuration file when none is passed.
CONFIG_ENV_VAR = "HEADERWARE_CONFIG"

Config = str | os.PathLike[str] | Mapping[str, Any] | StackFactory | None


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


def resolve_config(config: Config) -> StackFactory:
    """The configuration to use: the argument, else ``$HEADERWARE_CONFIG``, else defaults."""
    if config is None:
        config = os.environ.get(CONFIG_ENV_VAR) or None
    factory = factory_from(config)
    if config is None:
        logger.warning(
            "headerware: no configuration given (config=... or %s): running only the "
            "default layers %s; give the configuration file to serve its layers",
            CONFIG_ENV_VAR,
            ", ".join(layer.name for layer in factory.layers),
            extra={
                "hw_event": "default_configuration",
                "hw_fields": {"layers": [layer.name for layer in factory.layers]},
            },
        )
    return factory


def _bare_name(reference: str, stack: Layer | Stack) -> str | None:
    """The ``module:attribute`` of the bare application inside ``stack``, if any."""
    module_name = reference.partition(":")[0]
    module = sys.modules.get(module_name)
    inner = stack.app
    while isinstance(inner, Layer | Stack):
        inner = inner.app
    if module is None or inner is None:
        return None
    for name, value in vars(module).items():
        if value is inner and not name.startswith("_"):
            return f"{module_name}:{name}"
    return None


def check_bare(application: object, reference: str) -> None:
    """Refuse an application that is already a headerware stack, naming ``reference``."""
    if not isinstance(application, Layer | Stack):
        return
    bare = _bare_name(reference, application) if ":" in reference else None
    hint = (
        f"point at the bare application ({bare})"
        if bare
        else ("point at the bare application (e.g. examples.flask_app:flask_app)")
    )
    raise ValueError(
        f"APP {reference} is already wrapped in headerware; {hint} so layers are not applied twice"
    )


def wrap(app: str | WSGIApplication, config: Config = None, *, development: bool = False) -> Stack:
    """``app`` (an object or ``"module:attribute"``) wrapped in the configured stack.

    A production entry point: the development key is refused unless the caller is
    one of headerware's development commands (``development=True``).
    """
    with deployment(development=development):
        application = load_app(app) if isinstance(app, str) else app
        check_bare(application, app if isinstance(app, str) else repr(app))
        return resolve_config(config)(application)
