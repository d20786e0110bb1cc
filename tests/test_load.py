"""Load: gunicorn (2 sync workers, then gthread) + wrk over a mix of routes, sessions in
SQLite and in Redis: no errors, and no session write lost across worker processes.

The app is tests/load/app.py (a full headerware stack; README in tests/load/). Each
test is bounded: wrk runs 3 s, the counter clients 16 x 25 requests with a deadline.
Request rates are printed (``pytest -s``) and recorded as test properties; they are
not asserted beyond "it served a real load": this machine's figures swing by 2x.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from headerware.layers.signing import CookieSigner
from headerware.stores import ServerStore, storage_key
from headerware.stores.redis import RedisStore
from headerware.stores.sqlite import SQLiteStore
from tests.load.app import SECRET_KEY
from tests.load.harness import Client, Redis, Server, gunicorn, redis_server, run_wrk

MIX = ["/", "/page", "/api/data", "/count"]
CLIENTS = 16
INCREMENTS = 25


@dataclass
class Deployment:
    server: Server
    store: ServerStore
    label: str


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("sqlite", 1), id="sqlite-sync"),
        pytest.param(("redis", 1), id="redis-sync", marks=pytest.mark.redis),
        pytest.param(("sqlite", 4), id="sqlite-gthread"),
        pytest.param(("redis", 4), id="redis-gthread", marks=pytest.mark.redis),
    ],
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    kind, threads = request.param
    tmp = tmp_path_factory.mktemp(f"load-{kind}-{threads}")
    store: ServerStore
    if kind == "sqlite":
        database = tmp / "sessions.db"
        env = {"HW_LOAD_STORE": f"sqlite:{database}"}
        store = SQLiteStore(database)
    else:
        url = request.getfixturevalue("private_redis").url
        env = {"HW_LOAD_STORE": url}
        store = RedisStore(url, prefix="hw-load:")
    label = f"{kind}, 2 {'sync' if threads == 1 else f'gthread x{threads}'} workers"
    with gunicorn(tmp, env, workers=2, threads=threads) as server:
        yield Deployment(server, store, label)


def test_wrk_mix_without_errors(deployment: Deployment, record_property: Any) -> None:
    result = run_wrk(deployment.server.port, MIX, seconds=3, connections=8, threads=2)
    print(
        f"\nwrk {deployment.label}: {result.rps:.0f} req/s, {result.requests} requests, "
        f"{result.errors} errors, statuses {result.statuses}"
    )
    record_property("requests_per_second", result.rps)
    record_property("requests", result.requests)
    assert result.requests >= 100, result.output  # a real load, not a stalled server
    assert result.non_2xx_3xx == 0, result.output
    assert result.errors == 0, result.output
    assert result.read_errors == 0, result.output
    assert result.statuses == {200: result.requests}, result.output


def count_to(port: int, start: threading.Barrier) -> tuple[str, list[str], list[str]]:
    """One client: increment its own session counter INCREMENTS times, in sequence."""
    client = Client(port)
    start.wait(timeout=10)
    seen: list[str] = []
    workers: list[str] = []
    for _ in range(INCREMENTS):
        reply = client.get("/count")
        seen.append(reply.body.decode() if reply.status == 200 else f"HTTP {reply.status}")
        workers.append(reply.headers.get("X-Worker-Pid", ""))
    return client.jar.get("session", ""), seen, workers


def test_no_lost_writes_across_workers(deployment: Deployment) -> None:
    """16 clients at once, each counting to 25 on its own session: all end at 25."""
    start = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(count_to, deployment.server.port, start) for _ in range(CLIENTS)]
        results = [future.result(timeout=60) for future in futures]
    expected = [str(n) for n in range(1, INCREMENTS + 1)]
    for _, seen, _ in results:
        assert seen == expected  # every read saw the previous write, whichever worker
    # The sessions really moved between worker processes.
    pids = {pid for _, _, workers in results for pid in workers}
    handoffs = sum(a != b for _, _, workers in results for a, b in itertools.pairwise(workers))
    assert len(pids) == 2 and handoffs > 0, (pids, handoffs)
    # And the store itself holds each counter at exactly INCREMENTS.
    signer = CookieSigner([SECRET_KEY], salt="headerware.session.id")
    finals = []
    for cookie, _, _ in results:
        session_id = signer.unsign(cookie)
        assert session_id is not None, "the session cookie must be the signed id"
        text = deployment.store.get(storage_key(session_id))
        assert text is not None
        finals.append(json.loads(text)["d"]["n"])
    assert len({cookie for cookie, _, _ in results}) == CLIENTS  # 16 distinct sessions
    assert finals == [INCREMENTS] * CLIENTS
    print(
        f"\ncounters {deployment.label}: {CLIENTS} sessions x {INCREMENTS} increments, "
        f"all at {INCREMENTS}; {handoffs} hand-offs between the 2 workers"
    )
