"""Server-side sessions in an SQLite file: embedded, shared by every worker process.

``SQLiteStore(path)`` keeps one row per session (key, JSON text, expiry time, version,
user id) in a file every gunicorn worker on the host opens. The database runs in WAL mode, so
readers never wait for the writer and the writer never waits for readers; each
process and thread gets its own connection (opened lazily, re-opened after a fork,
so a store built before gunicorn forks its workers is safe). Writes are single
autocommit statements: there is no transaction to leave half done.

When another process holds the write lock, a statement waits up to ``timeout``
seconds (SQLite's busy timeout), then fails; that and every other database error
is raised as :class:`~headerware.stores.StoreUnavailable`, which the session layer
answers with a ``503``. Nothing stored is touched by a failure.

Expired rows are never returned, and are deleted in bulk on one write in
``purge_every`` (no cron job needed).

Under ASGI the session layer awaits ``aload`` / ``asave`` / ..., which run these
methods in anyio's worker threads (the ``asgi`` extra): sqlite3 blocks, so it never
runs on the event loop. Connections stay one per thread: each worker thread opens its
own, used by that thread only, and it is closed (explicitly: Python 3.13 warns about a
connection left to the garbage collector) when the thread or the store goes away.

A save of a loaded session is one guarded ``UPDATE ... WHERE key = ? AND version = ?``
that bumps the version: a row deleted (revoked, logged out) or rewritten by another
request since it was loaded is left alone, and the save reports it. A new session
is an ``INSERT`` that never overwrites. The ``user`` column (with an SQL index)
serves ``revoke_user``. A table of an earlier release (no ``version``/``user``
columns) is migrated in place at start-up; its rows stay valid.

Options: ``path`` (the file; ``":memory:"`` is refused because worker processes could
not share it), ``timeout=2.0`` (seconds of bounded wait for a lock, then 503),
``table="headerware_sessions"``, ``purge_every=500``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from .._log import logger
from ..options import OptionError, wait_seconds
from . import Loaded, ServerStore, StoreUnavailable, user_id_text, user_index_key

__all__ = ["SQLiteStore"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


class SQLiteStore(ServerStore):
    """Session rows in an SQLite file in WAL mode, one connection per process/thread."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 2.0,
        table: str = "headerware_sessions",
        purge_every: int = 500,
    ) -> None:
        path = _check_path(path)
        self.timeout = _check_timeout(timeout)
        if not isinstance(table, str) or _IDENTIFIER.match(table) is None:
            raise OptionError(
                "table",
                table,
                f"{table!r} is not a plain SQL identifier",
                "use letters, digits and underscores",
            )
        if isinstance(purge_every, bool) or not isinstance(purge_every, int) or purge_every < 1:
            raise OptionError(
                "purge_every",
                purge_every,
                f"{purge_every!r} must be a positive integer",
                "e.g. 500",
            )
        self.path = str(Path(path).resolve())
        self.table = table
        self.purge_every = purge_every
        self._local = threading.local()
        # Every open connection, closed when its thread lets go of it (_Held) or, at the
        # latest, when the store is collected: a store in a reference cycle would else
        # leave its connections to the garbage collector, which Python 3.13 warns about.
        self._open: dict[sqlite3.Connection, int] = {}  # connection -> pid that opened it
        weakref.finalize(self, _close_all, self._open)
        self._writes = 0
        live = "(expires IS NULL OR expires > ?)"
        self._sql_get = f"SELECT data, version FROM {table} WHERE key = ? AND {live}"
        self._sql_set = (
            f"INSERT INTO {table} (key, data, expires, version) VALUES (?, ?, ?, 1) "
            "ON CONFLICT(key) DO UPDATE SET data = excluded.data, "
            "expires = excluded.expires, version = version + 1"
        )
        self._sql_insert = (
            f"INSERT INTO {table} (key, data, expires, version, user) VALUES (?, ?, ?, 1, ?) "
            "ON CONFLICT(key) DO NOTHING"
        )
        self._sql_update = (
            f"UPDATE {table} SET data = ?, expires = ?, user = COALESCE(?, user), "
            f"version = version + 1 WHERE key = ? AND version = ? AND {live}"
        )
        self._sql_delete = f"DELETE FROM {table} WHERE key = ?"
        self._sql_delete_loaded = f"DELETE FROM {table} WHERE key = ? AND version = ?"
        self._sql_revoke_user = f"DELETE FROM {table} WHERE user = ?"
        self._sql_purge = f"DELETE FROM {table} WHERE expires IS NOT NULL AND expires <= ?"
        self._create_table()

    def _create_table(self) -> None:
        """Create the file and table at start-up, so a bad path fails now, not per request."""
        table = self.table
        try:
            connection = self._connect()
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, "
                    "data TEXT NOT NULL, expires REAL, "
                    "version INTEGER NOT NULL DEFAULT 1, user TEXT)"
                )
                _migrate(connection, table)
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise OptionError(
                "path",
                self.path,
                f"cannot open {self.path!r} as an SQLite database ({exc})",
                "check that the directory exists and is writable by the workers",
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        # Only its own thread uses a connection (thread-local); check_same_thread is off
        # so that _Held can close it from whichever thread lets go of it.
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _connection(self) -> sqlite3.Connection:
        held: _Held | None = getattr(self._local, "held", None)
        pid = os.getpid()
        if held is None or held.pid != pid:
            # A connection must never cross a fork: open a new one in each process.
            held = self._local.held = _Held(self._connect(), pid, self._open)
        return held.connection

    def get(self, key: str) -> str | None:
        loaded = self.load(key)
        return None if loaded is None else loaded.text

    def load(self, key: str) -> Loaded | None:
        row = self._execute(self._sql_get, (key, time.time())).fetchone()
        return None if row is None else Loaded(str(row[0]), int(row[1]))

    def set(self, key: str, value: str, ttl: int | None) -> None:
        now = time.time()
        self._execute(self._sql_set, (key, value, None if ttl is None else now + ttl))
        self._written(now)

    def save(
        self,
        key: str,
        value: str,
        ttl: int | None,
        *,
        expected: object = None,
        user_id: str | None = None,
    ) -> bool:
        now = time.time()
        expires = None if ttl is None else now + ttl
        user = None if user_id is None else user_index_key(user_id)
        if expected is None:
            cursor = self._execute(self._sql_insert, (key, value, expires, user))
        else:
            cursor = self._execute(self._sql_update, (value, expires, user, key, expected, now))
        if cursor.rowcount != 1:
            return False
        self._written(now)
        return True

    def delete_loaded(self, key: str, expected: object) -> bool:
        return bool(self._execute(self._sql_delete_loaded, (key, expected)).rowcount == 1)

    def revoke_user(self, user_id: str | int) -> int:
        user = user_id_text(user_id)
        if user is None:
            raise ValueError(f"revoke_user: {user_id!r} is not a user id (a str or an int)")
        return int(self._execute(self._sql_revoke_user, (user_index_key(user),)).rowcount)

    def _execute(self, sql: str, parameters: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            return self._connection().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite session store: {exc}") from exc

    def _written(self, now: float) -> None:
        self._writes += 1
        if self._writes % self.purge_every == 0:
            # Housekeeping only: the write above is committed, so a busy database
            # here must not turn a saved session into a 503 (a retry would repeat it).
            try:
                self._connection().execute(self._sql_purge, (now,))
            except sqlite3.Error as exc:
                logger.info("SQLite session store: purge of expired rows skipped: %s", exc)

    def delete(self, key: str) -> None:
        self._execute(self._sql_delete, (key,))

    def describe(self) -> dict[str, object]:
        return {
            "use": "headerware.stores.sqlite:SQLiteStore",
            "path": self.path,
            "timeout": self.timeout,
            "table": self.table,
            "purge_every": self.purge_every,
        }


class _Held:
    """A thread's connection: closed when the thread-local lets go of it (the thread
    ended, or the store was dropped), in the process that opened it."""

    __slots__ = ("connection", "open", "pid")

    def __init__(
        self, connection: sqlite3.Connection, pid: int, open_set: dict[sqlite3.Connection, int]
    ) -> None:
        self.connection = connection
        self.pid = pid
        self.open = open_set
        open_set[connection] = pid

    def __del__(self) -> None:
        self.open.pop(self.connection, None)
        if self.pid == os.getpid():  # after a fork the parent's connection is not ours
            self.connection.close()


def _close_all(connections: dict[sqlite3.Connection, int]) -> None:
    pid = os.getpid()
    for connection, opened_by in list(connections.items()):
        connections.pop(connection, None)
        if opened_by == pid:
            connection.close()


def _migrate(connection: sqlite3.Connection, table: str) -> None:
    """Add the ``version`` and ``user`` columns (and the user index) to a table of an
    earlier release. A table already migrated is only read: a worker starting while
    another process holds the write lock does not wait for it."""
    if _migrated(connection, table):
        return
    connection.execute("BEGIN IMMEDIATE")  # workers starting together migrate once
    try:
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if "version" not in columns:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN version INTEGER NOT NULL DEFAULT 1")
        if "user" not in columns:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN user TEXT")
        connection.execute(f"CREATE INDEX IF NOT EXISTS {table}_user ON {table} (user)")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _migrated(connection: sqlite3.Connection, table: str) -> bool:
    columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    index = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (f"{table}_user",)
    ).fetchone()
    return {"version", "user"} <= columns and index is not None


def _check_path(path: str | os.PathLike[str]) -> str:
    path = os.fspath(path)
    if not path or path == ":memory:" or path.startswith("file:"):
        raise OptionError(
            "path",
            path,
            f"{path!r} cannot be shared by worker processes",
            "give the path of a file, e.g. SQLiteStore('/var/lib/myapp/sessions.db')",
        )
    return path


def _check_timeout(timeout: object) -> float:
    return wait_seconds(
        "timeout",
        timeout,
        maximum=60,
        fix="use seconds between 0 and 60 (the default 2.0 suits most sites)",
    )
