"""Sessions under ASGI: the same layer and store objects as under WSGI, the stores
awaited (redis-py's asyncio client, SQLite in worker threads), the same outage
behaviour (503, recovery, nothing lost) and no blocking store call on the event loop.

Every test drives a Starlette app through httpx's ASGI transport inside
``asyncio.run``; Redis tests use the shared test server (``HEADERWARE_TEST_REDIS_URL``)
or, to stop and restart one, a private redis-server (tests/load/harness.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sqlite3
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import webtest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from headerware.asgi import ASGIStack
from headerware.config import StackFactory
from headerware.crypto import CookieSigner
from headerware.layers.sessions import Sessions, get_session
from headerware.options import OptionError
from headerware.stack import Stack
from headerware.stores import CookieStore, Loaded, ServerStore, storage_key
from headerware.stores.redis import RedisStore
from headerware.stores.sqlite import SQLiteStore
from tests.test_session_stores import (
    KEY,
    Failing,
    closed_port,
    events,
    redis_url,
    signed_id,
)

UNAVAILABLE = "The session service is temporarily unavailable; please retry shortly."


async def _nothing() -> None:
    return None


class Site:
    """A Starlette app behind ``Sessions`` in an :class:`ASGIStack`; ``/slow*`` await
    ``during()`` between loading the session and changing it (a second request, a
    revocation: real interleaving on the loop)."""

    def __init__(self, store: CookieStore | ServerStore, **options: Any) -> None:
        self.store = store
        self.layer = Sessions(store=store, secret_keys=[KEY], **options)
        self.during: Callable[[], Awaitable[Any]] = _nothing
        self.app_calls = 0
        self.stack = ASGIStack([self.layer], Starlette(routes=[Route("/{path:path}", self.handle)]))
        self.clients: list[httpx.AsyncClient] = []
        self.client = self.new_client()

    async def handle(self, request: Request) -> Response:
        self.app_calls += 1
        session = get_session(request.scope)
        path = request.url.path
        if path == "/static":
            return PlainTextResponse("static", headers={"X-App": "1"})
        if path.startswith("/login"):
            session.regenerate()
            session["user_id"] = int(path.removeprefix("/login").strip("/") or 42)
        elif path == "/logout":
            session.clear()
        elif path == "/theme":
            session["theme"] = "dark"
        elif path == "/count":
            session["n"] = int(session.get("n", 0)) + 1
            return PlainTextResponse(str(session["n"]))
        elif path == "/slow":
            session.get("user_id")
            await self.during()
            session["cart"] = "late"
        elif path == "/slow-regenerate":
            session.get("user_id")
            await self.during()
            session.regenerate()
        elif path == "/stream":
            session["x"] = 1

            async def chunks() -> Any:
                yield b"secret "
                yield b"stream"

            return StreamingResponse(chunks(), media_type="text/plain")
        elif path == "/id":
            return PlainTextResponse(str(session.id))
        body = f"user {session.get('user_id')} cart {session.get('cart')}"
        return PlainTextResponse(body, headers={"X-App": "1"})

    def new_client(self, cookie: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.stack, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        if cookie is not None:
            client.cookies.set("session", cookie, domain="testserver.local")
        self.clients.append(client)
        return client

    async def get(
        self, path: str, client: httpx.AsyncClient | None = None, **kw: Any
    ) -> httpx.Response:
        return await (client or self.client).get(path, **kw)

    def cookie(self) -> str:
        return self.client.cookies.get("session") or ""

    async def other(self, path: str) -> httpx.Response:
        """A second request with this client's cookie, made while a first one runs."""
        return await self.get(path, self.new_client(self.cookie()))

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
        if isinstance(self.store, RedisStore):
            await self.store.aclose()


def play(site: Site, scenario: Callable[[Site], Awaitable[None]]) -> None:
    """Run ``scenario`` on ``site`` in a fresh event loop, closing what it opened."""

    async def main() -> None:
        try:
            await scenario(site)
        finally:
            await site.aclose()

    asyncio.run(main())


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ServerStore:
    if request.param == "sqlite":
        return SQLiteStore(tmp_path / "sessions.db")
    return RedisStore(redis_url(), prefix=f"hw-test:{uuid.uuid4().hex}:")


