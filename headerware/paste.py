"""PasteDeploy: every layer, and the whole stack, as a ``paste.filter_factory``.

Each layer is a filter under its config name (``egg:headerware#csp``,
``egg:headerware#cors``, ...) and ``egg:headerware#stack`` builds the whole stack from a
TOML file. Options are strings in an ini file; each is converted by the annotation of
the layer's option (``true``/``false``; comma- or newline-separated lists; JSON for
tables; ``none`` for an optional value), validated like a TOML value, and an unknown
key is refused with a did-you-mean, when the pipeline is loaded. A layer's own refusal
(its :class:`~headerware.options.OptionError`) is reported at ``name.option``
(``security_headers.hsts_max_age``). A value written ``${NAME}`` (or
``${NAME:-default}``) is read from the environment variable ``NAME``, so secrets stay
out of the file::

    [pipeline:main]
    pipeline = security csp cors app

    [filter:security]
    use = egg:headerware#security_headers
    x_frame_options = DENY

    [filter:cors]
    use = egg:headerware#cors
    allow_origins = https://app.example.com
    allow_credentials = true

    [filter:hw]
    use = egg:headerware#stack
    config = %(here)s/headerware.toml

    [app:app]
    use = egg:headerware#app
    target = examples.wsgi_app:bare_app

Consecutive headerware filters merge into ONE stack (one pass per request), exactly as
``Stack([...])`` would; a filter's place in the pipeline is its place in the stack.
``egg:headerware#app`` (a ``paste.app_factory``) serves any WSGI app named by
``target = module:attribute``. Without the package installed, ``use =
call:headerware.paste:csp`` works too.

Serving a pipeline is production: every factory here refuses the public development
key (see :mod:`headerware.keys`), so set the keys first::

    export HEADERWARE_SECRET_KEYS=$(headerware keygen)
    gunicorn --paste examples/paste.ini
    gunicorn --paste 'examples/paste.ini#toml'
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import registry
from .config import (
    ConfigError,
    _did_you_mean,
    coerce_secure,
    convert_string,
    layer_options,
    load_config,
)
from .core.layer import Layer
from .keys import deployment
from .stack import Stack

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["app_factory", "filter_factory", "make_layer", "stack_filter"]

Filter = Callable[["WSGIApplication"], Stack]
#: Keys PasteDeploy itself may pass along in ``local_conf``.
_PASTE_KEYS = frozenset({"use", "__file__", "here"})
#: ``${NAME}`` or ``${NAME:-default}``: a value read from the environment.
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\}\Z", re.DOTALL)


def _expand_env(text: str, path: str) -> str:
    match = _ENV_REF.match(text.strip())
    if match is None:
        return text
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ConfigError(
                path,
                f"environment variable {name} is not set; export it before starting "
                f"(or give a fallback: ${{{name}:-...}})",
            )
        value = default
    return value


def make_layer(name: str, options: Mapping[str, str]) -> Layer:
    """Build the layer registered as ``name`` from string options (ini values)."""
    cls = registry.layer_class(name)
    schema = layer_options(cls)
    kwargs: dict[str, Any] = {}
    for key, text in options.items():
        if key in _PASTE_KEYS:
            continue
        path = f"{name}.{key}"
        option = schema.options.get(key)
        if option is None:
            if schema.open_ended:
                kwargs[key] = text
                continue
            raise ConfigError(
                path, f"unknown option of {cls.__name__}" + _did_you_mean(key, list(schema.options))
            )
        value = _expand_env(text, path)
        if key == "secure":
            value = coerce_secure(value, option.annotation)
        kwargs[key] = (
            convert_string(value, option.annotation, path) if isinstance(value, str) else value
        )
    missing = [o.name for o in schema.options.values() if o.required and o.name not in kwargs]
    if missing:
        raise ConfigError(name, f"missing required option {missing[0]!r} of {cls.__name__}")
    try:
        return cls(**kwargs)
    except ValueError as exc:  # OptionError names the option; else the layer's name
        raise ConfigError.of_layer(exc, name) from exc


def filter_factory(name: str) -> Callable[..., Filter]:
    """The ``paste.filter_factory`` of the layer registered as ``name``."""

    def factory(global_conf: Mapping[str, Any], **local_conf: str) -> Filter:
        with deployment(development=False):  # validated when the pipeline is loaded
            layer = make_layer(name, local_conf)

        def make_filter(app: WSGIApplication) -> Stack:
            return Stack([layer], app)

        return make_filter

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"PasteDeploy filter for the ``{name}`` layer."
    return factory


def stack_filter(global_conf: Mapping[str, Any], **local_conf: str) -> Filter:
    """``paste.filter_factory`` for a whole stack: ``config = path/to/headerware.toml``."""
    unknown = [key for key in local_conf if key not in _PASTE_KEYS | {"config"}]
    if unknown:
        raise ConfigError(
            f"stack.{unknown[0]}", "unknown option; the stack filter takes only 'config'"
        )
    path = local_conf.get("config")
    if not path:
        raise ConfigError("stack.config", "missing; set config = %(here)s/headerware.toml")
    here = global_conf.get("here") or os.getcwd()
    with deployment(development=False):
        factory = load_config(os.path.join(here, path))

    def make_filter(app: WSGIApplication) -> Stack:
        return factory(app)

    return make_filter


def app_factory(global_conf: Mapping[str, Any], **local_conf: str) -> WSGIApplication:
    """``paste.app_factory`` serving the WSGI app named by ``target = module:attribute``."""
    from .deploy import load_app

    target = local_conf.get("target")
    if not target:
        raise ConfigError("app.target", "missing; set target = package.module:application")
    unknown = [key for key in local_conf if key not in _PASTE_KEYS | {"target"}]
    if unknown:
        raise ConfigError(f"app.{unknown[0]}", "unknown option; the app factory takes 'target'")
    with deployment(development=False):  # an app that wraps itself at import
        return load_app(target)


# One filter factory per registered layer, as entry points and ``call:`` targets.
proxy = filter_factory("proxy")
trusted_hosts = filter_factory("trusted_hosts")
https_redirect = filter_factory("https_redirect")
request_headers = filter_factory("request_headers")
security_headers = filter_factory("security_headers")
csp = filter_factory("csp")
cors = filter_factory("cors")
websocket_origins = filter_factory("websocket_origins")  # no-op under WSGI (no websockets)
cookie_policy = filter_factory("cookie_policy")
signed_cookies = filter_factory("signed_cookies")
sessions = filter_factory("sessions")
csrf = filter_factory("csrf")
bearer_auth = filter_factory("bearer_auth")
negotiation = filter_factory("negotiation")
caching = filter_factory("caching")
response_headers = filter_factory("response_headers")
