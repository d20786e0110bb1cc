"""Faults under a real gunicorn: Redis stopped mid-load and restarted, SQLite locked,
layers and callbacks that raise. Session routes degrade to a clear 503, everything else
keeps serving, nothing stored is lost, no worker dies, and every wait is bounded.

The app is tests/load/app.py: only ``/count`` runs the Sessions layer, so a store that
is down costs the session routes only. The Redis here is a private redis-server on a
free port (stopping the shared CI one would break the other Redis tests).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.load.harness import (
    Client,
    Reply,
    Server,
    booted_workers,
    finish_wrk,
    gunicorn,
    redis_server,
    start_wrk,
    wait_for,
)

UNAVAILABLE = "The session service is temporarily unavailable; please retry shortly."
#: Store waits in the app under test (HW_LOAD_TIMEOUT): short, so the tests stay fast.
STORE_TIMEOUT = 0.5


def assert_security_headers(reply: Reply) -> None:
    """The outer layers' headers are on the response (a sample of the full set)."""
    headers = reply.headers
    assert headers.get("X-Frame-Options") == "DENY", dict(headers)
    assert headers.get("X-Content-Type-Options") == "nosniff", dict(headers)
    assert headers.get("Content-Security-Policy"), dict(headers)
    assert headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", dict(headers)


def assert_unavailable(reply: Reply) -> None:
    """The session layer's 503: a JSON message, Retry-After, no-store, security headers."""
    assert reply.status == 503, (reply.status, reply.body)
    assert json.loads(reply.body) == {"error": UNAVAILABLE}
    assert reply.headers.get("Retry-After") == "5"
    assert reply.headers.get("Cache-Control") == "no-store"
    assert reply.headers.get_all("Set-Cookie") is None  # the client keeps its session
    assert_security_headers(reply)


def count(client: Client) -> int:
    reply = client.get("/count")
    assert reply.status == 200, (reply.status, reply.body)
    return int(reply.body)


# -- Redis stopped in the middle of a load run ------------------------------------------