def set_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("session="):
            return header
    return None


# -- load, save, rotate, revoke, revoke_user --------------------------------------------


class TestServerSideUnderASGI:
    def test_login_then_the_session_is_loaded_from_the_store(self, store: ServerStore) -> None:
        async def scenario(site: Site) -> None:
            login = await site.get("/login")
            header = set_cookie(login)
            assert header is not None and "HttpOnly" in header
            value = site.cookie()
            session_id = CookieSigner([KEY], "headerware.session.id").unsign(value)
            assert session_id is not None and value.startswith(session_id + ".")
            stored = await store.aget(storage_key(session_id))
            assert stored is not None and json.loads(stored)["d"] == {"user_id": 42}
            dashboard = await site.get("/dashboard")
            assert dashboard.text == "user 42 cart None"
            assert "cookie" in dashboard.headers["vary"].lower()

        play(Site(store), scenario)

    def test_regenerate_rotates_the_id_and_drops_the_old_record(self, store: ServerStore) -> None:
        async def scenario(site: Site) -> None:
            await site.get("/login")
            old = (await site.get("/id")).text
            await site.get("/login")
            new = (await site.get("/id")).text
            assert old != new
            assert await store.aload(storage_key(old)) is None
            assert await store.aload(storage_key(new)) is not None

        play(Site(store), scenario)

    def test_logout_deletes_record_and_cookie(self, store: ServerStore) -> None:
        async def scenario(site: Site) -> None:
            await site.get("/login")
            session_id = (await site.get("/id")).text
            response = await site.get("/logout")
            assert "Max-Age=0" in (set_cookie(response) or "")
            assert await store.aload(storage_key(session_id)) is None

        play(Site(store), scenario)

    def test_arevoke_ends_the_session(self, store: ServerStore, caplog: Any) -> None:
        async def scenario(site: Site) -> None:
            await site.get("/login")
            session_id = (await site.get("/id")).text
            await site.layer.arevoke(session_id)
            with caplog.at_level(logging.INFO, logger="headerware"):
                response = await site.get("/dashboard")
            assert response.text == "user None cart None"
            assert "Max-Age=0" in (set_cookie(response) or "")
            assert events(caplog, "session_expired")

        play(Site(store), scenario)

    def test_arevoke_user_ends_every_session_of_that_user_only(self, store: ServerStore) -> None:
        async def scenario(site: Site) -> None:
            phone, laptop, other = site.new_client(), site.new_client(), site.new_client()
            await site.get("/login/42", phone)
            await site.get("/login/42", laptop)
            await site.get("/login/7", other)
            assert await site.layer.arevoke_user("42") == 2
            assert (await site.get("/dashboard", phone)).text == "user None cart None"
            assert (await site.get("/dashboard", laptop)).text == "user None cart None"
            assert (await site.get("/dashboard", other)).text == "user 7 cart None"
            assert await site.layer.arevoke_user(42) == 0

        play(Site(store), scenario)

    def test_many_concurrent_requests(self, store: ServerStore) -> None:
        """Forty sessions written and read at once (worker threads for SQLite, one
        asyncio client for Redis): every one is its own."""

        async def scenario(site: Site) -> None:
            clients = [site.new_client() for _ in range(40)]
            await asyncio.gather(
                *(site.get(f"/login/{n}", c) for n, c in enumerate(clients, start=1))
            )
            replies = await asyncio.gather(*(site.get("/dashboard", c) for c in clients))
            assert [r.text for r in replies] == [f"user {n} cart None" for n in range(1, 41)]

        play(Site(store), scenario)

    def test_one_layer_object_serves_wsgi_and_asgi(self, store: ServerStore) -> None:
        """The same Sessions (and store) object in a WSGI Stack and an ASGIStack: a
        session written by one adapter is read by the other."""

        def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            session = get_session(environ)
            if environ["PATH_INFO"] == "/login":
                session.regenerate()
                session["user_id"] = 42
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"user {session.get('user_id')}".encode()]

        site = Site(store)
        wsgi = webtest.TestApp(Stack([site.layer], wsgi_app), lint=True)
        wsgi.get("/login")

        async def scenario(site: Site) -> None:
            client = site.new_client(wsgi.cookies["session"])
            assert (await site.get("/dashboard", client)).text == "user 42 cart None"
            await site.get("/login/7", client)
            response = wsgi.get("/", headers={"Cookie": f"session={client.cookies['session']}"})
            assert response.text == "user 7"

        play(site, scenario)


