"""The CSP report receiver under ASGI: the body is awaited with the same limits, the
store is written off the event loop, and every refusal matches the WSGI receiver's."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from headerware.asgi import ASGIStack
from headerware.csp_store import Violation, read_violations
from headerware.layers.csp import ContentSecurityPolicy

REPORT_PATH = "/_headerware/csp-report"
L2 = "application/csp-report"
RJ = "application/reports+json"
Message = MutableMapping[str, Any]


class App:
    """An ASGI application that counts its calls (the receiver answers by itself)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Receiver:
    """A ``receive`` handing out ``messages``; past them it fails or disconnects."""

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


def chunks(body: bytes, size: int = 1024) -> list[Message]:
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def receiver(tmp_path: Path, **options: Any) -> tuple[ASGIStack, App, str]:
    db = str(tmp_path / "reports.sqlite3")
    options.setdefault("report_db", db)
    app = App()
    return ASGIStack([ContentSecurityPolicy(report_path=REPORT_PATH, **options)], app), app, db


async def _call(
    stack: ASGIStack, method: str, path: str, headers: dict[str, str], receive: Receiver, ip: str
) -> tuple[int, dict[str, str], bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in {"host": "site", **headers}.items()],
        "client": (f"192.0.2.{ip}", 50000),
        "server": ("site", 443),
    }
    await stack(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    got = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], got, body


