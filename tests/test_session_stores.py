"""Server-side sessions: SQLite on a real file, Redis on a real server, failures as 503s,
and two gunicorn worker processes sharing one SQLite session."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import webtest

from headerware.crypto import CookieSigner
from headerware.layers.sessions import Sessions, get_session
from headerware.options import OptionError
from headerware.stores import ServerStore, StoreUnavailable, storage_key
from headerware.stores.redis import RedisStore
from headerware.stores.sqlite import SQLiteStore
from tests.contract import LayerContract

KEY = "k" * 32
REDIS_URL = os.environ.get("HEADERWARE_TEST_REDIS_URL")
ROOT = Path(__file__).resolve().parent.parent


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/static":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "1")])
        return [b"static"]
    session = get_session(environ)
    if path == "/login":
        session.regenerate()
        session["user_id"] = 42
    elif path == "/logout":
        session.clear()
    elif path == "/id":
        body = str(session.id).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    body = f"user {session.get('user_id')}".encode()
    start_response(
        "200 OK",
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("X-App", "1")],
    )
    return [body]


def redis_url() -> str:
    if not REDIS_URL:
        if os.environ.get("CI"):
            pytest.fail("HEADERWARE_TEST_REDIS_URL is not set, but CI is: start redis-server")
        pytest.skip("HEADERWARE_TEST_REDIS_URL is not set (start redis-server to run these)")
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ServerStore:
    if request.param == "sqlite":
        return SQLiteStore(tmp_path / "sessions.db")
    return RedisStore(redis_url(), prefix=f"hw-test:{uuid.uuid4().hex}:")


def make(store: ServerStore, **options: Any) -> webtest.TestApp:
    return webtest.TestApp(Sessions(app, store=store, secret_keys=[KEY], **options), lint=True)


def session_cookie(response: webtest.TestResponse) -> str | None:
    for header in response.headers.getall("Set-Cookie"):
        if header.startswith("session="):
            return header.split(";", 1)[0].split("=", 1)[1]
    return None


def events(caplog: Any, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "hw_event", "") == name]


class TestServerSideSessions:
    def test_cookie_carries_only_a_signed_id(self, store: ServerStore) -> None:
        client = make(store)
        value = session_cookie(client.get("/login"))
        assert value is not None
        session_id = CookieSigner([KEY], "headerware.session.id").unsign(value)
        assert session_id is not None and len(session_id) >= 43  # 256 bits, base64url
        # The cookie is the random id and its signature, nothing of the session data.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}\.[A-Za-z0-9_-]+", value)
        assert value.startswith(session_id + ".")
        stored = store.get(storage_key(session_id))
        assert stored is not None and json.loads(stored)["d"] == {"user_id": 42}
        assert store.get(session_id) is None, "the raw id must not be a storage key"
        assert client.get("/dashboard").text == "user 42"

    def test_shared_by_two_layer_instances(self, store: ServerStore) -> None:
        """Two workers = two Sessions objects on one store."""
        first, second = make(store), make(store)
        value = session_cookie(first.get("/login"))
        response = second.get("/dashboard", headers={"Cookie": f"session={value}"})
        assert response.text == "user 42"

    def test_revoke_ends_the_session(self, store: ServerStore, caplog: Any) -> None:
        client = make(store)
        client.get("/login")
        session_id = client.get("/id").text
        store.revoke(session_id)
        with caplog.at_level(logging.INFO, logger="headerware"):
            response = client.get("/dashboard")
        assert response.text == "user None"
        assert "Max-Age=0" in response.headers["Set-Cookie"]
        assert events(caplog, "session_expired")

    def test_regenerate_replaces_the_id_and_drops_the_old_record(self, store: ServerStore) -> None:
        client = make(store)
        client.get("/login")
        old = client.get("/id").text
        client.get("/login")
        new = client.get("/id").text
        assert old != new
        assert store.get(storage_key(old)) is None
        assert store.get(storage_key(new)) is not None

    def test_logout_deletes_record_and_cookie(self, store: ServerStore) -> None:
        client = make(store)
        client.get("/login")
        session_id = client.get("/id").text
        response = client.get("/logout")
        assert "Max-Age=0" in response.headers["Set-Cookie"]
        assert store.get(storage_key(session_id)) is None

    def test_forged_cookie_is_rejected_without_a_store_lookup(
        self, store: ServerStore, caplog: Any
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = make(store).get("/dashboard", headers={"Cookie": "session=abc.def"})
        assert response.text == "user None"
        assert [r.hw_fields["reason"] for r in events(caplog, "session_rejected")] == [  # type: ignore[attr-defined]
            "bad_signature"
        ]


class TestServerSideContract(LayerContract):
    """The contract with a server-side store and a valid session cookie on each request."""

    db: Path

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> None:
        self.db = tmp_path / "contract.db"
        client = make(SQLiteStore(self.db))
        self.cookie = session_cookie(client.get("/login"))

    def make_layer(self) -> Sessions:
        return Sessions(store=SQLiteStore(self.db), secret_keys=[KEY])

    def environ_extra(self) -> dict[str, Any]:
        return {"HTTP_COOKIE": f"session={self.cookie}"}


class Failing(ServerStore):
    """A store whose backend is down (every call fails), counting calls."""

    def __init__(self) -> None:
        self.calls = 0

    def get(self, key: str) -> str | None:
        self.calls += 1
        raise StoreUnavailable("down")

    def set(self, key: str, value: str, ttl: int | None) -> None:
        self.calls += 1
        raise StoreUnavailable("down")

    def delete(self, key: str) -> None:
        self.calls += 1
        raise StoreUnavailable("down")


def signed_id() -> str:
    return CookieSigner([KEY], "headerware.session.id").sign("x" * 43)


class TestUnavailableStore:
    def test_load_failure_is_a_503_before_the_app(self, caplog: Any) -> None:
        called: list[bool] = []

        def guarded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            called.append(True)
            return app(environ, start_response)

        client = webtest.TestApp(Sessions(guarded, store=Failing(), secret_keys=[KEY]))
        with caplog.at_level(logging.ERROR, logger="headerware"):
            response = client.get(
                "/dashboard", headers={"Cookie": f"session={signed_id()}"}, status=503
            )
        assert not called
        assert response.json == {"error": response.json["error"]}
        assert "unavailable" in response.json["error"]
        assert response.headers["Retry-After"] == "5"
        assert response.headers["Cache-Control"] == "no-store"
        (record,) = events(caplog, "session_store_unavailable")
        assert record.hw_fields["operation"] == "load"  # type: ignore[attr-defined]

    def test_save_failure_replaces_the_response(self, caplog: Any) -> None:
        client = webtest.TestApp(Sessions(app, store=Failing(), secret_keys=[KEY]), lint=True)
        with caplog.at_level(logging.ERROR, logger="headerware"):
            response = client.get("/login", status=503)
        assert "unavailable" in response.json["error"]
        assert "Set-Cookie" not in response.headers
        assert "X-App" not in response.headers
        assert response.headers["Content-Length"] == str(len(response.body))
        (record,) = events(caplog, "session_store_unavailable")
        assert record.hw_fields["operation"] == "save"  # type: ignore[attr-defined]

    def test_save_failure_html_and_head(self) -> None:
        client = webtest.TestApp(Sessions(app, store=Failing(), secret_keys=[KEY]), lint=True)
        response = client.get("/login", headers={"Accept": "text/html"}, status=503)
        assert response.content_type == "text/html"
        assert "<h1>503 Service Unavailable</h1>" in response.text
        response = client.head("/login", status=503)
        assert response.body == b""

    def test_save_failure_of_a_streamed_body(self) -> None:
        def streaming(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
            get_session(environ)["x"] = 1
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"secret "
            yield b"stream"

        client = webtest.TestApp(Sessions(streaming, store=Failing(), secret_keys=[KEY]))
        response = client.get("/", status=503)
        assert b"secret" not in response.body

    def test_requests_without_session_cookie_still_served(self) -> None:
        failing = Failing()
        client = webtest.TestApp(Sessions(app, store=failing, secret_keys=[KEY]), lint=True)
        assert client.get("/static").text == "static"
        assert client.get("/dashboard").text == "user None"
        assert failing.calls == 0


class TestSQLite:
    def test_wal_mode_and_table(self, tmp_path: Path) -> None:
        SQLiteStore(tmp_path / "s.db")
        connection = sqlite3.connect(tmp_path / "s.db")
        try:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert connection.execute("SELECT count(*) FROM headerware_sessions").fetchone() == (0,)
        finally:
            connection.close()

    def test_expired_rows_are_invisible_and_purged(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "s.db", purge_every=1)
        store.set("old", "{}", 60)
        connection = sqlite3.connect(tmp_path / "s.db")
        try:
            connection.execute("UPDATE headerware_sessions SET expires = 1 WHERE key = 'old'")
            connection.commit()
            assert store.get("old") is None
            store.set("new", "{}", None)
            keys = [row[0] for row in connection.execute("SELECT key FROM headerware_sessions")]
        finally:
            connection.close()
        assert keys == ["new"]

    def test_failed_purge_does_not_fail_a_committed_write(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "s.db", purge_every=1)
        store._sql_purge = "DELETE FROM no_such_table WHERE ? > 0"  # purge always fails
        store.set("kept", '{"n": 1}', None)  # must not raise StoreUnavailable
        assert store.get("kept") == '{"n": 1}'

    def test_locked_past_timeout_is_a_503_and_nothing_is_lost(
        self, tmp_path: Path, caplog: Any
    ) -> None:
        path = tmp_path / "s.db"
        client = make(SQLiteStore(path, timeout=0.05))
        client.get("/login")
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
            started = time.monotonic()
            with caplog.at_level(logging.ERROR, logger="headerware"):
                client.get("/login", status=503)
            assert time.monotonic() - started < 5
            assert events(caplog, "session_store_unavailable")
            # Reads still work in WAL mode while the writer holds the lock.
            assert client.get("/dashboard").text == "user 42"
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert client.get("/dashboard").text == "user 42"
        client.get("/login")
        assert client.get("/dashboard").text == "user 42"

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            pytest.param({"path": ":memory:"}, "path", id="memory"),
            pytest.param({"timeout": 0}, "timeout", id="zero-timeout"),
            pytest.param({"table": "x; DROP"}, "table", id="table-injection"),
            pytest.param({"path": "/nonexistent-dir/s.db"}, "path", id="unwritable"),
        ],
    )
    def test_bad_options(self, tmp_path: Path, options: dict[str, Any], match: str) -> None:
        options.setdefault("path", tmp_path / "s.db")
        with pytest.raises(OptionError, match=match) as info:
            SQLiteStore(**options)
        assert info.value.option == match


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestRedis:
    @pytest.mark.redis
    def test_ttl_is_the_idle_timeout(self) -> None:
        import redis

        url = redis_url()
        prefix = f"hw-test:{uuid.uuid4().hex}:"
        client = make(RedisStore(url, prefix=prefix), idle_timeout=600, refresh_interval=60)
        client.get("/login")
        session_id = client.get("/id").text
        ttl = redis.Redis.from_url(url).ttl(prefix + storage_key(session_id))
        assert 590 <= ttl <= 600

    @pytest.mark.redis
    def test_redis_down_is_a_503_and_nothing_else_is_lost(self, caplog: Any) -> None:
        url = redis_url()
        prefix = f"hw-test:{uuid.uuid4().hex}:"
        working = make(RedisStore(url, prefix=prefix))
        working.get("/login")
        cookie = working.cookies["session"]
        down = make(RedisStore(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.5))
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="headerware"):
            response = down.get("/dashboard", headers={"Cookie": f"session={cookie}"}, status=503)
            down.get("/login", status=503)
        assert time.monotonic() - started < 10
        assert "unavailable" in response.json["error"]
        assert len(events(caplog, "session_store_unavailable")) == 2
        assert "Traceback" not in caplog.text
        # Routes without a session still work; the stored session is intact.
        assert down.get("/static").text == "static"
        assert working.get("/dashboard").text == "user 42"

    def test_redacts_password(self) -> None:
        store = RedisStore("redis://user:hunter2@127.0.0.1:1/0")
        assert "hunter2" not in json.dumps(store.describe())
        with pytest.raises(ValueError, match="Redis URL") as info:
            RedisStore("http://user:hunter2@example.com")
        assert "hunter2" not in str(info.value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestGunicornWorkers:
    def test_two_workers_share_one_sqlite_session(self, tmp_path: Path) -> None:
        port = free_port()
        env = dict(os.environ, HW_TEST_SESSION_DB=str(tmp_path / "shared.db"))
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "tests.sessions_gunicorn_app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    assert server.poll() is None, "gunicorn exited"
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.1)
            cookie = ""
            pids: set[str] = set()
            count = 0
            while len(pids) < 2:
                assert time.monotonic() < deadline + 20, f"only workers {pids} answered"
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/", headers={"Cookie": cookie} if cookie else {})
                response = connection.getresponse()
                body = response.read().decode()
                connection.close()
                count += 1
                assert response.status == 200
                assert body == str(count), "the session counter was not shared"
                pids.add(response.getheader("X-Worker-Pid") or "")
                set_cookie = response.getheader("Set-Cookie")
                if set_cookie:
                    cookie = set_cookie.split(";", 1)[0]
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                server.kill()
                server.wait()
            if server.stderr is not None:
                server.stderr.close()
        assert len(pids) == 2


# -- issue 11, item 5: a request in flight cannot bring a revoked session back ---------


class Racing:
    """A Sessions stack whose ``/slow*`` paths run ``during()`` in the middle of the
    request: after the session was loaded, before it is saved (two interleaved
    requests through the real layer)."""

    def __init__(self, store: ServerStore, **options: Any) -> None:
        self.during: Any = lambda: None
        self.layer = Sessions(self.app, store=store, secret_keys=[KEY], **options)
        self.client = webtest.TestApp(self.layer, lint=True)

    def app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        session = get_session(environ)
        path = environ["PATH_INFO"]
        if path.startswith("/login"):
            session.regenerate()
            user = path.removeprefix("/login").strip("/")
            session["user_id"] = int(user or 42)
        elif path == "/logout":
            session.clear()
        elif path == "/theme":
            session["theme"] = "dark"
        elif path == "/slow":
            session.get("user_id")
            self.during()
            session["cart"] = "late"
        elif path == "/slow-regenerate":
            session.get("user_id")
            self.during()
            session.regenerate()
        elif path == "/id":
            body = str(session.id).encode()
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [body]
        body = f"user {session.get('user_id')} cart {session.get('cart')}".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "1")])
        return [body]

    def other_request(self, path: str) -> Any:
        """A second request with the same cookie, made while the first one runs."""
        cookie = self.client.cookies["session"]
        other = webtest.TestApp(self.layer, lint=True)
        return other.get(path, headers={"Cookie": f"session={cookie}"})


def _revoke(race: Racing, session_id: str) -> None:
    race.layer.revoke(session_id)


def _revoke_user(race: Racing, session_id: str) -> None:
    assert race.layer.revoke_user(42) == 1


def _logout(race: Racing, session_id: str) -> None:
    race.other_request("/logout")


class TestInterruptedSessions:
    @pytest.mark.parametrize(
        ("path", "end"),
        [
            pytest.param("/slow", _revoke, id="issue11-5-revoke-then-late-save"),
            pytest.param("/slow", _logout, id="issue11-5-logout-then-late-save"),
            pytest.param("/slow", _revoke_user, id="issue11-5-revoke-user-then-late-save"),
            pytest.param("/slow-regenerate", _revoke, id="issue11-5-revoke-then-regenerate"),
            pytest.param("/slow-regenerate", _logout, id="issue11-5-logout-then-regenerate"),
        ],
    )
    def test_revoked_session_never_comes_back(
        self, store: ServerStore, caplog: Any, path: str, end: Any
    ) -> None:
        race = Racing(store)
        race.client.get("/login")
        session_id = race.client.get("/id").text
        race.during = lambda: end(race, session_id)
        with caplog.at_level(logging.INFO, logger="headerware"):
            response = race.client.get(path)
        # The application's answer is intact; only the late session write is dropped.
        assert response.status_int == 200 and response.headers["X-App"] == "1"
        assert response.text == "user 42 cart late" if path == "/slow" else "user 42 cart None"
        [deleted] = response.headers.getall("Set-Cookie")
        assert "Max-Age=0" in deleted
        [event] = events(caplog, "session_interrupted")
        assert event.hw_fields["reason"] == "revoked"  # type: ignore[attr-defined]
        assert event.levelno == logging.WARNING
        assert store.get(storage_key(session_id)) is None
        # Nothing of the session survives anywhere: the old cookie reads as new.
        again = race.client.get(
            "/dashboard", headers={"Cookie": f"session={session_cookie_of(race)}"}
        )
        assert again.text == "user None cart None"

    def test_concurrent_update_keeps_the_first_write(self, store: ServerStore, caplog: Any) -> None:
        race = Racing(store)
        race.client.get("/login")
        session_id = race.client.get("/id").text
        race.during = lambda: race.other_request("/theme")
        with caplog.at_level(logging.INFO, logger="headerware"):
            response = race.client.get("/slow")
        assert response.status_int == 200 and "Set-Cookie" not in response.headers
        [event] = events(caplog, "session_interrupted")
        assert event.hw_fields == {  # type: ignore[attr-defined]
            "reason": "concurrent_update",
            "changes_dropped": True,
            "path": "/slow",
        }
        stored = store.get(storage_key(session_id))
        assert stored is not None
        assert json.loads(stored)["d"] == {"user_id": 42, "theme": "dark"}
        assert race.client.get("/dashboard").text == "user 42 cart None"

    def test_unhindered_saves_still_work(self, store: ServerStore) -> None:
        race = Racing(store)
        race.client.get("/login")
        assert race.client.get("/slow").text == "user 42 cart late"
        assert race.client.get("/theme").status_int == 200
        assert race.client.get("/dashboard").text == "user 42 cart late"


def session_cookie_of(race: Racing) -> str:
    return race.client.cookies.get("session", "") or "none"


class TestSQLiteMigration:
    def test_table_of_an_earlier_release_is_migrated(self, tmp_path: Path) -> None:
        path = tmp_path / "old.db"
        connection = sqlite3.connect(path)
        connection.execute(
            "CREATE TABLE headerware_sessions "
            "(key TEXT PRIMARY KEY, data TEXT NOT NULL, expires REAL)"
        )
        record = json.dumps({"d": {"user_id": 42}, "c": int(time.time()), "t": int(time.time())})
        connection.execute(
            "INSERT INTO headerware_sessions VALUES (?, ?, NULL)", (storage_key("old-id"), record)
        )
        connection.commit()
        connection.close()
        store = SQLiteStore(path)
        cookie = CookieSigner([KEY], "headerware.session.id").sign("old-id")
        client = make(store)
        response = client.get("/dashboard", headers={"Cookie": f"session={cookie}"})
        assert response.text == "user 42"
        loaded = store.load(storage_key("old-id"))
        assert loaded is not None
        assert store.save(storage_key("old-id"), record, 60, expected=loaded.version)
        assert not store.save(storage_key("old-id"), record, 60, expected=loaded.version)
        SQLiteStore(path)  # a second start finds the table migrated


# -- issue 11, item 6: log out everywhere, Sentinel and Cluster ------------------------


class TestRevokeUser:
    def test_revoke_user_ends_every_session_of_that_user_only(self, store: ServerStore) -> None:
        race = Racing(store)
        phone, laptop, other = (webtest.TestApp(race.layer, lint=True) for _ in range(3))
        phone.get("/login/42")
        laptop.get("/login/42")
        other.get("/login/7")
        assert race.layer.revoke_user("42") == 2
        assert phone.get("/dashboard").text == "user None cart None"
        assert laptop.get("/dashboard").text == "user None cart None"
        assert other.get("/dashboard").text == "user 7 cart None"
        assert race.layer.revoke_user(42) == 0

    def test_user_key_is_configurable(self, store: ServerStore) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            session = get_session(environ)
            if environ["PATH_INFO"] == "/login":
                session["account"] = "alice"
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(session.get("account")).encode()]

        layer = Sessions(app, store=store, secret_keys=[KEY], user_key="account")
        client = webtest.TestApp(layer)
        client.get("/login")
        assert layer.revoke_user("alice") == 1
        assert client.get("/").text == "None"

    def test_sqlite_revoke_user_uses_the_index(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "s.db")
        connection = sqlite3.connect(store.path)
        try:
            plan = connection.execute(
                f"EXPLAIN QUERY PLAN DELETE FROM {store.table} WHERE user = ?", ("x",)
            ).fetchall()
        finally:
            connection.close()
        assert any("USING INDEX" in str(row) for row in plan), plan

    @pytest.mark.redis
    def test_redis_revoke_user_scans_no_keys(self) -> None:
        import redis

        commands: list[str] = []

        class Recording(redis.Redis):
            def execute_command(self, *args: Any, **options: Any) -> Any:
                commands.append(str(args[0]).upper())
                return super().execute_command(*args, **options)

        client = Recording.from_url(redis_url())
        store = RedisStore(client=client, prefix=f"hw-test:{uuid.uuid4().hex}:")
        Racing(store).client.get("/login")
        commands.clear()
        assert store.revoke_user(42) == 1
        assert not {"KEYS", "SCAN"} & set(commands), commands

    def test_cookie_store_cannot_revoke_users(self) -> None:
        with pytest.raises(RuntimeError, match="revoke_user"):
            Sessions(app, secret_keys=[KEY]).revoke_user(42)


class FakeSentinel:
    made: ClassVar[list[Any]] = []

    def __init__(self, nodes: Any, **options: Any) -> None:
        self.nodes, self.options = nodes, options
        FakeSentinel.made.append(self)

    def master_for(self, service: str, **options: Any) -> Any:
        self.master = (service, options)
        return "master-client"


class TestDeployments:
    def test_sentinel_url_is_wired_to_a_sentinel_master(self, monkeypatch: Any) -> None:
        import redis.sentinel

        FakeSentinel.made = []
        monkeypatch.setattr(redis.sentinel, "Sentinel", FakeSentinel)
        store = RedisStore(
            "redis+sentinel://:hunter2@s1.internal:26379,s2.internal:26380/mymaster/2",
            socket_timeout=0.5,
        )
        [sentinel] = FakeSentinel.made
        assert sentinel.nodes == [("s1.internal", 26379), ("s2.internal", 26380)]
        service, options = sentinel.master
        assert service == "mymaster" and options["db"] == 2
        assert options["password"] == "hunter2" and options["socket_timeout"] == 0.5
        assert store._redis() == "master-client"
        assert "hunter2" not in json.dumps(store.describe())
        assert "url" not in store.describe()

    def test_sentinel_master_client_object_is_accepted(self) -> None:
        import redis.sentinel

        master = redis.sentinel.Sentinel([("127.0.0.1", closed_port())]).master_for("x")
        store = RedisStore(client=master, socket_timeout=0.2)
        assert store._redis() is master
        with pytest.raises(StoreUnavailable):
            store.get("k")  # no sentinel answers: a 503, never a crash

    def test_cluster_flag_builds_a_cluster_client_on_first_use(self, monkeypatch: Any) -> None:
        import redis.cluster

        built: list[tuple[str, dict[str, Any]]] = []

        def from_url(url: str, **options: Any) -> Any:
            built.append((url, options))
            return "cluster-client"

        monkeypatch.setattr(redis.cluster.RedisCluster, "from_url", staticmethod(from_url))
        store = RedisStore("redis://node1:7000", cluster=True, socket_timeout=0.5)
        assert built == []  # a cluster client connects when built: not at start-up
        assert store._redis() == "cluster-client"
        assert built == [
            ("redis://node1:7000", {"socket_timeout": 0.5, "socket_connect_timeout": 0.5})
        ]
        assert store.describe()["cluster"] is True

    @pytest.mark.redis
    def test_cluster_client_object_serves_sessions(self) -> None:
        """A ``RedisCluster`` instance (here one whose commands go to the test server)
        carries the whole protocol: every command is on one key."""
        import redis
        import redis.cluster

        real = redis.Redis.from_url(redis_url())

        class OneNodeCluster(redis.cluster.RedisCluster):
            def __init__(self) -> None:  # no cluster to discover
                self.encoder = real.get_encoder()

            def delete(self, *keys: Any) -> Any:  # the real one splits keys by slot
                return real.delete(*keys)

            def execute_command(self, *args: Any, **options: Any) -> Any:
                return real.execute_command(*args, **options)

        cluster = OneNodeCluster()
        store = RedisStore(client=cluster, prefix=f"hw-test:{uuid.uuid4().hex}:")
        race = Racing(store)
        race.client.get("/login")
        assert race.client.get("/dashboard").text == "user 42 cart None"
        assert race.layer.revoke_user(42) == 1
        assert race.client.get("/dashboard").text == "user None cart None"

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("redis+sentinel://s1:26379", id="no-service"),
            pytest.param("redis+sentinel://s1:x/mymaster", id="bad-port"),
            pytest.param("unix:///tmp/redis.sock", id="cluster-unix"),
        ],
    )
    def test_bad_deployment_urls(self, url: str) -> None:
        with pytest.raises(OptionError) as info:
            RedisStore(url, cluster=url.startswith("unix"))
        assert info.value.option == "url"