def test_toml_store_serves_both_adapters(tmp_path: Path) -> None:
    """``[sessions] store = {use = ...}`` builds one SQLiteStore; WSGI and ASGI share it."""
    factory = StackFactory(
        {
            "sessions": {
                "secret_keys": [KEY],
                "store": {
                    "use": "headerware.stores.sqlite:SQLiteStore",
                    "path": str(tmp_path / "s.db"),
                },
            }
        }
    )
    [layer] = factory.layers
    assert isinstance(layer, Sessions) and isinstance(layer.store, SQLiteStore)
    assert layer.request_is_async and layer.response_is_async
    site = Site(layer.store)

    async def scenario(site: Site) -> None:
        transport = httpx.ASGITransport(app=factory.asgi(site.stack.app))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await c.get("/login")
            assert (await c.get("/dashboard")).text == "user 42 cart None"

    play(site, scenario)


class TestAsyncStoreOperations:
    """The awaitable twins keep the sync methods' guarantees (compare-and-set)."""

    def test_conditional_saves_and_deletes(self, store: ServerStore) -> None:
        async def scenario() -> None:
            key = storage_key(uuid.uuid4().hex)
            assert await store.asave(key, '{"v":1}', 60, user_id="42")
            assert not await store.asave(key, '{"v":2}', 60)  # a new session never overwrites
            loaded = await store.aload(key)
            assert loaded is not None and loaded.text == '{"v":1}'
            assert await store.asave(key, '{"v":3}', 60, expected=loaded.version)
            assert not await store.asave(key, '{"v":4}', 60, expected=loaded.version)
            assert not await store.adelete_loaded(key, loaded.version)  # rewritten since
            current = await store.aload(key)
            assert current is not None and current.text == '{"v":3}'
            assert await store.adelete_loaded(key, current.version)
            assert await store.aget(key) is None
            await store.aset(key, '{"v":5}', None)
            assert await store.aget(key) == '{"v":5}'
            await store.adelete(key)
            assert await store.aload(key) is None
            assert await store.arevoke_user(42) == 0  # its one session was deleted above
            if isinstance(store, RedisStore):
                await store.aclose()

        asyncio.run(scenario())

    def test_arevoke_user_refuses_a_non_user_id(self, store: ServerStore) -> None:
        async def scenario() -> None:
            try:
                with pytest.raises(ValueError, match="not a user id"):
                    await store.arevoke_user(True)
            finally:
                if isinstance(store, RedisStore):
                    await store.aclose()

        asyncio.run(scenario())


# -- a request in flight cannot bring a revoked session back (conditional saves) ------


async def _revoke(site: Site, session_id: str) -> None:
    await site.layer.arevoke(session_id)


async def _revoke_user(site: Site, session_id: str) -> None:
    assert await site.layer.arevoke_user(42) == 1


async def _logout(site: Site, session_id: str) -> None:
    await site.other("/logout")


