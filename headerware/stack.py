"""Stack: ordered layers (and per-route variants) run as one application.

``Stack([SecurityHeaders(), CORS(...)], app)`` is one WSGI application: one pass
per request, request hooks in order, the application called once, response hooks
in reverse order (see :mod:`headerware.core.engine`). Wrapping a layer or another
stack merges it into this one rather than nesting a second pass.

Per-route variants (``routes=[("/api/*", [...layers...])]``, usually built from a
configuration's ``[[routes]]``, see :mod:`headerware.config`) are whole layer lists
chosen by the request's path with :mod:`headerware.paths`' rule for laxer
settings: a route applies only when the raw and the resolved path pick it. A
request whose raw and resolved paths pick *different* routes (``/admin/..%2fpublic``)
is refused with 400 through the global layers: browsers never send such paths,
and either choice could switch off a guard the application's router relies on.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._log import security_event
from .core.engine import Chain
from .core.layer import Layer, Response
from .paths import PathRules, raw_view
from .wsgi import WSGIContext, send_head, serve

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .core.context import Context

__all__ = ["AMBIGUOUS_ROUTE", "Stack", "StackBase"]


def _flatten(layers: Iterable[Layer | StackBase]) -> list[Layer]:
    flat: list[Layer] = []
    for item in layers:
        if isinstance(item, StackBase):
            if item.routes:
                raise TypeError(
                    "Stack: a stack with per-route rules cannot be flattened into a layer "
                    "list (its routes would be lost); wrap it instead: Stack(layers, routed)"
                )
            flat.extend(item.layers)
        elif isinstance(item, Layer):
            flat.append(item)
        else:
            raise TypeError(
                f"Stack: {item!r} is not a headerware layer; build layers without an app, "
                "e.g. Stack([SecurityHeaders(), CORS(...)], app)"
            )
    return flat


#: The refusal of a request whose raw and resolved paths pick different routes.
AMBIGUOUS_ROUTE = Response.text(
    "400 Bad Request", "Bad Request: the path resolves to a different route\n"
)


class StackBase:
    """Ordered layers and per-route variants, assembled once; the server interface
    (WSGI :class:`Stack`, ASGI :class:`~headerware.asgi.ASGIStack`) is the subclass."""

    app: Any
    layers: tuple[Layer, ...]

    def __init__(
        self,
        layers: Sequence[Layer | StackBase],
        app: Any = None,
        *,
        routes: Sequence[tuple[str, Sequence[Layer | StackBase]]] | None = None,
    ) -> None:
        flat = _flatten(layers)
        variants = [(pattern, _flatten(variant)) for pattern, variant in routes or ()]
        # Wrapping another headerware stack or layer merges it instead of nesting.
        while isinstance(app, Layer | StackBase):
            inner = app
            if isinstance(inner, StackBase) and type(inner) is not type(self):
                raise TypeError(
                    f"{type(self).__name__}: cannot wrap a {type(inner).__name__} (a different "
                    "server interface); build both from the same layers instead"
                )
            if isinstance(inner, StackBase):
                if inner.routes:
                    if variants:
                        break  # two routed stacks: nest rather than merge route tables
                    variants = [(pattern, [*flat, *variant]) for pattern, variant in inner.routes]
                else:
                    for _, variant in variants:
                        variant.extend(inner.layers)
                flat.extend(inner.layers)
                app = inner.app
            else:
                flat.append(inner)
                for _, variant in variants:
                    variant.append(inner)
                app = inner.app
        for layer in [*flat, *(layer for _, variant in variants for layer in variant)]:
            if (
                layer.app is not None
                and layer.app is not app
                and not isinstance(layer.app, Layer | StackBase)
            ):
                raise ValueError(
                    f"Stack: layer {type(layer).__name__} already wraps an application; "
                    "create layers without an app when stacking them"
                )
        self._check_interface(app)
        self.layers = tuple(flat)
        self.app = app
        self.routes: tuple[tuple[str, tuple[Layer, ...]], ...] = tuple(
            (pattern, tuple(variant)) for pattern, variant in variants
        )
        self.chain = Chain(self.layers)
        self._router: PathRules[Chain] | None = (
            PathRules([(p, Chain(v)) for p, v in self.routes], option="routes")
            if self.routes
            else None
        )

    def _check_interface(self, app: Any) -> None:
        """Refuse, at construction, an application of the other server interface."""

    def describe(self) -> list[dict[str, Any]]:
        """Each layer in order with its effective options."""
        return [{"layer": layer.name, "options": layer.describe()} for layer in self.layers]

    def chain_for(self, ctx: Context) -> Chain | None:
        """The chain of the request's route; ``None`` when raw and resolved disagree."""
        router = self._router
        if router is None:
            return self.chain
        resolved = router.lookup(ctx.path)
        raw = raw_view(ctx.raw_path)
        if raw != ctx.path:
            other = router.lookup(raw)
            if (other and other[0]) != (resolved and resolved[0]):
                return None
        return self.chain if resolved is None else resolved[1]


class Stack(StackBase):
    """Ordered layers run as one WSGI callable: one pass, one ``start_response``."""

    app: WSGIApplication | None

    def _check_interface(self, app: Any) -> None:
        call = inspect.getattr_static(type(app), "__call__", None)
        if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call):
            raise TypeError(
                f"Stack: {app!r} is an ASGI application; wrap it with "
                "headerware.ASGIStack(layers, app) or load_config(path).asgi(app)"
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = self.app
        if app is None:
            raise TypeError("Stack was created without an application; pass Stack(layers, app)")
        ctx = WSGIContext(environ)
        chain = self.chain if self._router is None else self.chain_for(ctx)
        if chain is None:
            security_event("ambiguous_route", raw_path=ctx.raw_path[:200], path=ctx.path[:200])
            return send_head(ctx, self.chain.answer(ctx, AMBIGUOUS_ROUTE), start_response)
        return serve(chain, app, ctx, start_response)


Layer.middleware = Stack
