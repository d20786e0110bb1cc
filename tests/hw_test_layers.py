"""Small layers for testing configuration machinery independently of the real layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from headerware import Context, Layer, OptionError, Response, ResponseHead
from headerware._log import security_event


class Banner(Layer):
    """Adds ``X-Banner``; options of every kind the schema must understand."""

    name: ClassVar[str] = "banner"

    def __init__(
        self,
        app: Any = None,
        *,
        text: str = "hi",
        count: int = 1,
        ratio: float = 0.5,
        loud: bool = False,
        tags: list[str] | None = None,
        pair: tuple[int, int] = (1, 2),
        mode: Literal["plain", "fancy"] = "plain",
        limit: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(app)
        if count < 0:
            raise OptionError("count", count, f"{count!r} must be 0 or more", "e.g. count = 1")
        if loud and mode == "plain":
            raise ValueError("loud=True needs mode='fancy'; set both or neither")
        self.text = text
        self.count = count
        self.ratio = ratio
        self.loud = loud
        self.tags = list(tags or [])
        self.pair = pair
        self.mode = mode
        self.limit = limit
        self.extra = dict(extra or {})
        self._value = text.upper() if loud else text

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.add("X-Banner", self._value)

    def describe(self) -> dict[str, Any]:
        return {"text": self.text, "count": self.count, "mode": self.mode, "tags": self.tags}


class Gate(Layer):
    """An enforcing layer: refuses requests carrying ``X-Block`` (logs in report-only)."""

    name: ClassVar[str] = "gate"

    def __init__(self, app: Any = None, *, status: int = 403, report_only: bool = False) -> None:
        super().__init__(app)
        self.status = status
        self.report_only = report_only

    def on_request(self, ctx: Context) -> Response | None:
        if ctx.header("x-block") is None:
            return None
        security_event("gate_refused", path=ctx.path, report_only=self.report_only)
        if self.report_only:
            return None
        return Response.text(f"{self.status} Refused", "refused")

    def describe(self) -> dict[str, Any]:
        return {"status": self.status, "report_only": self.report_only}


class Secretive(Layer):
    """Needs a secret (a required option), for environment-variable tests."""

    name: ClassVar[str] = "secretive"

    def __init__(
        self, app: Any = None, *, keys: list[str], hook: Callable[[str], str] | None = None
    ) -> None:
        super().__init__(app)
        if any(len(key) < 4 for key in keys):
            raise OptionError("keys", keys, "a key is too short", "use at least 4 characters")
        self.keys = keys
        self.hook = hook

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.add("X-Keys", str(len(self.keys)))


def sample_hook(value: str) -> str:
    """A callable referenced from configuration."""
    return value


TEST_LAYERS = {
    "banner": "tests.hw_test_layers:Banner",
    "gate": "tests.hw_test_layers:Gate",
    "secretive": "tests.hw_test_layers:Secretive",
}


def hello_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A bare WSGI app for deployment tests: echoes the scheme it was served with."""
    body = f"hello {environ['wsgi.url_scheme']}".encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("Set-Cookie", "a=b")],
    )
    return [body]