class TestInterruptedUnderASGI:
    @pytest.mark.parametrize(
        ("path", "end"),
        [
            pytest.param("/slow", _revoke, id="revoke-then-late-save"),
            pytest.param("/slow", _logout, id="logout-then-late-save"),
            pytest.param("/slow", _revoke_user, id="revoke-user-then-late-save"),
            pytest.param("/slow-regenerate", _revoke, id="revoke-then-regenerate"),
            pytest.param("/slow-regenerate", _logout, id="logout-then-regenerate"),
        ],
    )
    def test_revoked_session_never_comes_back(
        self, store: ServerStore, caplog: Any, path: str, end: Any
    ) -> None:
        async def scenario(site: Site) -> None:
            await site.get("/login")
            session_id = (await site.get("/id")).text
            site.during = lambda: end(site, session_id)
            with caplog.at_level(logging.INFO, logger="headerware"):
                response = await site.get(path)
            site.during = _nothing
            assert response.status_code == 200 and response.headers["x-app"] == "1"
            expected = "user 42 cart late" if path == "/slow" else "user 42 cart None"
            assert response.text == expected
            [deleted] = response.headers.get_list("set-cookie")
            assert "Max-Age=0" in deleted
            [event] = events(caplog, "session_interrupted")
            assert event.hw_fields["reason"] == "revoked"  # type: ignore[attr-defined]
            assert await store.aload(storage_key(session_id)) is None
            again = await site.get("/dashboard", site.new_client(signed_id()))
            assert again.text == "user None cart None"

        play(Site(store), scenario)

    def test_concurrent_writer_keeps_the_first_write(self, store: ServerStore, caplog: Any) -> None:
        """Two requests on one loop: the slow one loads, waits while the other saves,
        and its own save is refused (compare-and-set), nothing of the other lost."""

        async def scenario(site: Site) -> None:
            await site.get("/login")
            session_id = (await site.get("/id")).text
            loaded = asyncio.Event()
            written = asyncio.Event()

            async def during() -> None:
                loaded.set()
                await written.wait()

            async def writer() -> None:
                await loaded.wait()
                reply = await site.other("/theme")
                assert reply.status_code == 200
                written.set()

            site.during = during
            with caplog.at_level(logging.INFO, logger="headerware"):
                slow, _ = await asyncio.gather(site.get("/slow"), writer())
            site.during = _nothing
            assert slow.status_code == 200 and set_cookie(slow) is None
            [event] = events(caplog, "session_interrupted")
            assert event.hw_fields == {  # type: ignore[attr-defined]
                "reason": "concurrent_update",
                "changes_dropped": True,
                "path": "/slow",
            }
            stored = await store.aload(storage_key(session_id))
            assert stored is not None
            assert json.loads(stored.text)["d"] == {"user_id": 42, "theme": "dark"}
            assert (await site.get("/dashboard")).text == "user 42 cart None"

        play(Site(store), scenario)


# -- outages: 503 with a clear body, recovery, nothing lost ---------------------------


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.json() == {"error": UNAVAILABLE}
    assert response.headers["retry-after"] == "5"
    assert response.headers["cache-control"] == "no-store"
    assert set_cookie(response) is None  # the client keeps its session


