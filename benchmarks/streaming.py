"""Streaming: a 200 MB body in 64 KB chunks through the full stack.

* Peak RSS growth, measured in a fresh subprocess per variant: the peak-RSS counter is
  reset (``/proc/self/clear_refs``) after start-up, the whole body is streamed through
  and consumed, then ``VmHWM`` is read; growth = peak after - RSS before. A stack that
  buffered the body would grow by ~200 MB.
* Time to first byte versus the bare app, interleaved in-process: from calling the app
  to receiving the first chunk (then the rest is abandoned and the body closed).
* ``wsgi.file_wrapper``: the object the app returns must come out of the stack as is
  (that is what lets a server use sendfile).

Run alone: ``python -m benchmarks.streaming``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import FileWrapper

from . import apps
from .harness import Environ, Unavailable, WSGIApp, environ_maker

TOTAL = 200 * 1024 * 1024
CHUNK = 64 * 1024
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def streaming_app(total: int = TOTAL, chunk: int = CHUNK) -> WSGIApp:
    """A generator app streaming ``total`` bytes in ``chunk``-sized pieces."""
    piece = b"x" * chunk
    count = total // chunk

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        def generate() -> Iterator[bytes]:
            start_response(
                "200 OK",
                [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Length", str(count * chunk)),
                ],
            )
            for _ in range(count):
                yield piece

        return generate()

    return app


def build(variant: str, app: WSGIApp) -> WSGIApp:
    """``bare`` or ``full`` (the full default stack) around ``app``."""
    if variant == "bare":
        return app
    if variant == "full":
        return apps.hw_stack(apps.full_stack(), app)
    raise ValueError(variant)


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _noop_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return lambda data: None


def child(variant: str, total: int, chunk: int) -> dict[str, Any]:
    """Run in the subprocess: stream ``total`` bytes through ``variant``; memory figures."""
    app = build(variant, streaming_app(total, chunk))
    make = environ_maker()
    # Warm up every code path (imports, lazy parsing) on a small body first.
    small = build(variant, streaming_app(chunk * 4, chunk))
    for _ in range(3):
        body = small(make(), _noop_start_response)
        for _piece in body:
            pass
        getattr(body, "close", lambda: None)()
    rss_before = _status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # reset the peak-RSS counter (VmHWM) to the current RSS
        reset = True
    except OSError:
        reset = False
    hwm_before = _status_kib("VmHWM")
    received = 0
    start = time.perf_counter()
    body = app(make(), _noop_start_response)
    try:
        for piece in body:
            received += len(piece)
    finally:
        getattr(body, "close", lambda: None)()
    seconds = time.perf_counter() - start
    hwm_after = _status_kib("VmHWM")
    return {
        "variant": variant,
        "bytes": received,
        "seconds": round(seconds, 4),
        "rss_before_kib": rss_before,
        "hwm_before_kib": hwm_before,
        "hwm_after_kib": hwm_after,
        "peak_reset": reset,
        "growth_kib": max(0, hwm_after - (rss_before if reset else hwm_before)),
    }


def measure_memory(variant: str, total: int = TOTAL, chunk: int = CHUNK) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter and return its figures."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.streaming", "--child", variant, str(total), str(chunk)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        return {"variant": variant, "error": proc.stderr.strip().splitlines()[-1:]}
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def measure_ttfb(samples: int = 200) -> dict[str, Any]:
    """Median time to first byte of bare and full, interleaved, in microseconds."""
    variants = {name: build(name, streaming_app()) for name in ("bare", "full")}
    make = environ_maker()
    times: dict[str, list[float]] = {name: [] for name in variants}
    perf = time.perf_counter
    for _ in range(samples):
        for name, app in variants.items():
            environ = make()
            start = perf()
            body = app(environ, _noop_start_response)
            iterator = iter(body)
            next(iterator)
            elapsed = perf() - start
            getattr(body, "close", lambda: None)()
            times[name].append(elapsed * 1e6)
    out: dict[str, Any] = {}
    for name, values in times.items():
        ordered = sorted(values)
        out[name] = {
            "median_us": round(statistics.median(values), 2),
            "p10_us": round(ordered[len(ordered) // 10], 2),
            "p90_us": round(ordered[(len(ordered) * 9) // 10], 2),
        }
    return out


def check_file_wrapper() -> dict[str, Any]:
    """Does the object from ``wsgi.file_wrapper`` come out of the stack unchanged?"""
    returned: list[Any] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        wrapper = environ["wsgi.file_wrapper"](open(path, "rb"), CHUNK)  # noqa: SIM115
        returned.append(wrapper)
        return wrapper  # type: ignore[no-any-return]

    out: dict[str, Any] = {}
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"y" * (CHUNK * 2))
        path = f.name
    try:
        stacks = {"full": lambda: build("full", app)}
        try:
            stacks["full+caching"] = lambda: apps.hw_stack(
                [*apps.full_stack(), apps.caching()], app
            )
            apps.caching()
        except Unavailable:
            stacks.pop("full+caching")
        for name, make_stack in stacks.items():
            returned.clear()
            environ = environ_maker(**{"wsgi.file_wrapper": FileWrapper})()
            body = make_stack()(environ, _noop_start_response)
            out[name] = bool(returned) and body is returned[0]
            getattr(body, "close", lambda: None)()
    finally:
        os.unlink(path)
    return out


def run(ttfb_samples: int = 200, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """All streaming checks; ``{"status": "unavailable", ...}`` without the full stack."""
    try:
        apps.full_stack()
    except Unavailable as exc:
        return {"status": "unavailable", "reason": str(exc)}
    if progress:
        progress("  streaming: peak RSS in subprocesses")
    memory = {name: measure_memory(name) for name in ("bare", "full")}
    if progress:
        progress("  streaming: time to first byte")
    return {
        "status": "ok",
        "total_bytes": TOTAL,
        "chunk_bytes": CHUNK,
        "memory": memory,
        "ttfb": measure_ttfb(ttfb_samples),
        "file_wrapper_identity": check_file_wrapper(),
    }


def markdown(data: dict[str, Any]) -> str:
    if data.get("status") != "ok":
        return f"Streaming: not available yet ({data.get('reason')})\n"
    lines = [
        f"### Streaming {data['total_bytes'] // 2**20} MB "
        f"in {data['chunk_bytes'] // 1024} KB chunks",
        "",
        "| variant | peak RSS growth KiB | stream time s | TTFB median µs (p10-p90) |",
        "|---|---:|---:|---:|",
    ]
    for name in ("bare", "full"):
        mem = data["memory"][name]
        ttfb = data["ttfb"][name]
        lines.append(
            f"| {name} | {mem.get('growth_kib', mem.get('error'))} | {mem.get('seconds', '—')} | "
            f"{ttfb['median_us']} ({ttfb['p10_us']}-{ttfb['p90_us']}) |"
        )
    identity = ", ".join(
        f"{k}: {'kept' if v else 'LOST'}" for k, v in data["file_wrapper_identity"].items()
    )
    lines += ["", f"`wsgi.file_wrapper` identity — {identity}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        result = run(progress=print)
        print(markdown(result))
