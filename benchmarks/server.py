"""Under a real server: gunicorn (sync workers) + wrk, on 127.0.0.1 only.

Every app gets its own gunicorn (one sync worker, a free port) started up front; then
wrk runs against them in alternation, A B C A B C, for a bounded time each, so a slow
moment of the machine hits every variant. Reported: requests/s per run, the median,
and the per-round ratio to the bare app of the same framework. Every server started
here is stopped here (terminate, then kill), whatever happens.

Run alone: ``python -m benchmarks.server``.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from . import apps
from .harness import Unavailable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: (variant, baseline) in the order they are alternated. ``*-bare-again`` is a second
#: server of the bare app: its ratio to the first is the run's own noise.
#: ``wsgi-same-headers`` adds, by hand, exactly the headers the full stack adds: what the
#: server itself pays to send them (gunicorn validates every header it writes).
VARIANTS: tuple[tuple[str, str | None], ...] = (
    ("wsgi-bare", None),
    ("wsgi-full", "wsgi-bare"),
    ("wsgi-same-headers", "wsgi-bare"),
    ("wsgi-bare-again", "wsgi-bare"),
    ("flask-bare", None),
    ("flask-full", "flask-bare"),
    ("flask-talisman", "flask-bare"),
    ("flask-bare-again", "flask-bare"),
)


def _app_name(variant: str) -> str:
    return variant.removesuffix("-again")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(name: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            REPO,
            "--log-level",
            "warning",
            f'benchmarks.apps:server_app("{name}")',
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"gunicorn exited: {err.strip()[-500:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def run_wrk(url: str, seconds: float, connections: int = 4) -> dict[str, Any]:
    proc = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    out = proc.stdout
    match = _RPS.search(out)
    non2xx = _NON2XX.search(out)
    sock = _SOCKET.search(out)
    return {
        "rps": float(match.group(1)) if match else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        # Sync workers close every connection: wrk's "read" errors are those closes.
        "socket_errors": [int(x) for x in sock.groups()] if sock else [0, 0, 0, 0],
    }


def run(
    *,
    rounds: int = 3,
    seconds: float = 5.0,
    only: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Alternate wrk runs over the variants; medians and ratios to bare."""
    if shutil.which("wrk") is None:
        return {"status": "unavailable", "reason": "wrk is not installed (apt-get install wrk)"}
    selected = [(n, b) for n, b in VARIANTS if only is None or n in only]
    rows: dict[str, dict[str, Any]] = {}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, base in selected:
            row: dict[str, Any] = {"name": name, "baseline": base, "runs": []}
            rows[name] = row
            try:
                apps.server_app(_app_name(name))  # fails fast, in-process, for a missing layer
            except Unavailable as exc:
                row["status"], row["reason"] = "unavailable", str(exc)
                continue
            port = free_port()
            procs[name] = start_gunicorn(_app_name(name), port)
            row["url"] = f"http://127.0.0.1:{port}/"
        for name, proc in procs.items():
            try:
                wait_ready(rows[name]["url"], proc)
                rows[name]["status"] = "ok"
            except RuntimeError as exc:
                rows[name]["status"], rows[name]["reason"] = "error", str(exc)
        live = [name for name in rows if rows[name].get("status") == "ok"]
        for index in range(rounds):
            for name in live:
                rows[name]["runs"].append(run_wrk(rows[name]["url"], seconds))
            if progress:
                progress(f"  wrk round {index + 1}/{rounds}")
    finally:
        for proc in procs.values():
            stop(proc)

    for row in rows.values():
        rps = [r["rps"] for r in row["runs"] if r["rps"] is not None]
        row["rps"] = rps
        row["median_rps"] = statistics.median(rps) if rps else None
        row["non_2xx"] = sum(r["non_2xx"] for r in row["runs"])
    for row in rows.values():
        base = rows.get(row["baseline"]) if row["baseline"] else None
        if base and row["rps"] and base["rps"]:
            ratios = [a / b for a, b in zip(row["rps"], base["rps"], strict=False)]
            row["ratios"] = [round(r, 3) for r in ratios]
            row["ratio"] = statistics.median(ratios)
    for row in rows.values():
        # The run's own noise: how far a second server of the same bare app strays
        # from the first in the same rounds.
        control = rows.get(f"{row['baseline']}-again") if row["baseline"] else None
        if control and control.get("ratios"):
            row["noise"] = max(abs(1 - r) for r in control["ratios"])
    return {
        "status": "ok",
        "rounds": rounds,
        "seconds": seconds,
        "workers": 1,
        "connections": 4,
        "variants": list(rows.values()),
    }


def markdown(data: dict[str, Any]) -> str:
    if data.get("status") != "ok":
        return f"gunicorn + wrk: not available ({data.get('reason')})\n"
    lines = [
        f"### gunicorn (1 sync worker) + wrk (1 thread, 4 connections), "
        f"{data['rounds']} alternated rounds x {data['seconds']:g} s",
        "",
        "| app | requests/s per round | median req/s | ratio to bare (per round) | non-2xx |",
        "|---|---|---:|---:|---:|",
    ]
    for row in data["variants"]:
        if row.get("status") != "ok":
            lines.append(f"| {row['name']} | {row.get('status')}: {row.get('reason')} | | | |")
            continue
        runs = ", ".join(f"{x:.0f}" for x in row["rps"])
        ratio = (
            f"{row['ratio']:.3f} ({', '.join(map(str, row['ratios']))})" if "ratio" in row else "—"
        )
        median = f"{row['median_rps']:.0f}" if row["median_rps"] else "—"
        lines.append(f"| {row['name']} | {runs} | {median} | {ratio} | {row['non_2xx']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(run(progress=print)))