class TestUnavailableUnderASGI:
    def test_load_failure_is_a_503_before_the_app(self, caplog: Any) -> None:
        async def scenario(site: Site) -> None:
            with caplog.at_level(logging.ERROR, logger="headerware"):
                response = await site.get("/dashboard", site.new_client(signed_id()))
            assert_unavailable(response)
            assert site.app_calls == 0
            (record,) = events(caplog, "session_store_unavailable")
            assert record.hw_fields["operation"] == "load"  # type: ignore[attr-defined]

        play(Site(Failing()), scenario)

    def test_save_failure_replaces_the_response(self, caplog: Any) -> None:
        async def scenario(site: Site) -> None:
            with caplog.at_level(logging.ERROR, logger="headerware"):
                response = await site.get("/login")
            assert_unavailable(response)
            assert "x-app" not in response.headers
            assert response.headers["content-length"] == str(len(response.content))
            (record,) = events(caplog, "session_store_unavailable")
            assert record.hw_fields["operation"] == "save"  # type: ignore[attr-defined]
            streamed = await site.get("/stream")
            assert streamed.status_code == 503 and b"secret" not in streamed.content

        play(Site(Failing()), scenario)

    def test_requests_without_a_session_cookie_make_no_store_call(self) -> None:
        failing = Failing()

        async def scenario(site: Site) -> None:
            assert (await site.get("/static")).text == "static"
            assert (await site.get("/dashboard")).text == "user None cart None"

        play(Site(failing), scenario)
        assert failing.calls == 0

    @pytest.mark.redis
    def test_redis_unreachable_is_a_bounded_503_and_nothing_else_is_lost(self, caplog: Any) -> None:
        working = Site(RedisStore(redis_url(), prefix=f"hw-test:{uuid.uuid4().hex}:"))
        down = Site(RedisStore(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.5))

        async def scenario(site: Site) -> None:
            await working.get("/login")
            started = time.monotonic()
            with caplog.at_level(logging.ERROR, logger="headerware"):
                assert_unavailable(await down.get("/dashboard", down.new_client(working.cookie())))
                assert_unavailable(await down.get("/login"))
            assert time.monotonic() - started < 10
            assert len(events(caplog, "session_store_unavailable")) == 2
            assert "Traceback" not in caplog.text
            assert (await down.get("/static")).text == "static"
            assert (await working.get("/dashboard")).text == "user 42 cart None"
            await working.aclose()

        play(down, scenario)

    @pytest.mark.redis
    def test_redis_stopped_then_back_recovers_the_same_session(
        self, tmp_path: Path, caplog: Any
    ) -> None:
        from tests.load.harness import redis_server

        with redis_server(tmp_path) as redis:
            site = Site(RedisStore(redis.url, socket_timeout=0.5))

            async def scenario(site: Site) -> None:
                assert [(await site.get("/count")).text for _ in range(3)] == ["1", "2", "3"]
                await asyncio.to_thread(redis.stop, save=True)
                started = time.monotonic()
                with caplog.at_level(logging.ERROR, logger="headerware"):
                    assert_unavailable(await site.get("/count"))
                    assert_unavailable(await site.get("/count", site.new_client()))
                assert time.monotonic() - started < 5  # bounded, never hung
                [load, save] = events(caplog, "session_store_unavailable")
                assert load.hw_fields["operation"] == "load"  # type: ignore[attr-defined]
                assert save.hw_fields["operation"] == "save"  # type: ignore[attr-defined]
                assert (await site.get("/static", site.new_client())).text == "static"
                await asyncio.to_thread(redis.start)
                # Back, in the same event loop and with the same client: nothing lost.
                deadline = time.monotonic() + 5
                while (reply := await site.get("/count")).status_code != 200:
                    assert time.monotonic() < deadline, reply.text
                    await asyncio.sleep(0.1)
                assert reply.text == "4"
                assert (await site.get("/count")).text == "5"

            play(site, scenario)

    @pytest.mark.redis
    def test_redis_frozen_is_a_bounded_wait_then_503(self, tmp_path: Path) -> None:
        from tests.load.harness import redis_server

        with redis_server(tmp_path) as redis:
            site = Site(RedisStore(redis.url, socket_timeout=0.5))

            async def scenario(site: Site) -> None:
                assert (await site.get("/count")).text == "1"
                with redis.frozen():
                    started = time.monotonic()
                    assert_unavailable(await site.get("/count"))
                    assert time.monotonic() - started < 3
                deadline = time.monotonic() + 5
                while (reply := await site.get("/count")).status_code != 200:
                    assert time.monotonic() < deadline, reply.text
                    await asyncio.sleep(0.1)
                assert reply.text == "2"

            play(site, scenario)

    def test_sqlite_locked_is_a_bounded_503_and_nothing_is_lost(
        self, tmp_path: Path, caplog: Any
    ) -> None:
        path = tmp_path / "s.db"

        async def scenario(site: Site) -> None:
            await site.get("/login")
            blocker = sqlite3.connect(path, isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
                started = time.monotonic()
                with caplog.at_level(logging.ERROR, logger="headerware"):
                    assert_unavailable(await site.get("/login"))
                assert time.monotonic() - started < 5
                assert events(caplog, "session_store_unavailable")
                # WAL: reads go on while the writer holds the lock.
                assert (await site.get("/dashboard")).text == "user 42 cart None"
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            await site.get("/login")
            assert (await site.get("/dashboard")).text == "user 42 cart None"

        play(Site(SQLiteStore(path, timeout=0.05)), scenario)


# -- no blocking call on the event loop -----------------------------------------------


class SpySQLiteStore(SQLiteStore):
    """Records the thread of every sync store call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.threads: list[tuple[str, int]] = []
        super().__init__(*args, **kwargs)

    def _seen(self, name: str) -> None:
        self.threads.append((name, threading.get_ident()))

    def load(self, key: str) -> Loaded | None:
        self._seen("load")
        return super().load(key)

    def save(self, key: str, value: str, ttl: int | None, **kw: Any) -> bool:
        self._seen("save")
        return super().save(key, value, ttl, **kw)

    def delete(self, key: str) -> None:
        self._seen("delete")
        super().delete(key)

    def delete_loaded(self, key: str, expected: object) -> bool:
        self._seen("delete_loaded")
        return super().delete_loaded(key, expected)

    def revoke_user(self, user_id: str | int) -> int:
        self._seen("revoke_user")
        return super().revoke_user(user_id)


class TestNoBlockingOnTheLoop:
    def test_sqlite_calls_never_run_on_the_loop_thread(self, tmp_path: Path) -> None:
        store = SpySQLiteStore(tmp_path / "s.db")
        loop_threads: list[int] = []

        async def scenario(site: Site) -> None:
            loop_threads.append(threading.get_ident())
            await site.get("/login")  # save (new)
            await site.get("/login")  # delete_loaded + save (regenerate)
            await site.get("/theme")  # load + save (conditional)
            session_id = (await site.get("/id")).text
            await site.layer.arevoke(session_id)  # delete
            await site.get("/login")
            await site.layer.arevoke_user(42)  # revoke_user
            await site.get("/login")
            await site.get("/logout")  # delete

        play(Site(store), scenario)
        names = {name for name, _ in store.threads}
        assert names == {"load", "save", "delete", "delete_loaded", "revoke_user"}
        assert loop_threads[0] not in {thread for _, thread in store.threads}

    def test_a_locked_sqlite_save_leaves_the_loop_serving(self, tmp_path: Path) -> None:
        """While one request's save waits for SQLite's write lock, the loop keeps
        running: a ticker on the loop is never held up for the wait."""
        path = tmp_path / "s.db"

        async def scenario(site: Site) -> None:
            await site.get("/login")
            blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            blocker.execute("BEGIN IMMEDIATE")
            release = threading.Timer(0.6, lambda: blocker.execute("ROLLBACK"))
            release.start()
            gaps: list[float] = []
            done = asyncio.Event()

            async def ticker() -> None:
                last = time.monotonic()
                while not done.is_set():
                    await asyncio.sleep(0.01)
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now

            async def login() -> httpx.Response:
                try:
                    return await site.get("/login/7")
                finally:
                    done.set()

            started = time.monotonic()
            reply, _ = await asyncio.gather(login(), ticker())
            waited = time.monotonic() - started
            release.join()
            blocker.close()
            assert reply.status_code == 200  # the save went through once the lock was free
            assert waited >= 0.5
            assert max(gaps) < 0.3, max(gaps)
            assert (await site.get("/dashboard")).text == "user 7 cart None"

        play(Site(SQLiteStore(path, timeout=5)), scenario)

    @pytest.mark.redis
    def test_redis_url_store_never_uses_the_sync_client(self, monkeypatch: Any) -> None:
        import redis

        def sync_call(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a sync Redis command ran under ASGI")

        store = RedisStore(redis_url(), prefix=f"hw-test:{uuid.uuid4().hex}:")
        monkeypatch.setattr(redis.Redis, "execute_command", sync_call)

        async def scenario(site: Site) -> None:
            await site.get("/login")
            await site.get("/theme")
            assert (await site.get("/dashboard")).text == "user 42 cart None"
            assert await site.layer.arevoke_user(42) == 1

        play(Site(store), scenario)

    @pytest.mark.redis
    def test_sync_client_only_runs_in_worker_threads(self) -> None:
        """``client=`` alone: the store cannot rebuild it as an asyncio client, so its
        commands run in worker threads (documented), never on the loop."""
        import redis

        threads: list[int] = []

        class Recording(redis.Redis):
            def execute_command(self, *args: Any, **options: Any) -> Any:
                threads.append(threading.get_ident())
                return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        store = RedisStore(
            client=Recording.from_url(redis_url()), prefix=f"hw-test:{uuid.uuid4().hex}:"
        )
        loop_threads: list[int] = []

        async def scenario(site: Site) -> None:
            loop_threads.append(threading.get_ident())
            await site.get("/login")
            assert (await site.get("/dashboard")).text == "user 42 cart None"

        play(Site(store), scenario)
        assert threads and loop_threads[0] not in threads


# -- the Redis store's asyncio clients ------------------------------------------------


class TestRedisAsyncClients:
    @pytest.mark.redis
    def test_one_client_per_event_loop(self) -> None:
        """Two ``asyncio.run`` calls on one store: a redis.asyncio client is bound to
        the loop it first ran on, so the second loop gets its own (sharing one would
        fail with "Event loop is closed")."""
        store = RedisStore(redis_url(), prefix=f"hw-test:{uuid.uuid4().hex}:")
        site = Site(store)
        cookie: list[str] = []

        async def first() -> None:
            await site.get("/login")
            cookie.append(site.cookie())
            await site.client.aclose()  # the store's client is left open, as a script would

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            asyncio.run(first())

            async def second(site: Site) -> None:
                reply = await site.get("/dashboard", site.new_client(cookie[0]))
                assert reply.status_code == 200 and reply.text == "user 42 cart None"

            play(site, second)
            gc.collect()

    def test_async_client_is_used_as_given(self) -> None:
        import redis
        import redis.asyncio

        given = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0")
        store = RedisStore(client=redis.Redis(), async_client=given, socket_timeout=0.2)
        assert store._aredis() is given
        asyncio.run(given.aclose())

    @pytest.mark.redis
    def test_async_client_serves_sessions(self) -> None:
        import redis
        import redis.asyncio

        commands: list[str] = []

        class Recording(redis.asyncio.Redis):
            async def execute_command(self, *args: Any, **options: Any) -> Any:
                commands.append(str(args[0]).upper())
                return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

        url = redis_url()
        prefix = f"hw-test:{uuid.uuid4().hex}:"

        async def scenario(site: Site) -> None:
            await site.get("/login")
            assert (await site.get("/dashboard")).text == "user 42 cart None"
            await given.aclose()

        given = Recording.from_url(url)
        play(
            Site(RedisStore(client=redis.Redis.from_url(url), async_client=given, prefix=prefix)),
            scenario,
        )
        assert {"EVAL", "GET"} <= set(commands)

    @pytest.mark.parametrize(
        ("options", "option"),
        [
            pytest.param({"client": "asyncio"}, "client", id="asyncio-client-as-client"),
            pytest.param(
                {"client": "sync", "async_client": "sync"}, "async_client", id="sync-as-async"
            ),
            pytest.param({"async_client": "asyncio"}, "client", id="async-client-alone"),
        ],
    )
    def test_bad_client_options(self, options: dict[str, str], option: str) -> None:
        import redis
        import redis.asyncio

        made: dict[str, Any] = {
            "sync": redis.Redis(),
            "asyncio": redis.asyncio.Redis(),
        }
        with pytest.raises(OptionError) as info:
            RedisStore(**{name: made[kind] for name, kind in options.items()})
        assert info.value.option == option
        asyncio.run(made["asyncio"].aclose())

    def test_sentinel_url_builds_an_asyncio_master_from_the_same_settings(
        self, monkeypatch: Any
    ) -> None:
        import redis.asyncio.sentinel

        FakeAsyncSentinel.made = []
        monkeypatch.setattr(redis.asyncio.sentinel, "Sentinel", FakeAsyncSentinel)
        store = RedisStore(
            "redis+sentinel://:hunter2@s1.internal:26379,s2.internal:26380/mymaster/2",
            socket_timeout=0.5,
        )
        assert FakeAsyncSentinel.made == []  # built on first use, in the running loop
        assert asyncio.run(store.aget("k")) is None
        [sentinel] = FakeAsyncSentinel.made
        assert sentinel.nodes == [("s1.internal", 26379), ("s2.internal", 26380)]
        assert sentinel.options["sentinel_kwargs"]["password"] == "hunter2"
        service, options = sentinel.master
        assert service == "mymaster" and options["db"] == 2
        assert options["password"] == "hunter2" and options["socket_timeout"] == 0.5
        assert sentinel.client.commands == [("get", ("headerware:session:k",))]

    def test_cluster_builds_an_asyncio_cluster_client_per_loop(self, monkeypatch: Any) -> None:
        import redis.asyncio.cluster

        built: list[tuple[str, dict[str, Any]]] = []

        def from_url(url: str, **options: Any) -> FakeAsyncClient:
            built.append((url, options))
            return FakeAsyncClient()

        monkeypatch.setattr(redis.asyncio.cluster.RedisCluster, "from_url", staticmethod(from_url))
        store = RedisStore("redis://node1:7000", cluster=True, socket_timeout=0.5)

        async def twice() -> None:
            assert await store.aget("a") is None
            assert await store.aget("b") is None

        asyncio.run(twice())
        assert built == [
            ("redis://node1:7000", {"socket_timeout": 0.5, "socket_connect_timeout": 0.5})
        ]
        asyncio.run(twice())
        assert len(built) == 2  # a new loop, a new client

    def test_unreachable_redis_is_store_unavailable(self) -> None:
        from headerware.stores import StoreUnavailable

        store = RedisStore(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.2)

        async def attempt() -> None:
            try:
                with pytest.raises(StoreUnavailable, match="ConnectionError"):
                    await store.aload("k")
            finally:
                await store.aclose()

        asyncio.run(attempt())


class FakeAsyncClient:
    def __init__(self) -> None:
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    async def get(self, *args: Any) -> Any:
        self.commands.append(("get", args))
        return None

    async def aclose(self) -> None:
        return None


class FakeAsyncSentinel:
    made: ClassVar[list[Any]] = []

    def __init__(self, nodes: Any, **options: Any) -> None:
        self.nodes, self.options = nodes, options
        FakeAsyncSentinel.made.append(self)

    def master_for(self, service: str, **options: Any) -> FakeAsyncClient:
        self.master = (service, options)
        self.client = FakeAsyncClient()
        return self.client


# -- the cookie store: no I/O, the plain hooks ------------------------------------------


class TestCookieStoreUnderASGI:
    def test_runs_the_plain_sync_chain(self) -> None:
        layer = Sessions(secret_keys=[KEY])
        assert not layer.request_is_async and not layer.response_is_async
        assert Sessions(store=Failing(), secret_keys=[KEY]).request_is_async

    def test_sessions_work(self) -> None:
        async def scenario(site: Site) -> None:
            await site.get("/login")
            assert (await site.get("/theme")).status_code == 200
            assert (await site.get("/dashboard")).text == "user 42 cart None"
            assert (await site.get("/logout")).status_code == 200
            assert (await site.get("/dashboard")).text == "user None cart None"

        play(Site(CookieStore()), scenario)


def test_missing_anyio_is_a_clear_error(tmp_path: Path, monkeypatch: Any) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    monkeypatch.setitem(sys.modules, "anyio.to_thread", None)
    with pytest.raises(RuntimeError, match=r"headerware\[asgi\]"):
        asyncio.run(store.aload("k"))
