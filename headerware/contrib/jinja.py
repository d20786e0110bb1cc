"""Jinja2 templates: headerware's CSP nonce and CSRF token as template globals.

One call installs both globals in any Jinja environment::

    from headerware.contrib.jinja import install

    install(env, environ_getter)          # environ_getter() -> the current environ

    <script nonce="{{ csp_nonce() }}">...</script>
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">

``environ_getter`` is a callable without arguments returning the WSGI environ of
the request being rendered (Flask: ``lambda: flask.request.environ``, which
:func:`headerware.contrib.flask.init_app` installs for you). It may be ``None``
when the code rendering the template passes the environ itself as the ``environ``
template variable (``template.render(environ=environ)``, handy in a bare WSGI
app), or an ASGI app passes its scope as ``scope``
(``template.render(scope=request.scope)``: headerware publishes the same keys
there); a template variable ``environ`` or ``scope`` always wins over the getter.

``csp_nonce()`` is :func:`headerware.csp_nonce` and ``csrf_token()`` is
:func:`headerware.csrf_token`: both raise ``LookupError`` with the fix when the
request has none (no ContentSecurityPolicy layer, or CSRF not in token mode), so
a template never ships an empty nonce by accident; ``csp_nonce(default="")``
renders without one instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context as JinjaContext

from headerware.csrf_verdict import csrf_token as _csrf_token
from headerware.layers.csp import csp_nonce as _csp_nonce

__all__ = ["EnvironGetter", "install"]

#: Returns the WSGI environ of the request being rendered.
EnvironGetter = Callable[[], Mapping[str, Any]]


def install(env: Environment, environ_getter: EnvironGetter | None = None) -> None:
    """Add the ``csp_nonce()`` and ``csrf_token()`` globals to ``env``."""
    if environ_getter is not None and not callable(environ_getter):
        raise TypeError(f"environ_getter must be callable, not {environ_getter!r}")

    def environ_of(context: JinjaContext) -> Mapping[str, Any]:
        for name in ("environ", "scope"):
            given = context.get(name)
            if isinstance(given, Mapping):
                return given
        if environ_getter is None:
            raise LookupError(
                "no environ to read the nonce or token from: pass environ_getter to "
                "headerware.contrib.jinja.install(), or render with environ=environ "
                "(ASGI: scope=request.scope)"
            )
        return environ_getter()

    @pass_context
    def csp_nonce(context: JinjaContext, default: str | None = None) -> str:
        """This request's CSP nonce (see :func:`headerware.csp_nonce`)."""
        return _csp_nonce(environ_of(context), default=default)

    @pass_context
    def csrf_token(context: JinjaContext) -> str:
        """A fresh masked CSRF token (see :func:`headerware.csrf_token`)."""
        environ = environ_of(context)
        return _csrf_token(environ)

    env.globals["csp_nonce"] = csp_nonce
    env.globals["csrf_token"] = csrf_token
