"""Real servers for the load and fault tests: gunicorn, redis-server and wrk, on 127.0.0.1.

Every server is started in its own process group and stopped in ``finally`` by its
process id; every wait has a deadline. A binary that is missing skips the test on a
developer's machine and fails it when ``CI`` is set (CI installs them).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "mix.lua"
HOST = "127.0.0.1"


def require(binary: str) -> str:
    """The path of ``binary``; skip without it locally, fail without it in CI."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not installed (apt-get install {binary})"
        if os.environ.get("CI"):
            pytest.fail(message + ", but CI is set: .ci/run must install it")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate()`` every 50 ms until true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _stop_group(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it after ``grace`` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


# -- HTTP ----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float


@dataclass
class Client:
    """One browser-like client on one port: its own cookie jar (name -> value)."""

    port: int
    jar: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if self.jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        start = time.monotonic()
        try:
            connection.request("GET", path, headers=sent)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        seconds = time.monotonic() - start
        for line in response.headers.get_all("Set-Cookie") or []:
            pair = line.split(";", 1)[0]
            name, _, value = pair.partition("=")
            if "max-age=0" in line.lower() or not value:
                self.jar.pop(name.strip(), None)
            else:
                self.jar[name.strip()] = value.strip()
        return Reply(response.status, response.headers, body, seconds)


# -- gunicorn ------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> Client:
        return Client(self.port)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(
    tmp: Path,
    env: Mapping[str, str],
    *,
    workers: int = 2,
    threads: int = 1,
    app: str = "tests.load.app:app",
) -> Iterator[Server]:
    """gunicorn serving ``app`` on a free port of 127.0.0.1; always stopped on exit."""
    if importlib.util.find_spec("gunicorn") is None:
        pytest.skip("gunicorn is not installed (pip install -e '.[dev]')")
    port = free_port()
    log = tmp / f"gunicorn-{port}.log"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "30",
        "--graceful-timeout",
        "2",
        "--log-level",
        "info",
        # No shared ~/.gunicorn/gunicorn.ctl: other servers may run at the same time.
        "--no-control-socket",
        app,
    ]
    if threads > 1:
        command[3:3] = ["--worker-class", "gthread", "--threads", str(threads)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{server.log_text()}")
            try:
                return server.client().get("/").status == 200
            except OSError:
                return False

        wait_for(ready, 20, "gunicorn to answer GET /")
        # Every worker booted (the first answer may come before the second is up).
        wait_for(lambda: server.log_text().count("Booting worker") >= workers, 10, "all workers")
        yield server
    finally:
        _stop_group(process)


def booted_workers(server: Server) -> int:
    """How many workers gunicorn booted so far (a crashed worker is replaced: +1)."""
    return server.log_text().count("Booting worker")


# -- redis-server --------------------------------------------------------------------


@dataclass
class Redis:
    port: int
    directory: Path
    pidfile: Path

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        subprocess.run(
            [
                require("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--pidfile",
                str(self.pidfile),
                "--daemonize",
                "yes",
                "--loglevel",
                "warning",
            ],
            check=True,
            timeout=10,
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.ping, 10, f"redis-server on port {self.port}")

    def stop(self, *, save: bool = False) -> None:
        """Stop this server: ``SHUTDOWN SAVE`` (data kept for a restart) or SIGTERM."""
        pid = self._pid()
        if pid is None:
            return
        if save:
            with socket.create_connection((HOST, self.port), timeout=2) as sock:
                sock.sendall(b"SHUTDOWN SAVE\r\n")
                sock.settimeout(5)
                with contextlib.suppress(OSError):
                    sock.recv(64)  # the server closes the connection when it exits
        else:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
        wait_for(lambda: not _alive(pid), 10, f"redis-server {pid} to exit")

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP this server (up, but answering nothing) for the block; SIGCONT after."""
        pid = self._pid()
        assert pid is not None, "redis-server is not running"
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - not ours
        return True
    # A zombie child of a daemonized server is not ours to reap; treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextmanager
def redis_server(tmp: Path) -> Iterator[Redis]:
    """A private redis-server on a free port (never the shared CI one); always stopped."""
    require("redis-server")
    directory = tmp / "redis"
    directory.mkdir(exist_ok=True)
    server = Redis(free_port(), directory, directory / "redis.pid")
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- wrk -----------------------------------------------------------------------------

_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(m?s)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_STATUS = re.compile(r"^status (\d{3}) (\d+)$", re.MULTILINE)


@dataclass
class WrkResult:
    requests: int
    rps: float
    non_2xx_3xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    statuses: dict[int, int]
    output: str

    @property
    def errors(self) -> int:
        """Failed requests: bad statuses, refused/failed connections and timeouts.

        Read errors are left out: gunicorn's sync workers close the connection after
        every response and wrk counts those closes as read errors (gthread workers
        keep connections alive; see the gthread test, where they must be 0).
        """
        return self.non_2xx_3xx + self.connect_errors + self.write_errors + self.timeouts


def parse_wrk(output: str) -> WrkResult:
    """The figures of one wrk run, from its text output and the mix.lua summary."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    if rps is None or total is None:
        raise AssertionError(f"unexpected wrk output:\n{output}")
    non = _NON2XX.search(output)
    sock = _SOCKET.search(output)
    connect, read, write, timeout = (int(x) for x in sock.groups()) if sock else (0, 0, 0, 0)
    return WrkResult(
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        non_2xx_3xx=int(non.group(1)) if non else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeout,
        statuses={int(code): int(n) for code, n in _STATUS.findall(output)},
        output=output,
    )


def start_wrk(
    port: int, paths: list[str], *, seconds: int = 3, connections: int = 8, threads: int = 2
) -> subprocess.Popen[str]:
    """wrk against ``paths`` in rotation (mix.lua) for ``seconds``; see :func:`finish_wrk`."""
    return subprocess.Popen(
        [
            require("wrk"),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(WRK_SCRIPT),
            f"http://{HOST}:{port}",
        ],
        env={**os.environ, "HW_WRK_PATHS": ",".join(paths)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish_wrk(process: subprocess.Popen[str], seconds: int = 3) -> WrkResult:
    """Wait (bounded) for a wrk run and parse it; kills wrk if it overruns."""
    try:
        output, _ = process.communicate(timeout=seconds + 20)
    except subprocess.TimeoutExpired:
        _stop_group(process)  # type: ignore[arg-type]
        raise AssertionError("wrk did not finish in time") from None
    assert process.returncode == 0, f"wrk failed:\n{output}"
    return parse_wrk(output)


def run_wrk(port: int, paths: list[str], *, seconds: int = 3, **options: int) -> WrkResult:
    process = start_wrk(port, paths, seconds=seconds, **options)
    try:
        return finish_wrk(process, seconds)
    finally:
        _stop_group(process)  # type: ignore[arg-type]
