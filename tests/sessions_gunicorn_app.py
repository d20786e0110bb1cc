"""A tiny app for the two-worker test: a session counter in SQLite, the worker's pid.

Served by gunicorn from tests/test_session_stores.py; the database path comes from
``HW_TEST_SESSION_DB``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from headerware.layers.sessions import Sessions, get_session
from headerware.stores.sqlite import SQLiteStore


def counter(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    session = get_session(environ)
    session["count"] = int(session.get("count", 0)) + 1
    body = str(session["count"]).encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
            ("X-Worker-Pid", str(os.getpid())),
        ],
    )
    return [body]


app = Sessions(
    counter,
    store=SQLiteStore(os.environ["HW_TEST_SESSION_DB"]),
    secret_keys=["gunicorn-test-key-0123456789"],
)