@pytest.mark.redis
def test_redis_stopped_mid_load_then_back(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    with (
        redis_server(tmp_path) as redis,
        gunicorn(
            tmp_path, {"HW_LOAD_STORE": redis.url, "HW_LOAD_TIMEOUT": str(STORE_TIMEOUT)}
        ) as server,
    ):
        alice = server.client()
        assert [count(alice) for _ in range(3)] == [1, 2, 3]

        seconds = 6
        sessions_load = start_wrk(
            server.port, ["/count"], seconds=seconds, connections=4, threads=1
        )
        other_load = start_wrk(
            server.port, ["/", "/page", "/api/data"], seconds=seconds, connections=4, threads=1
        )
        try:
            time.sleep(1.5)
            redis.stop(save=True)  # SHUTDOWN SAVE: what was stored must come back
            down_at = time.monotonic()

            with_cookie = alice.get("/count")
            assert_unavailable(with_cookie)
            assert with_cookie.seconds < STORE_TIMEOUT + 1.5  # bounded, never hung
            assert_unavailable(server.client().get("/count"))  # a new session too
            for path in ("/", "/page", "/api/data"):
                assert server.client().get(path).status == 200, path

            time.sleep(max(0.0, 1.5 - (time.monotonic() - down_at)))
            redis.start()
            # Back without restarting gunicorn: the same session, nothing lost.
            replies: list[Reply] = []

            def recovered() -> bool:
                replies.append(alice.get("/count"))
                return replies[-1].status == 200

            wait_for(recovered, 5, "the session route to recover")
            assert int(replies[-1].body) == 4
            assert count(alice) == 5
        finally:
            try:
                sessions = finish_wrk(sessions_load, seconds)
            finally:
                others = finish_wrk(other_load, seconds)

        print(
            f"\nRedis down mid-load: /count {sessions.statuses} ({sessions.rps:.0f} req/s); "
            f"other routes {others.statuses} ({others.rps:.0f} req/s)"
        )
        record_property("session_route_statuses", sessions.statuses)
        record_property("other_route_statuses", others.statuses)
        # The rest kept serving: not one failure on the routes without sessions.
        assert others.errors == 0 and others.statuses == {200: others.requests}, others.output
        # The session route: 200 before and after, a clean 503 while down, nothing else.
        assert set(sessions.statuses) == {200, 503}, sessions.output
        assert sessions.statuses[200] > 0 and sessions.statuses[503] > 0
        assert sessions.timeouts == 0 and sessions.connect_errors == 0, sessions.output

        log = server.log_text()
        assert "session_store_unavailable" in log
        assert "Traceback" not in log
        assert booted_workers(server) == 2  # no worker died or was restarted


@pytest.mark.redis
def test_redis_unresponsive_is_a_bounded_wait_then_503(tmp_path: Path) -> None:
    """A Redis that accepts but never answers (SIGSTOP): the socket timeout bounds it."""
    with (
        redis_server(tmp_path) as redis,
        gunicorn(
            tmp_path, {"HW_LOAD_STORE": redis.url, "HW_LOAD_TIMEOUT": str(STORE_TIMEOUT)}
        ) as server,
    ):
        alice = server.client()
        assert [count(alice) for _ in range(2)] == [1, 2]
        with redis.frozen():
            for client in (alice, server.client()):
                reply = client.get("/count")
                assert_unavailable(reply)
                assert STORE_TIMEOUT - 0.1 <= reply.seconds < STORE_TIMEOUT + 1.5, reply.seconds
            plain = server.client().get("/page")
            assert plain.status == 200 and plain.seconds < STORE_TIMEOUT
        assert count(alice) == 3  # answering again: same session, nothing lost
        log = server.log_text()
        assert "TimeoutError" in log and "Traceback" not in log
        assert booted_workers(server) == 2


# -- SQLite busy ------------------------------------------------------------------------


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    database = tmp_path / "sessions.db"
    env = {"HW_LOAD_STORE": f"sqlite:{database}", "HW_LOAD_TIMEOUT": str(STORE_TIMEOUT)}
    with gunicorn(tmp_path, env) as server:
        yield server, database


def test_sqlite_locked_is_a_bounded_wait_then_503(sqlite_server: tuple[Server, Path]) -> None:
    server, database = sqlite_server
    alice = server.client()
    assert [count(alice) for _ in range(2)] == [1, 2]

    blocker = sqlite3.connect(database, isolation_level=None, timeout=5)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        locked = alice.get("/count")
        assert_unavailable(locked)
        # The store's busy timeout, then the answer: bounded, not a hung worker.
        assert STORE_TIMEOUT - 0.1 <= locked.seconds < STORE_TIMEOUT + 1.5, locked.seconds
        assert_unavailable(server.client().get("/count"))
        plain = server.client().get("/")
        assert plain.status == 200 and plain.seconds < STORE_TIMEOUT
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    # Released: the same session continues where it was (the refused write was not made).
    assert count(alice) == 3
    log = server.log_text()
    assert "session_store_unavailable" in log and "database is locked" in log
    assert "Traceback" not in log
    assert booted_workers(server) == 2


# -- layers and callbacks that raise ----------------------------------------------------


@pytest.fixture(scope="module")
def cookie_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with gunicorn(tmp_path_factory.mktemp("faults"), {"HW_LOAD_STORE": "cookie"}) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "status", "logged"),
    [
        pytest.param(
            "/boom/request",
            500,
            ["headerware layer boom failed on the request", "layer bug in on_request"],
            id="layer-on_request",
        ),
        pytest.param(
            "/boom/callback",
            200,  # ResponseHeaders documents it: the value is dropped, the rest goes out
            ["response_header_dropped", "header='X-Request-Tag'", "callable raised"],
            id="response-headers-callable",
        ),
        pytest.param(
            "/boom/response",
            500,  # the engine answers 500 with the other layers' headers, and logs
            ["headerware layer boom failed on the response", "layer bug in on_response"],
            id="layer-on_response",
        ),
        pytest.param(
            "/boom/app",
            500,  # raised before start_response: the engine answers 500, and logs
            ["the application raised before starting its response", "application bug"],
            id="application",
        ),
    ],
)
def test_raising_code_is_logged_and_the_worker_survives(
    cookie_server: Server, path: str, status: int, logged: list[str]
) -> None:
    reply = cookie_server.client().get(path)
    assert reply.status == status, (reply.status, reply.body)
    if status == 200:
        assert reply.body == b"ok"
        assert reply.headers.get("X-Request-Tag") is None  # dropped, not sent half-made
    wait_for(
        lambda: all(text in cookie_server.log_text() for text in logged),
        5,
        f"the log lines {logged}",
    )
    # The same workers keep serving: nothing crashed or was restarted.
    for _ in range(4):
        after = cookie_server.client().get("/")
        assert after.status == 200 and after.headers.get("X-Request-Tag") == "tagged"
    assert booted_workers(cookie_server) == 2


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/boom/request", id="layer-on_request"),
        pytest.param("/boom/callback", id="response-headers-callable"),
        pytest.param("/boom/response", id="layer-on_response"),
        pytest.param("/boom/app", id="application"),
    ],
)
def test_security_headers_on_the_error_response(cookie_server: Server, path: str) -> None:
    """Where nothing was sent yet, the answer to a failure still has the security headers."""
    assert_security_headers(cookie_server.client().get(path))
