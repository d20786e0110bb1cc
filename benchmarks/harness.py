"""The in-process measurement harness: interleaved rounds, medians, spreads, ratios.

A :class:`Variant` is one WSGI application plus the request it is measured on. Its
``build()`` returns a :class:`Prepared` (the app and a function that makes a fresh
environ for each request) or raises :class:`Unavailable` (a headerware layer that
does not exist yet, a peer that is not installed): the variant is then reported as
a "not available" row instead of stopping the run.

:func:`run_interleaved` measures every variant in rounds, A B C A B C ...: in each
round every variant runs one batch of requests and contributes one sample (the
batch time divided by its size). Noise from the machine (other processes, CPU
frequency) hits every variant of a round alike, so per-round differences against
the variant's baseline are much steadier than absolute times. A variant's
*overhead* is the median over rounds of ``sample(variant) - sample(baseline)``. Each
sample is the fastest of a few back-to-back batches (``repeat``), which filters out the
batches another process's time slice landed in.
Every request calls the app, consumes the whole body and closes it.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


class Unavailable(Exception):
    """A variant cannot be built here (module not written yet, peer not installed)."""


@dataclass
class Prepared:
    """A built variant: the application and a maker of fresh per-request environs."""

    app: WSGIApp
    make_environ: Callable[[], Environ]
    #: Checked once before timing: the status the request must get (catches a
    #: misconfigured variant that would be measured answering 403 or 500).
    expect_status: str | None = "200"
    #: Optional extra check of the response (status, headers, body) returning a problem
    #: or None, e.g. "the CSP carries a nonce", "the session was read".
    check: Callable[[str, list[tuple[str, str]], bytes], str | None] | None = None
    #: A variant that is not a WSGI app (``benchmarks.asgi``) brings its own timer: a
    #: maker of ``batch(n) -> seconds`` and one checked request ``() -> (status,
    #: headers, body)``; ``app`` and ``make_environ`` are then unused by the harness.
    make_batch: Callable[[], Callable[[int], float]] | None = None
    probe: Callable[[], tuple[str, list[tuple[str, str]], bytes]] | None = None


@dataclass
class Variant:
    """One measured application + request."""

    name: str
    build: Callable[[], Prepared]
    #: Name of the variant whose per-round time is subtracted to get the overhead.
    baseline: str | None = None
    group: str = ""
    kind: str = "get"
    note: str = ""


@dataclass
class Result:
    """Statistics of one variant over the run (times in microseconds per request)."""

    name: str
    group: str
    kind: str
    baseline: str | None
    note: str
    status: str = "ok"  # "ok" | "unavailable" | "error"
    reason: str = ""
    batch: int = 0
    samples: list[float] = field(default_factory=list)
    median: float | None = None
    p10: float | None = None
    p90: float | None = None
    q1: float | None = None
    q3: float | None = None
    overhead: float | None = None
    overhead_p10: float | None = None
    overhead_p90: float | None = None
    ratio: float | None = None  # median / baseline median

    def as_dict(self, with_samples: bool = False) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "samples"}
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 4)
        if with_samples:
            data["samples"] = [round(s, 4) for s in self.samples]
        return data


# -- requests ----------------------------------------------------------------------------

BASE_ENVIRON: Environ = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "localhost",
    "SERVER_PORT": "443",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "localhost",
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) benchmark",
    "HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.9",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
    "wsgi.version": (1, 0),
    # HTTPS, as in production: HSTS is sent and flask-talisman does not redirect.
    "wsgi.url_scheme": "https",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": False,
    "wsgi.run_once": False,
}


def environ_maker(body: bytes = b"", **extra: Any) -> Callable[[], Environ]:
    """A function returning a fresh environ (copy of a fixed template) per request."""
    template = dict(BASE_ENVIRON)
    template.update(extra)
    if body:
        template["CONTENT_LENGTH"] = str(len(body))

    def make() -> Environ:
        environ = template.copy()
        environ["wsgi.input"] = io.BytesIO(body)
        return environ

    return make


class _StartResponse:
    """A server-side ``start_response`` that records the last status and headers."""

    __slots__ = ("headers", "status")

    def __init__(self) -> None:
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = status
        self.headers = headers
        return _write


def _write(data: bytes) -> None:
    pass


def request(app: WSGIApp, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """One full request: status, headers and body (for checks, not for timing)."""
    start_response = _StartResponse()
    body = app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return start_response.status, start_response.headers, data


#: The clock batches are timed with. ``time.thread_time`` (``--cpu-clock``) leaves out
#: the time the process spends descheduled: steadier on a loaded machine, but blind to
#: work done off the thread.
CLOCK: Callable[[], float] = time.perf_counter


def _make_batch(prepared: Prepared) -> Callable[[int], float]:
    """A function timing ``n`` requests; returns seconds for the whole batch."""
    if prepared.make_batch is not None:
        return prepared.make_batch()
    app = prepared.app
    make_environ = prepared.make_environ
    start_response = _StartResponse()
    perf = CLOCK

    def batch(n: int) -> float:
        environs = [make_environ() for _ in range(n)]
        start = perf()
        for environ in environs:
            body = app(environ, start_response)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return perf() - start

    return batch


# -- running -----------------------------------------------------------------------------


def _percentile(data: Sequence[float], q: float) -> float:
    ordered = sorted(data)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def prepare(variant: Variant) -> tuple[Prepared | None, Result]:
    """Build and check one variant; an unavailable or broken one gets a result row."""
    result = Result(variant.name, variant.group, variant.kind, variant.baseline, variant.note)
    try:
        prepared = variant.build()
    except Unavailable as exc:
        result.status, result.reason = "unavailable", str(exc)
        return None, result
    except Exception as exc:  # a broken variant is reported, not fatal
        result.status, result.reason = "error", f"build failed: {type(exc).__name__}: {exc}"
        return None, result
    try:
        if prepared.probe is not None:
            status, headers, body = prepared.probe()
        else:
            status, headers, body = request(prepared.app, prepared.make_environ())
    except Exception as exc:
        result.status, result.reason = "error", f"request failed: {type(exc).__name__}: {exc}"
        return None, result
    problem = None
    if prepared.expect_status and not status.startswith(prepared.expect_status):
        problem = f"answered {status!r}, expected {prepared.expect_status}"
    elif prepared.check is not None:
        problem = prepared.check(status, headers, body)
    if problem:
        result.status, result.reason = "error", problem
        return None, result
    return prepared, result


def run_interleaved(
    variants: Sequence[Variant],
    *,
    rounds: int = 40,
    batch_seconds: float = 0.001,
    repeat: int = 3,
    warmup: int = 200,
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Measure ``variants`` in ``rounds`` interleaved rounds; return one result each.

    A round's sample of a variant is the fastest of ``repeat`` back-to-back batches:
    on a shared machine a batch is often slowed by another process being scheduled,
    never sped up, so the minimum of a few is the steadiest estimate of the cost.
    """
    results: list[Result] = []
    runners: list[tuple[Result, Callable[[int], float]]] = []
    for variant in variants:
        prepared, result = prepare(variant)
        results.append(result)
        if prepared is None:
            if progress:
                progress(f"  {variant.name}: {result.status} ({result.reason})")
            continue
        batch = _make_batch(prepared)
        batch(warmup)
        # Calibrate: a batch long enough for the timer, short enough to interleave.
        n = 1
        while True:
            elapsed = batch(n)
            if elapsed >= batch_seconds / 4 or n >= 1_000_000:
                break
            n *= 2
        result.batch = max(1, int(n * batch_seconds / max(elapsed, 1e-9)))
        runners.append((result, batch))

    gc_was_enabled = gc.isenabled()
    try:
        for index in range(rounds):
            gc.collect()
            gc.disable()
            for result, batch in runners:
                size = result.batch
                best = min(batch(size) for _ in range(repeat))
                result.samples.append(best / size * 1e6)
            if gc_was_enabled:
                gc.enable()
            if progress and (index + 1) % max(1, rounds // 5) == 0:
                progress(f"  round {index + 1}/{rounds}")
    finally:
        if gc_was_enabled:
            gc.enable()

    by_name = {r.name: r for r in results}
    for result in results:
        if not result.samples:
            continue
        s = result.samples
        result.median = statistics.median(s)
        result.p10, result.p90 = _percentile(s, 0.1), _percentile(s, 0.9)
        result.q1, result.q3 = _percentile(s, 0.25), _percentile(s, 0.75)
    for result in results:
        base = by_name.get(result.baseline) if result.baseline else None
        if not result.samples or base is None or not base.samples:
            continue
        diffs = [a - b for a, b in zip(result.samples, base.samples, strict=True)]
        result.overhead = statistics.median(diffs)
        result.overhead_p10 = _percentile(diffs, 0.1)
        result.overhead_p90 = _percentile(diffs, 0.9)
        assert result.median is not None and base.median is not None
        result.ratio = result.median / base.median
    return results


def select(variants: Sequence[Variant], only: str | None) -> list[Variant]:
    """Variants whose name matches ``only`` (substring, case-insensitive), with baselines."""
    if not only:
        return list(variants)
    patterns = [p.strip().lower() for p in only.split(",") if p.strip()]
    wanted = {v.name for v in variants if any(p in v.name.lower() for p in patterns)}
    by_name = {v.name: v for v in variants}
    for name in list(wanted):
        base = by_name[name].baseline
        while base and base in by_name and base not in wanted:
            wanted.add(base)
            base = by_name[base].baseline
    return [v for v in variants if v.name in wanted]


# -- reporting ---------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    """A number for the table, or an em dash."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}{suffix}"


def markdown_table(results: Sequence[Result], title: str = "") -> str:
    """The results as a Markdown table, grouped in the order given."""
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines += [
        "| variant | request | median µs | p10-p90 µs | overhead µs (p10-p90) | x baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    group = None
    for r in results:
        if r.group != group:
            group = r.group
            if group:
                lines.append(f"| **{group}** | | | | | |")
        if r.status != "ok":
            label = "not available yet" if r.status == "unavailable" else "error"
            lines.append(f"| {r.name} | {r.kind} | {label}: {r.reason} | | | |")
            continue
        spread = f"{fmt(r.p10)}-{fmt(r.p90)}"
        if r.overhead is None:
            over = "(baseline)"
        else:
            over = f"{r.overhead:+.2f} ({fmt(r.overhead_p10)}…{fmt(r.overhead_p90)})"
        lines.append(
            f"| {r.name} | {r.kind} | {fmt(r.median)} | {spread} | {over} | {fmt(r.ratio)} |"
        )
    return "\n".join(lines) + "\n"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with contextlib.suppress(OSError):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    versions: dict[str, str | None] = {}
    for package in (
        "werkzeug",
        "itsdangerous",
        "flask",
        "flask-talisman",
        "flask-cors",
        "flask-wtf",
        "secure",
        "gunicorn",
        "starlette",
        "uvicorn",
    ):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    info["packages"] = versions
    with contextlib.suppress(OSError):
        info["git"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    return info


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, creating the directory."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=str)
        f.write("\n")
