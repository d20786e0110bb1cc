"""A WebTest-shaped client for an ASGI app, so WSGI test modules run on ASGI unchanged.

:class:`ASGITestApp` offers the part of ``webtest.TestApp`` the examples tests use
(``get``/``post``/``options``/``delete`` with ``headers``, ``status`` and
``expect_errors``; ``cookiejar``, ``set_cookie``, ``reset``) over httpx's ASGI
transport, on one event loop for the client's life. Its responses have WebTest's
``status_int``, ``text``, ``json``, ``headers``, ``headerlist`` and
``content_type``. Like ``TestApp(app, lint=True)`` it checks what the application
sends: every response's messages go through :func:`tests.asgi_contract.check_messages`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping
from http.cookiejar import Cookie
from types import SimpleNamespace
from typing import Any

import httpx

from tests.asgi_contract import ASGIApp, Message, Receive, Scope, Send, check_messages


def checked(app: ASGIApp) -> ASGIApp:
    """``app``, with the messages of every HTTP response checked against ASGI 3."""

    async def lint(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        sent: list[Message] = []

        async def record(message: Message) -> None:
            sent.append(message)
            await send(message)

        await app(scope, receive, record)
        check_messages(sent)

    return lint


class TestResponse:
    """An httpx response with the attributes WebTest's ``TestResponse`` has."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_int = self.status_code = response.status_code
        self.status = f"{response.status_code} {response.reason_phrase}"
        self.headers = response.headers
        #: Names as the application sent them: ASGI's are lower case.
        self.headerlist = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw
        ]
        self.body = response.content
        self.text = response.text
        self.content_type = response.headers.get("content-type", "").split(";", 1)[0].strip()
        # headerware.testing reads the request's scheme (HSTS only on HTTPS).
        self.request = SimpleNamespace(scheme=response.request.url.scheme)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ASGITestApp:
    """``webtest.TestApp`` for an ASGI app: requests to ``http://localhost``."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, app: ASGIApp, *, lint: bool = True) -> None:
        self._runner = asyncio.Runner()
        transport = httpx.ASGITransport(app=checked(app) if lint else app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://localhost")

    def close(self) -> None:
        self._runner.run(self._client.aclose())
        self._runner.close()

    # --- cookies ---------------------------------------------------------------------

    @property
    def cookiejar(self) -> Iterator[Cookie]:
        return iter(self._client.cookies.jar)

    def set_cookie(self, name: str, value: str) -> None:
        self._client.cookies.set(name, value)

    def reset(self) -> None:
        self._client.cookies.clear()

    # --- requests --------------------------------------------------------------------

    def request(
        self,
        url: str,
        method: str = "GET",
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        data: Mapping[str, str] | None = None,
        status: int | None = None,
        expect_errors: bool = False,
    ) -> TestResponse:
        """One request, as ``TestApp.request``; ``data`` is a form to urlencode."""
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        call = self._client.request(method, url, content=body, data=data, headers=sent)
        response = TestResponse(self._runner.run(call))
        code = response.status_int
        if status is not None:
            assert code == status, f"{method} {url}: {code}, expected {status}\n{response.text}"
        elif not expect_errors:
            assert 200 <= code < 400, f"{method} {url}: bad response {code}\n{response.text}"
        return response

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request(url, "GET", **kwargs)

    def post(
        self, url: str, params: Mapping[str, str] | None = None, **kwargs: Any
    ) -> TestResponse:
        return self.request(url, "POST", data=params, **kwargs)

    def options(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request(url, "OPTIONS", **kwargs)

    def delete(self, url: str, **kwargs: Any) -> TestResponse:
        return self.request(url, "DELETE", **kwargs)
