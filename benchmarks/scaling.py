"""Scaling: the cost of a Stack of 1, 2, 4, 8, 16 layers, to show the single pass.

*idle* layers have both hooks but nothing to do for this request (the engine still
calls them); *active* layers each add one response header. For contrast, the same
number of hand-written middlewares nested the usual way (one wrapper frame and one
``start_response`` closure each).
"""

from __future__ import annotations

from typing import Any

from . import apps
from .harness import Prepared, Variant, environ_maker

SIZES = (1, 2, 4, 8, 16)


def _layer_classes() -> tuple[type[Any], type[Any]]:
    """An idle and an active layer, for whichever engine is imported: the layer
    protocol of headerware >= 0.2 (``on_response(ctx, response)``) or 0.1's
    (``on_response(ctx, status, headers)``), so ``benchmarks.engines`` can measure
    the engine tagged ``engine-0.1`` side by side with today's."""
    import headerware

    Layer = headerware.Layer
    if hasattr(headerware, "ResponseHead"):

        class IdleLayer(Layer):
            """Looks at the request and the response and has nothing to do."""

            name = "idle"

            def on_request(self, ctx: Any) -> Any:
                return None

            def on_response(self, ctx: Any, response: Any) -> None:
                return None

        class ActiveLayer(Layer):
            """Adds one precomputed response header."""

            name = "active"

            def __init__(self, index: int) -> None:
                super().__init__()
                self.header = (f"X-Layer-{index}", "1")

            def on_response(self, ctx: Any, response: Any) -> None:
                response.add(*self.header)

        return IdleLayer, ActiveLayer

    class OldIdleLayer(Layer):
        name = "idle"

        def on_request(self, ctx: Any) -> Any:
            return None

        def on_response(self, ctx: Any, status: str, headers: list[tuple[str, str]]) -> None:
            return None

    class OldActiveLayer(Layer):
        name = "active"

        def __init__(self, index: int) -> None:
            super().__init__()
            self.header = (f"X-Layer-{index}", "1")

        def on_response(self, ctx: Any, status: str, headers: list[tuple[str, str]]) -> None:
            headers.append(self.header)

    return OldIdleLayer, OldActiveLayer


def _idle(n: int) -> Prepared:
    from headerware import Stack

    idle, _ = _layer_classes()
    return Prepared(Stack([idle() for _ in range(n)], apps.make_wsgi_app()), environ_maker())


def _active(n: int) -> Prepared:
    from headerware import Stack

    _, active = _layer_classes()
    return Prepared(
        Stack([active(i) for i in range(n)], apps.make_wsgi_app()),
        environ_maker(),
        check=lambda s, h, b: (
            None if sum(k.startswith("X-Layer-") for k, _ in h) == n else "headers"
        ),
    )


def _nested(n: int) -> Prepared:
    app = apps.make_wsgi_app()
    for i in range(n):
        app = apps.one_header_middleware(app, f"X-Layer-{i}")
    return Prepared(app, environ_maker())


def variants() -> list[Variant]:
    group = "Stack of N layers around the bare WSGI app (GET)"
    out = [
        Variant("scale.bare", lambda: Prepared(apps.make_wsgi_app(), environ_maker()), None, group)
    ]
    for n in SIZES:
        out.append(
            Variant(
                f"scale.idle-{n}",
                lambda n=n: _idle(n),
                "scale.bare",
                group,
                note=f"{n} idle layers",
            )
        )
    for n in SIZES:
        out.append(
            Variant(
                f"scale.active-{n}",
                lambda n=n: _active(n),
                "scale.bare",
                group,
                note=f"{n} layers adding a header",
            )
        )
    for n in SIZES:
        out.append(
            Variant(
                f"scale.nested-{n}",
                lambda n=n: _nested(n),
                "scale.bare",
                group,
                note=f"{n} hand-written middlewares nested (for contrast)",
            )
        )
    return out