def post(
    stack: ASGIStack, body: str | bytes, ctype: str = L2, *, ip: str = "1",
    receive: Receiver | None = None, headers: dict[str, str] | None = None,
    length: bool = True, method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    data = body.encode() if isinstance(body, str) else body
    sent = {"content-type": ctype, **(headers or {})}
    if length:
        sent.setdefault("content-length", str(len(data)))
    got = receive if receive is not None else Receiver(chunks(data))
    return asyncio.run(_call(stack, method, REPORT_PATH, sent, got, ip))


def level2(blocked: str, directive: str = "script-src-elem", doc: str = "https://site/p") -> str:
    report = {"document-uri": doc, "blocked-uri": blocked, "effective-directive": directive,
              "disposition": "report"}  # fmt: skip
    return json.dumps({"csp-report": report})


def reports_json(blocked: str) -> str:
    body = {"documentURL": "https://site/q?token=secret", "blockedURL": blocked,
            "effectiveDirective": "img-src", "disposition": "enforce"}  # fmt: skip
    return json.dumps([{"type": "csp-violation", "body": body}, {"type": "deprecation"}])


def rows(db: str) -> list[tuple[str, str, str, str, int]]:
    return [
        (v.directive, v.blocked, v.document, v.disposition, v.count) for v in read_violations(db)
    ]


def test_level2_report_is_stored(tmp_path: Path) -> None:
    stack, app, db = receiver(tmp_path)
    status, _, _ = post(stack, level2("https://cdn.example/a.js?x=1"))
    assert status == 204
    assert rows(db) == [("script-src-elem", "https://cdn.example", "https://site/p", "report", 1)]
    assert app.calls == 0


def test_reports_json_is_stored_without_the_query(tmp_path: Path) -> None:
    stack, _, db = receiver(tmp_path)
    assert post(stack, reports_json("https://img.example/x.png"), RJ)[0] == 204
    assert rows(db) == [("img-src", "https://img.example", "https://site/q", "enforce", 1)]


def test_a_callable_sink_is_called_off_the_event_loop(tmp_path: Path) -> None:
    seen: list[tuple[list[Violation], int]] = []

    def sink(violations: list[Violation]) -> None:
        seen.append((violations, threading.get_ident()))

    stack, _, _ = receiver(tmp_path, report_store=sink)
    assert post(stack, level2("https://cdn.example/a.js"))[0] == 204
    ((violations, thread),) = seen
    assert [v.blocked for v in violations] == ["https://cdn.example"]
    assert thread != threading.get_ident()  # asyncio.run runs the loop on this thread


def test_log_store_logs_each_violation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stack, _, db = receiver(tmp_path, report_store="log")
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert post(stack, level2("https://cdn.example/a.js"))[0] == 204
    events = [r for r in caplog.records if getattr(r, "hw_event", "") == "csp_violation_seen"]
    assert [r.hw_fields["blocked"] for r in events] == ["https://cdn.example"]  # type: ignore[attr-defined]
    assert not Path(db).exists()


def test_huge_declared_body_is_413_and_never_read(tmp_path: Path) -> None:
    stack, _, db = receiver(tmp_path)
    receive = Receiver([])  # any receive() call fails
    status, _, body = post(
        stack, b"", receive=receive, headers={"content-length": str(64 * 1024 + 1)}
    )
    assert status == 413
    assert b"at most 65536" in body
    assert receive.calls == 0
    assert rows(db) == []


def test_body_longer_than_announced_is_read_to_the_limit_and_refused(tmp_path: Path) -> None:
    stack, _, db = receiver(tmp_path)
    receive = Receiver(chunks(b"x" * 1_000_000, 4096))
    status, _, _ = post(stack, b"", receive=receive, headers={"content-length": "100"})
    assert status == 400
    assert receive.bytes_taken <= 64 * 1024 + 4096  # the limit plus one chunk
    assert rows(db) == []


def test_chunked_body_is_411_and_never_read(tmp_path: Path) -> None:
    stack, _, _ = receiver(tmp_path)
    receive = Receiver([])
    status, _, _ = post(stack, b"", receive=receive, length=False)
    assert status == 411
    assert receive.calls == 0


@pytest.mark.parametrize(
    ("method", "ctype", "status"),
    [
        pytest.param("GET", L2, 405, id="get"),
        pytest.param("POST", "application/json", 415, id="json"),
    ],
)
def test_other_requests_are_refused_unread(
    tmp_path: Path, method: str, ctype: str, status: int
) -> None:
    stack, _, _ = receiver(tmp_path)
    receive = Receiver([])
    headers = {"content-length": "10"}
    got, _, _ = post(stack, b"", ctype, receive=receive, method=method, headers=headers)
    assert got == status
    assert receive.calls == 0


def test_malformed_json_is_400_and_stores_nothing(tmp_path: Path) -> None:
    stack, _, db = receiver(tmp_path)
    assert post(stack, "{not json")[0] == 400
    assert post(stack, b"[" * 5000 + b"]" * 5000)[0] == 400
    assert post(stack, '[{"type": "csp-violation", "body": 3}]', RJ)[0] == 400
    assert rows(db) == []


def test_flood_from_one_client_is_429_and_storage_unchanged(tmp_path: Path) -> None:
    stack, _, db = receiver(tmp_path, report_limits={"per_minute": 5})
    for _ in range(5):
        assert post(stack, level2("https://cdn.example/a.js"))[0] == 204
    before = rows(db)
    assert before[0][-1] == 5
    for _ in range(20):
        status, headers, _ = post(stack, level2("https://other.example/a.js"))
        assert status == 429
        assert headers["retry-after"] == "60"
    assert rows(db) == before
    assert post(stack, level2("https://other.example/a.js"), ip="2")[0] == 204
    assert len(rows(db)) == 2


def test_client_leaving_mid_body_is_400_without_a_crash(tmp_path: Path) -> None:
    stack, _, db = receiver(tmp_path)
    receive = Receiver([{"type": "http.request", "body": b'{"csp-', "more_body": True}],
                       then="disconnect")  # fmt: skip
    status, _, body = post(stack, b"", receive=receive, headers={"content-length": "500"})
    assert status == 400
    assert b"shorter than announced" in body
    assert rows(db) == []


def test_log_injection_is_escaped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stack, _, db = receiver(tmp_path)
    evil = "https://site/p\n2026-01-01 CRITICAL admin logged in\r\x1b[2J\u2028"
    body = json.dumps(
        {"csp-report": {"document-uri": evil, "blocked-uri": "bad\nuri",
                        "effective-directive": "img-src\nforged", "script-sample": "\x00\x07"}}
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert post(stack, body)[0] == 204
    violations = [r for r in caplog.records if getattr(r, "hw_event", "") == "csp_violation"]
    assert len(violations) == 1
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message and "\x1b" not in message
        for value in getattr(record, "hw_fields", {}).values():
            assert str(value).isprintable()
    (stored,) = read_violations(db)
    assert stored.directive == "img-src"
    assert "\\x0a2026-01-01 CRITICAL" in stored.document


def test_other_paths_reach_the_app_with_their_body_unread(tmp_path: Path) -> None:
    stack, app, _ = receiver(tmp_path)
    receive = Receiver([])
    headers = {"content-type": L2, "content-length": "10"}
    status, _, _ = asyncio.run(_call(stack, "POST", "/elsewhere", headers, receive, "1"))
    assert status == 200
    assert app.calls == 1
    assert receive.calls == 0


def test_only_a_layer_with_a_receiver_leaves_the_sync_path() -> None:
    assert ContentSecurityPolicy().request_is_async is False
    assert ContentSecurityPolicy(report_path=REPORT_PATH, report_store="none").request_is_async


def test_through_starlette_and_httpx(tmp_path: Path) -> None:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    db = str(tmp_path / "reports.sqlite3")
    layer = ContentSecurityPolicy(report_path=REPORT_PATH, report_db=db)
    stack = ASGIStack([layer], Starlette(routes=[Route("/", home)]))

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=stack, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://site") as c:
            page = await c.get("/")
            assert page.text == "home"
            assert "report-to csp-endpoint" in page.headers["content-security-policy"]
            sent = await c.post(
                REPORT_PATH,
                content=level2("https://cdn.example/a.js"),
                headers={"content-type": L2},
            )
            huge = await c.post(REPORT_PATH, content=b"x" * 70_000, headers={"content-type": L2})
            return [page.status_code, sent.status_code, huge.status_code]

    assert asyncio.run(run()) == [200, 204, 413]
    assert rows(db) == [("script-src-elem", "https://cdn.example", "https://site/p", "report", 1)]
