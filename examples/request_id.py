"""A custom headerware layer: a request id for every request and its response."""

from __future__ import annotations

import secrets
from typing import Any

from headerware import Context, Layer, OptionError, Response, ResponseHead
from headerware.options import text


class RequestId(Layer):
    """Give each request an id: published for the app, echoed in a response header."""

    name = "request_id"

    def __init__(self, app: Any = None, *, header: str = "X-Request-Id") -> None:
        super().__init__(app)
        self.header = text("header", header)
        if not self.header.replace("-", "").isalnum():
            raise OptionError("header", header, "is not a header name", "e.g. 'X-Request-Id'")

    def on_request(self, ctx: Context) -> Response | None:
        ctx.state["request_id"] = request_id = secrets.token_hex(8)
        ctx.publish("example.request_id", request_id)
        return None

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        response.set(self.header, ctx.state["request_id"])
