"""CSRFProtect's token mode under ASGI: the form body is awaited, bounded, and replayed.

Through Starlette (httpx's ASGI transport) and at the message level (a hand-driven
``receive`` that counts, fails or disconnects), with Sessions' cookie store before it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from headerware.asgi import ASGIStack
from headerware.layers.csrf import CSRFProtect, csrf_token, csrf_verdict
from headerware.layers.sessions import Sessions

KEY = "k" * 32
BASE = "https://testserver"
Message = MutableMapping[str, Any]


class Calls:
    """How often the application ran (a refused request must not reach it)."""

    def __init__(self) -> None:
        self.count = 0


def make_app(calls: Calls) -> Starlette:
    async def form_page(request: Request) -> Response:
        token = csrf_token(request.scope)
        return HTMLResponse(f'<form><input name="csrf_token" value="{token}"></form>')

    async def form_post(request: Request) -> Response:
        calls.count += 1
        fields: dict[str, str] = {}
        async with request.form() as form:
            for name, value in form.multi_items():
                if isinstance(value, str):
                    fields[name] = value
                else:
                    fields[name] = (await value.read()).decode()
        return JSONResponse(fields)

    async def untouched(request: Request) -> Response:
        calls.count += 1  # answers without reading the body
        return PlainTextResponse("ok")

    async def echo(request: Request) -> Response:
        calls.count += 1
        return PlainTextResponse(await request.body())

    async def verdict(request: Request) -> Response:
        calls.count += 1
        return JSONResponse({"verdict": csrf_verdict(request.scope)})

    return Starlette(
        routes=[
            Route("/form", form_page, methods=["GET"]),
            Route("/form", form_post, methods=["POST"]),
            Route("/untouched", untouched, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]),
            Route("/verdict", verdict, methods=["POST"]),
        ]
    )


def stack(calls: Calls, **options: Any) -> ASGIStack:
    options.setdefault("mode", "token")
    layers = [Sessions(secret_keys=[KEY]), CSRFProtect(secret_keys=[KEY], **options)]
    return ASGIStack(layers, make_app(calls))


def client(app: ASGIStack) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE)


def form_token(html: str) -> str:
    match = re.search(r'value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.hw_fields["reason"]  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "hw_event", "") == "csrf_refused"
    ]


# -- through Starlette -----------------------------------------------------------------


def test_form_token_accepted_and_the_app_reads_the_same_form() -> None:
    calls = Calls()

    async def run() -> httpx.Response:
        async with client(stack(calls)) as c:
            token = form_token((await c.get("/form")).text)
            return await c.post("/form", data={"csrf_token": token, "theme": "dark"})

    response = asyncio.run(run())
    assert response.status_code == 200
    assert response.json()["theme"] == "dark"
    assert response.json()["csrf_token"]
    assert calls.count == 1


def test_multipart_token_accepted_and_the_upload_reaches_the_app() -> None:
    calls = Calls()

    async def run() -> httpx.Response:
        async with client(stack(calls)) as c:
            token = form_token((await c.get("/form")).text)
            return await c.post(
                "/form",
                data={"csrf_token": token},
                files={"file": ("a.txt", b"file-content", "text/plain")},
            )

    response = asyncio.run(run())
    assert response.status_code == 200
    assert response.json()["file"] == "file-content"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        pytest.param(lambda t: None, "token_missing", id="missing"),
        pytest.param(lambda t: "", "token_missing", id="empty"),
        pytest.param(
            lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"), "token_invalid", id="tampered"
        ),
        pytest.param(lambda t: "garbage", "token_invalid", id="garbage"),
    ],
)
def test_bad_form_tokens_are_refused_before_the_app(
    mutate: Callable[[str], str | None], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = Calls()

    async def run() -> httpx.Response:
        async with client(stack(calls)) as c:
            token = mutate(form_token((await c.get("/form")).text))
            data = {"theme": "dark"} if token is None else {"csrf_token": token, "theme": "dark"}
            return await c.post("/form", data=data)

    with caplog.at_level(logging.WARNING, logger="headerware"):
        response = asyncio.run(run())
    assert response.status_code == 403
    assert "CSRF token" in response.json()["error"]
    assert refusals(caplog) == [reason]
    assert calls.count == 0


def test_token_of_another_session_is_refused() -> None:
    calls = Calls()
    app = stack(calls)

    async def run() -> httpx.Response:
        async with client(app) as mallory, client(app) as alice:
            stolen = form_token((await mallory.get("/form")).text)
            await alice.get("/form")
            return await alice.post("/form", data={"csrf_token": stolen})

    assert asyncio.run(run()).status_code == 403
    assert calls.count == 0


def test_deferred_verdict_reaches_the_app_in_the_scope() -> None:
    calls = Calls()

    async def run() -> httpx.Response:
        async with client(stack(calls, defer_to_framework=True)) as c:
            await c.get("/form")
            return await c.post("/verdict", data={"theme": "dark"})

    response = asyncio.run(run())
    assert response.json() == {"verdict": "token_missing"}
    assert calls.count == 1


# -- at the message level --------------------------------------------------------------


class Receiver:
    """A ``receive`` that hands out the given messages and counts the body bytes taken.

    Past the messages it fails (``then="fail"``: the body must not be read that far)
    or reports a disconnect (``then="disconnect"``).
    """

    def __init__(self, messages: list[Message], then: str = "fail") -> None:
        self.messages = list(messages)
        self.then = then
        self.calls = 0
        self.bytes_taken = 0

    async def __call__(self) -> Message:
        self.calls += 1
        if self.messages:
            message = self.messages.pop(0)
            self.bytes_taken += len(message.get("body", b""))
            return message
        if self.then == "disconnect":
            return {"type": "http.disconnect"}
        raise AssertionError("receive() was called: the body was read")


def chunks(body: bytes, size: int) -> list[Message]:
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("192.0.2.1", 50000),
        "server": ("testserver", 443),
    }


async def call(
    app: Callable[[Any, Any, Any], Awaitable[None]],
    method: str,
    path: str,
    headers: dict[str, str],
    receive: Receiver,
) -> tuple[int, dict[str, str], bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope(method, path, {"host": "testserver", **headers}), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    got = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], got, body


async def session(app: ASGIStack) -> tuple[str, str]:
    """A session cookie and a form token for it (a GET of the form page)."""
    status, headers, body = await call(app, "GET", "/form", {}, Receiver(chunks(b"", 1)))
    assert status == 200
    return headers["set-cookie"].split(";", 1)[0], form_token(body.decode())


URLENCODED = {"content-type": "application/x-www-form-urlencoded"}


def post(
    app: ASGIStack, body: bytes, receive: Receiver | None = None, *, length: bool = True,
    headers: dict[str, str] | None = None, path: str = "/form", token_field: bool = True,
) -> tuple[int, dict[str, str], bytes, Receiver]:  # fmt: skip
    """POST ``body`` (``csrf_token=<token>&`` in front) with a fresh session."""

    async def run() -> tuple[int, dict[str, str], bytes, Receiver]:
        cookie, token = await session(app)
        data = (f"csrf_token={token}&".encode() if token_field else b"") + body
        got = receive if receive is not None else Receiver(chunks(data, 64))
        sent = {"cookie": cookie, **URLENCODED, **(headers or {})}
        if length:
            sent["content-length"] = str(len(data))
        status, response_headers, response_body = await call(app, "POST", path, sent, got)
        return status, response_headers, response_body, got

    return asyncio.run(run())


def test_chunked_body_within_the_limit_is_read_and_replayed() -> None:
    calls = Calls()
    status, _, body, _ = post(stack(calls), b"theme=dark&pad=" + b"x" * 300, length=False)
    assert status == 200
    assert b'"theme":"dark"' in body
    assert calls.count == 1


def test_declared_body_over_max_form_size_is_413_and_unread() -> None:
    calls = Calls()
    receive = Receiver([])  # any receive() call fails
    status, _, body, _ = post(
        stack(calls, max_form_size=100),
        b"pad=" + b"x" * 200,
        receive,
        headers={"content-length": "400"},
    )
    assert status == 413
    assert b"too large" in body
    assert receive.calls == 0
    assert calls.count == 0


def test_chunked_body_over_max_form_size_is_413_after_limit_plus_one_chunk() -> None:
    calls = Calls()
    receive = Receiver(chunks(b"x" * 10_000, 64))
    status, _, _, _ = post(stack(calls, max_form_size=100), b"", receive, length=False)
    assert status == 413
    assert 100 < receive.bytes_taken <= 100 + 64
    assert calls.count == 0


def test_report_only_replays_the_part_read_then_the_rest() -> None:
    calls = Calls()
    data = b"a=" + b"y" * 1000
    receive = Receiver(chunks(data, 64))
    status, _, body, _ = post(
        stack(calls, max_form_size=100, report_only=True),
        b"",
        receive,
        length=False,
        path="/echo",
    )
    assert status == 200
    assert body == data  # the application got every byte, in order
    assert calls.count == 1


def test_too_many_urlencoded_fields_is_413() -> None:
    calls = Calls()
    status, _, _, _ = post(stack(calls, max_form_fields=5), b"&".join([b"f=1"] * 10))
    assert status == 413
    assert calls.count == 0


def test_too_many_multipart_parts_is_413() -> None:
    calls = Calls()
    boundary = "b0undary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\n{i}\r\n'
        for i in range(10)
    )
    data = f"{parts}--{boundary}--\r\n".encode()
    status, _, _, _ = post(
        stack(calls, max_form_fields=5),
        data,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        token_field=False,
    )
    assert status == 413
    assert calls.count == 0


def test_header_token_never_reads_the_body() -> None:
    calls = Calls()
    app = stack(calls)

    async def run() -> tuple[int, Receiver]:
        cookie, token = await session(app)
        receive = Receiver([])  # the body is never read: any receive() fails
        headers = {"cookie": cookie, "x-csrf-token": token, **URLENCODED, "content-length": "9"}
        status, _, _ = await call(app, "POST", "/untouched", headers, receive)
        return status, receive

    status, receive = asyncio.run(run())
    assert status == 200
    assert receive.calls == 0
    assert calls.count == 1


def test_cross_site_request_is_refused_before_its_body_is_touched() -> None:
    calls = Calls()
    receive = Receiver([])
    status, _, _, _ = post(stack(calls), b"x=1", receive, headers={"sec-fetch-site": "cross-site"})
    assert status == 403
    assert receive.calls == 0
    assert calls.count == 0


def test_origin_mode_never_reads_a_body_and_stays_on_the_sync_path() -> None:
    calls = Calls()
    layer = CSRFProtect()
    assert layer.request_is_async is False
    assert CSRFProtect(mode="token", secret_keys=[KEY]).request_is_async is True
    app = ASGIStack([layer], make_app(calls))
    receive = Receiver([])
    headers = {**URLENCODED, "content-length": "3"}
    status, _, _ = asyncio.run(call(app, "POST", "/untouched", headers, receive))
    assert status == 200
    assert receive.calls == 0


def test_client_leaving_mid_body_is_a_clear_400(caplog: pytest.LogCaptureFixture) -> None:
    calls = Calls()
    receive = Receiver(
        [{"type": "http.request", "body": b"csrf_token=abc", "more_body": True}],
        then="disconnect",
    )
    with caplog.at_level(logging.WARNING, logger="headerware"):
        status, _, body, _ = post(
            stack(calls), b"", receive, headers={"content-length": "500"}, token_field=False
        )
    assert status == 400
    assert b"request body incomplete" in body
    assert refusals(caplog) == ["body_incomplete"]
    assert calls.count == 0


def test_chunked_client_leaving_mid_body_is_refused_without_a_crash() -> None:
    calls = Calls()
    receive = Receiver(
        [{"type": "http.request", "body": b"csrf_token=abc", "more_body": True}],
        then="disconnect",
    )
    status, _, _, _ = post(stack(calls), b"", receive, length=False, token_field=False)
    # Without a Content-Length a short body cannot be told from an oversized one.
    assert status == 413
    assert calls.count == 0
