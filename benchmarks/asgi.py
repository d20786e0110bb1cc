"""ASGI (issue 13): a Starlette hello app bare, under Starlette's own middlewares plus
secure.py's headers (the peers), and under headerware's ``ASGIStack``.

In-process, each request calls the ASGI application directly with a fresh copy of a
fixed scope, a ``receive`` that returns the (empty) request body and a ``send`` that
drops what it gets: no HTTP client, no server, so only the application and its
middlewares are timed. Every call runs to completion without suspending (nothing
awaits I/O), so a batch of ``n`` requests is one coroutine on one event loop, timed
inside the coroutine. The variants go through the same interleaved rounds as the
WSGI suite (:func:`benchmarks.harness.run_interleaved`).

The requests (``asgi.<kind>.<what>``):

``get``      ``GET /`` over HTTPS with a browser's Accept headers (HTML page)
``cors``     ``GET /api/data`` with ``Origin: https://app.example.com`` (JSON)
``session``  ``GET /dashboard`` with a signed ``username`` cookie and a session cookie
             valid for the variant (Starlette's or headerware's); the view reads
             ``user_id`` from the session

``peers`` is what a Starlette user would add: ``TrustedHostMiddleware``,
``CORSMiddleware`` (the same origin, credentials), ``SessionMiddleware`` (the same
secret) and ``secure.Secure.with_default_headers()`` applied to
``http.response.start`` by a minimal wrapper (:class:`SecureHeaders`: the headers
encoded once, the app's own values of those names replaced). secure 2.0 also ships
``secure.middleware.SecureASGIMiddleware``; ``peers-secure-asgi`` uses it instead.
``hw-full`` is the WSGI suite's full default stack (security headers, CSP with a
per-request nonce, CORS, cookie policy, signed cookies, cookie sessions) plus
``TrustedHosts``, as one ``headerware.ASGIStack`` around the same Starlette app.

``python -m benchmarks.asgi`` prints the table and the target verdicts;
``python -m benchmarks.asgi --load`` serves bare / peers / headerware with uvicorn on
127.0.0.1 and drives each with ``wrk`` for a bounded time, in alternation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import apps, harness, inprocess, server
from .harness import Prepared, Result, Unavailable, Variant, markdown_table, run_interleaved

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Any], Awaitable[None]]
Check = Callable[[str, list[tuple[str, str]], bytes], str | None]
Reader = Callable[[Any], Any]

#: Hosts the Host check accepts: the in-process requests say ``localhost``, wrk says
#: ``127.0.0.1:<port>``.
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]

BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"host", b"localhost"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) benchmark"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-GB,en;q=0.9"),
    (b"accept-encoding", b"gzip, deflate, br"),
]


# -- the Starlette app -------------------------------------------------------------------


def _starlette() -> Any:
    try:
        import starlette
    except ImportError as exc:
        raise Unavailable("starlette is not installed") from exc
    return starlette


def make_starlette_app(
    *,
    middleware: list[Any] | None = None,
    read_user: Reader | None = None,
    write_user: Callable[[Any], None] | None = None,
) -> Any:
    """The Starlette hello app; ``read_user(request)`` is how the dashboard reads the
    session (Starlette's ``request.session`` or headerware's ``get_session``).

    The views are ``async def``: a sync view would run in a thread, and that thread hop
    (not the middlewares) would be most of what is measured.
    """
    _starlette()
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def index(request: Any) -> Any:
        return HTMLResponse("Hello, World!")

    async def data(request: Any) -> Any:
        return JSONResponse({"message": "Hello JSON!"})

    async def dashboard(request: Any) -> Any:
        user = read_user(request) if read_user else None
        return PlainTextResponse(f"Welcome user #{user}")

    async def login(request: Any) -> Any:
        if write_user:
            write_user(request)
        return PlainTextResponse("Logged in")

    routes = [
        Route("/", index),
        Route("/api/data", data, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/dashboard", dashboard),
        Route("/login", login),
    ]
    return Starlette(routes=routes, middleware=middleware or [])


def starlette_session_reader(request: Any) -> Any:
    return request.session.get("user_id")


def starlette_session_writer(request: Any) -> None:
    request.session["user_id"] = 42


def hw_session_reader(request: Any) -> Any:
    from headerware.session_data import get_session

    return get_session(request.scope).get("user_id")


def hw_session_writer(request: Any) -> None:
    from headerware.session_data import get_session

    get_session(request.scope)["user_id"] = 42


# -- the peers ---------------------------------------------------------------------------


class SecureHeaders:
    """secure.py's default headers on every HTTP response: a minimal ASGI wrapper.

    The header list is encoded once; on ``http.response.start`` the app's own values of
    those names are dropped and secure's appended (what ``Secure.set_headers`` does to
    a response object).
    """

    def __init__(self, app: ASGIApp) -> None:
        import secure

        self.app = app
        headers = secure.Secure.with_default_headers().headers
        self.extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.items()
        ]
        self.names = frozenset(name for name, _ in self.extra)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra, names = self.extra, self.names

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() not in names]
                message["headers"] = kept + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secure_asgi() -> Any:
    try:
        from secure.middleware import SecureASGIMiddleware
    except ImportError as exc:
        raise Unavailable("secure >= 2.0 (secure.middleware.SecureASGIMiddleware) missing") from exc
    return SecureASGIMiddleware


def peer_middleware(
    *,
    cors: bool = False,
    session: bool = False,
    hosts: bool = False,
    secure: str | None = None,
) -> list[Any]:
    """Starlette ``Middleware`` entries, outermost first; ``secure`` is ``"minimal"``
    (:class:`SecureHeaders`) or ``"shipped"`` (secure's ``SecureASGIMiddleware``)."""
    _starlette()
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    out: list[Any] = []
    if secure == "minimal":
        out.append(Middleware(SecureHeaders))
    elif secure == "shipped":
        out.append(Middleware(_secure_asgi()))
    if hosts:
        out.append(Middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS))
    if cors:
        out.append(
            Middleware(
                CORSMiddleware,
                allow_origins=[apps.ALLOWED_ORIGIN],
                allow_credentials=True,
                allow_methods=["GET", "POST", "PUT", "DELETE"],
                allow_headers=["Content-Type", "Authorization"],
            )
        )
    if session:
        out.append(Middleware(SessionMiddleware, secret_key=apps.SECRET_KEY, https_only=True))
    return out


def peers_app(secure: str = "minimal") -> Any:
    """The Starlette app under the whole peer stack, its view reading Starlette's session."""
    return make_starlette_app(
        middleware=peer_middleware(cors=True, session=True, hosts=True, secure=secure),
        read_user=starlette_session_reader,
        write_user=starlette_session_writer,
    )


# -- headerware --------------------------------------------------------------------------


def trusted_hosts() -> Any:
    cls = apps.hw_class("hosts", "TrustedHosts")
    return cls(allowed_hosts=ALLOWED_HOSTS)


def hw_full_layers() -> list[Any]:
    """The WSGI suite's full default stack plus the Host check the peers have."""
    return [trusted_hosts(), *apps.full_stack()]


def hw_app(layers: list[Any], *, sessions: bool = False) -> Any:
    """``ASGIStack(layers, starlette_app)``; with ``sessions`` the view reads the session."""
    try:
        from headerware.asgi import ASGIStack
    except ImportError as exc:
        raise Unavailable("headerware.asgi does not exist yet") from exc
    app = make_starlette_app(
        read_user=hw_session_reader if sessions else None,
        write_user=hw_session_writer if sessions else None,
    )
    return ASGIStack(layers, app)


class AddHeaders:
    """A hand-written ASGI wrapper appending a fixed list of encoded headers."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app = app
        self.extra = headers

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        extra = self.extra

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def same_headers_app() -> Any:
    """The bare app plus, by hand, exactly the headers ``hw-full`` adds to a plain HTTP
    ``GET /`` (nonce frozen): what the server pays to send them, apart from headerware."""
    probe = scope_maker("/")()
    probe["scheme"], probe["server"] = "http", ("localhost", 80)
    bare = make_starlette_app()
    _, bare_headers, _ = asgi_request(bare, dict(probe))
    _, full_headers, _ = asgi_request(hw_app(hw_full_layers(), sessions=True), probe)
    extra = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in full_headers
        if (k, v) not in bare_headers
    ]
    return AddHeaders(bare, extra)


# -- driving an ASGI app in-process ------------------------------------------------------

_LOOP: asyncio.AbstractEventLoop | None = None


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def scope_maker(
    path: str = "/", method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> Callable[[], Scope]:
    """A function returning a fresh scope (a copy of a fixed template) per request."""
    template: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("ascii"),
        "root_path": "",
        "query_string": b"",
        "headers": [*BASE_HEADERS, *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 443),
    }

    def make() -> Scope:
        scope = template.copy()
        scope["headers"] = list(template["headers"])
        return scope

    return make


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(message: Message) -> None:
    pass


class _Recorder:
    """A ``send`` that keeps the status, headers and body (for the checked request)."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ())
            ]
        elif message["type"] == "http.response.body":
            self.body += bytes(message.get("body", b""))


def asgi_request(app: ASGIApp, scope: Scope) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request: status (as a string), headers and body."""
    recorder = _Recorder()
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no loop runs here
        _loop().run_until_complete(app(scope, _receive, recorder))
    else:  # inside a server's loop (a uvicorn factory): run it on a thread of its own
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, app(scope, _receive, recorder)).result()  # type: ignore[arg-type]
    return str(recorder.status), recorder.headers, recorder.body


def asgi_prepared(
    app: ASGIApp,
    make_scope: Callable[[], Scope],
    expect: str | None = "200",
    check: Check | None = None,
) -> Prepared:
    """A :class:`Prepared` whose batches run ``n`` requests as one coroutine."""

    def make_batch() -> Callable[[int], float]:
        loop = _loop()
        perf = harness.CLOCK
        receive, send = _receive, _drop

        async def run(scopes: list[Scope]) -> float:
            start = perf()
            for scope in scopes:
                await app(scope, receive, send)
            return perf() - start

        def batch(n: int) -> float:
            scopes = [make_scope() for _ in range(n)]
            return loop.run_until_complete(run(scopes))

        return batch

    def probe() -> tuple[str, list[tuple[str, str]], bytes]:
        return asgi_request(app, make_scope())

    return Prepared(_not_wsgi, dict, expect, check, make_batch=make_batch, probe=probe)


def _not_wsgi(environ: Any, start_response: Any) -> Any:
    raise TypeError("an ASGI variant is run by its own batch, not as a WSGI app")


def set_cookie_pair(app: ASGIApp, scope: Scope, name: str) -> str:
    """``name=value`` of the cookie ``app`` sets on ``scope``'s request."""
    status, headers, _ = asgi_request(app, scope)
    for key, value in headers:
        if key.lower() == "set-cookie":
            pair = value.split(";", 1)[0]
            if pair.partition("=")[0].strip() == name:
                return pair.strip()
    raise RuntimeError(f"{status}: no {name!r} cookie in {headers!r}")


# -- the requests and variants -----------------------------------------------------------


def get_request() -> Callable[[], Scope]:
    return scope_maker("/")


def cors_request() -> Callable[[], Scope]:
    return scope_maker("/api/data", headers=[(b"origin", apps.ALLOWED_ORIGIN.encode())])


def session_request(session_pair: str) -> Callable[[], Scope]:
    cookie = f"{inprocess.signed_username_cookie()}; {session_pair}"
    return scope_maker("/dashboard", headers=[(b"cookie", cookie.encode("latin-1"))])


def _login(app: ASGIApp, name: str) -> str:
    return set_cookie_pair(app, scope_maker("/login")(), name)


def hw_session_pair() -> str:
    """A valid headerware session cookie (user_id=42), minted through the full stack."""
    app = hw_app(hw_full_layers(), sessions=True)
    return _login(app, inprocess.hw_session_cookie_name())


def starlette_session_pair() -> str:
    return _login(peers_app(), "session")


GROUPS = {
    "get": "Starlette hello app — GET (HTML)",
    "cors": "Starlette hello app — CORS simple request",
    "session": "Starlette hello app — signed cookie + session cookie, view reads the session",
}


def variants() -> list[Variant]:
    """Every ASGI in-process variant, each group led by bare Starlette."""
    header, body = inprocess.header, inprocess.body
    nonce = header("Content-Security-Policy", "'nonce-")
    allow = header("Access-Control-Allow-Origin", apps.ALLOWED_ORIGIN)
    out: list[Variant] = []

    def add(kind: str, what: str, build: Callable[[], Prepared], note: str = "") -> None:
        base = None if what == "bare" else f"asgi.{kind}.bare"
        out.append(Variant(f"asgi.{kind}.{what}", build, base, GROUPS[kind], kind, note))

    def starlette(
        kind: Callable[[], Callable[[], Scope]], check: Check | None = None, **peers: Any
    ) -> Callable[[], Prepared]:
        return lambda: asgi_prepared(
            make_starlette_app(middleware=peer_middleware(**peers)), kind(), check=check
        )

    def hw(
        layers: Callable[[], list[Any]],
        kind: Callable[[], Callable[[], Scope]],
        check: Check | None = None,
    ) -> Callable[[], Prepared]:
        return lambda: asgi_prepared(hw_app(layers()), kind(), check=check)

    xfo = header("X-Frame-Options")
    # GET
    add("get", "bare", lambda: asgi_prepared(make_starlette_app(), get_request()))
    add(
        "get",
        "peers",
        lambda: asgi_prepared(peers_app(), get_request(), check=xfo),
        "TrustedHost + CORS + Session + secure.py headers (minimal wrapper)",
    )
    add(
        "get",
        "peers-secure-asgi",
        lambda: asgi_prepared(peers_app("shipped"), get_request(), check=xfo),
        "the same with secure's own SecureASGIMiddleware",
    )
    add(
        "get",
        "hw-full",
        hw(hw_full_layers, get_request, nonce),
        "hosts + security + CSP nonce + CORS + cookie policy + signed cookies + sessions",
    )
    add("get", "secure-minimal", starlette(get_request, xfo, secure="minimal"))
    add("get", "secure-asgi", starlette(get_request, xfo, secure="shipped"))
    add("get", "starlette-trusted-host", starlette(get_request, hosts=True))
    add("get", "starlette-cors-idle", starlette(get_request, cors=True), "no Origin sent")
    add("get", "starlette-session-idle", starlette(get_request, session=True), "no cookie sent")
    add("get", "hw-trusted-hosts", hw(lambda: [trusted_hosts()], get_request))
    add("get", "hw-security", hw(lambda: [apps.security_headers()], get_request, xfo))
    add("get", "hw-csp-nonce", hw(lambda: [apps.csp_nonce()], get_request, nonce))
    add(
        "get",
        "hw-security+nonce",
        hw(lambda: [apps.security_headers(), apps.csp_nonce()], get_request, nonce),
    )
    add("get", "hw-cors-idle", hw(lambda: [apps.cors()], get_request), "no Origin sent")
    add("get", "hw-cookie-policy-idle", hw(lambda: [apps.cookie_policy()], get_request))
    add("get", "hw-sessions-idle", hw(lambda: [apps.sessions()], get_request))

    # CORS simple request
    add("cors", "bare", lambda: asgi_prepared(make_starlette_app(), cors_request()))
    add("cors", "peers", lambda: asgi_prepared(peers_app(), cors_request(), check=allow))
    add("cors", "hw-full", hw(hw_full_layers, cors_request, allow))
    add("cors", "starlette-cors", starlette(cors_request, allow, cors=True))
    add("cors", "hw-cors", hw(lambda: [apps.cors()], cors_request, allow))

    # Session read
    def session_bare() -> Prepared:
        try:
            pair = hw_session_pair()
        except Unavailable:
            pair = "session=eyJ1c2VyX2lkIjo0Mn0.sig"
        return asgi_prepared(make_starlette_app(), session_request(pair), check=body("#None"))

    def session_peers(middleware: list[Any] | None = None) -> Prepared:
        pair = starlette_session_pair()
        app = (
            peers_app()
            if middleware is None
            else make_starlette_app(
                middleware=middleware,
                read_user=starlette_session_reader,
                write_user=starlette_session_writer,
            )
        )
        return asgi_prepared(app, session_request(pair), check=body("#42"))

    def session_hw(layers: Callable[[], list[Any]]) -> Prepared:
        pair = hw_session_pair()
        app = hw_app(layers(), sessions=True)
        return asgi_prepared(app, session_request(pair), check=body("#42"))

    add("session", "bare", session_bare, "same cookies, not verified, not read")
    add("session", "peers", session_peers, "Starlette's session read")
    add("session", "hw-full", lambda: session_hw(hw_full_layers), "headerware's session read")
    add(
        "session",
        "starlette-session",
        lambda: session_peers(peer_middleware(session=True)),
        "SessionMiddleware alone",
    )
    add("session", "hw-sessions", lambda: session_hw(lambda: [apps.sessions()]))
    add(
        "session",
        "hw-cookies+session",
        lambda: session_hw(lambda: [apps.cookie_policy(), apps.signed_cookies(), apps.sessions()]),
        "cookie policy + signed-cookie verify + session read",
    )
    return out


# -- uvicorn + wrk -----------------------------------------------------------------------

#: (variant, baseline) alternated under load; ``bare-again`` is a second bare server:
#: its ratio to the first is the run's own noise.
LOAD_VARIANTS: tuple[tuple[str, str | None], ...] = (
    ("bare", None),
    ("peers", "bare"),
    ("hw-full", "bare"),
    ("same-headers", "bare"),
    ("bare-again", "bare"),
)

LOAD_REQUESTS: dict[str, tuple[str, list[str]]] = {
    "get": ("/", []),
    "cors": ("/api/data", [f"Origin: {apps.ALLOWED_ORIGIN}"]),
}


def server_app() -> Any:
    """``uvicorn --factory benchmarks.asgi:server_app`` with ``HEADERWARE_BENCH_ASGI``
    naming the app (bare, peers, hw-full)."""
    name = os.environ.get("HEADERWARE_BENCH_ASGI", "bare").removesuffix("-again")
    if name == "bare":
        return make_starlette_app()
    if name == "peers":
        return peers_app()
    if name == "hw-full":
        return hw_app(hw_full_layers(), sessions=True)
    if name == "same-headers":
        return same_headers_app()
    raise ValueError(f"server_app: unknown app {name!r}")


def start_uvicorn(name: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = server.REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["HEADERWARE_BENCH_ASGI"] = name
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.asgi:server_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=server.REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


_LATENCY = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


_REQUESTS = re.compile(r"(\d+) requests in")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, seconds: float, headers: list[str], connections: int, pid: int | None = None
) -> dict[str, Any]:
    """One wrk run; with ``pid``, also the server's CPU time per request."""
    before = cpu_seconds(pid) if pid else None
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    for line in headers:
        command += ["-H", line]
    proc = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    after = cpu_seconds(pid) if pid else None
    out = proc.stdout
    rps = server._RPS.search(out)
    non2xx = server._NON2XX.search(out)
    done = _REQUESTS.search(out)
    latency = {f"p{m[0]}_us": float(m[1]) * _UNIT[m[2]] for m in _LATENCY.findall(out)}
    cpu: dict[str, float] = {}
    if before is not None and after is not None and done and int(done.group(1)):
        cpu["cpu_us"] = (after - before) / int(done.group(1)) * 1e6
    return {
        "rps": float(rps.group(1)) if rps else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        **latency,
        **cpu,
    }


def _server_versions() -> dict[str, str]:
    import importlib.util

    return {
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    }


def run_load(
    *,
    rounds: int = 2,
    seconds: float = 10.0,
    requests: tuple[str, ...] = ("get",),
    connections: int = 4,
    only: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One uvicorn per app, wrk against each in alternation; medians and ratios."""
    if shutil.which("wrk") is None:
        return {"status": "unavailable", "reason": "wrk is not installed (apt-get install wrk)"}
    selected = [(n, b) for n, b in LOAD_VARIANTS if only is None or n in only]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    problems: dict[str, str] = {}
    try:
        for name, _ in selected:
            port = server.free_port()
            procs[name] = start_uvicorn(name, port)
            urls[name] = f"http://127.0.0.1:{port}"
        for name, proc in procs.items():
            try:
                server.wait_ready(urls[name] + "/", proc)
            except RuntimeError as exc:
                problems[name] = str(exc)
        live = [n for n, _ in selected if n not in problems]
        for index in range(rounds):
            for kind in requests:
                path, headers = LOAD_REQUESTS[kind]
                for name in live:
                    entry = rows.setdefault((kind, name), {"runs": []})
                    entry["runs"].append(
                        run_wrk(urls[name] + path, seconds, headers, connections, procs[name].pid)
                    )
            if progress:
                progress(f"  uvicorn + wrk round {index + 1}/{rounds}")
    finally:
        for proc in procs.values():
            server.stop(proc)

    out_rows: list[dict[str, Any]] = []
    base_of = dict(selected)
    for kind in requests:
        for name, _ in selected:
            if name in problems:
                out_rows.append(
                    {"request": kind, "name": name, "status": "error", "reason": problems[name]}
                )
                continue
            runs = rows.get((kind, name), {"runs": []})["runs"]
            rps = [r["rps"] for r in runs if r["rps"] is not None]
            row: dict[str, Any] = {
                "request": kind,
                "name": name,
                "status": "ok",
                "rps": rps,
                "median_rps": statistics.median(rps) if rps else None,
                "non_2xx": sum(r["non_2xx"] for r in runs),
            }
            for key in ("p50_us", "p90_us", "p99_us", "cpu_us"):
                values = [r[key] for r in runs if key in r]
                row[key] = statistics.median(values) if values else None
            base = base_of.get(name)
            base_runs = rows.get((kind, base), {"runs": []})["runs"] if base else []
            base_rps = [r["rps"] for r in base_runs if r["rps"] is not None]
            if base and rps and base_rps:
                ratios = [a / b for a, b in zip(rps, base_rps, strict=False)]
                row["ratios"] = [round(r, 3) for r in ratios]
                row["ratio"] = statistics.median(ratios)
                # Per request: 1/rps(variant) - 1/rps(bare), in µs of one worker's time
                # (with c connections in flight, a request's share of the worker).
                cpu = [r.get("cpu_us") for r in runs]
                base_cpu = [r.get("cpu_us") for r in base_runs]
                added = [a - b for a, b in zip(cpu, base_cpu, strict=False) if a and b]
                if added:
                    row["cpu_added_us"] = statistics.median(added)
            out_rows.append(row)
    return {
        "status": "ok",
        "rounds": rounds,
        "seconds": seconds,
        "connections": connections,
        "server": _server_versions(),
        "variants": out_rows,
    }


def load_markdown(data: dict[str, Any]) -> str:
    if data.get("status") != "ok":
        return f"uvicorn + wrk: not available ({data.get('reason')})\n"
    srv = data["server"]
    lines = [
        f"### uvicorn (1 worker, {srv['http']}, {srv['loop']} loop) + wrk (1 thread, "
        f"{data['connections']} connections, keep-alive), {data['rounds']} alternated rounds "
        f"x {data['seconds']:g} s",
        "",
        "| request | app | requests/s per round | median req/s | ratio to bare (per round) "
        "| server CPU µs/request (over bare) | latency p50 / p90 / p99 ms | non-2xx |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in data["variants"]:
        if row.get("status") != "ok":
            lines.append(
                f"| {row['request']} | {row['name']} | {row['status']}: {row.get('reason')} "
                "| | | | | |"
            )
            continue
        runs = ", ".join(f"{x:.0f}" for x in row["rps"])
        ratio = (
            f"{row['ratio']:.3f} ({', '.join(map(str, row['ratios']))})" if "ratio" in row else "—"
        )
        cpu = "—" if row.get("cpu_us") is None else f"{row['cpu_us']:.0f}"
        if "cpu_added_us" in row:
            cpu += f" ({row['cpu_added_us']:+.0f})"
        latency = " / ".join(
            "—" if row.get(k) is None else f"{row[k] / 1000:.2f}"
            for k in ("p50_us", "p90_us", "p99_us")
        )
        median = f"{row['median_rps']:.0f}" if row["median_rps"] else "—"
        lines.append(
            f"| {row['request']} | {row['name']} | {runs} | {median} | {ratio} | {cpu} "
            f"| {latency} | {row['non_2xx']} |"
        )
    return "\n".join(lines) + "\n"


# -- command line ------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    return markdown_table(results, "ASGI in-process, per request (Starlette)")


def main(argv: list[str] | None = None) -> int:
    from . import targets

    parser = argparse.ArgumentParser(prog="python -m benchmarks.asgi", description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds")
    parser.add_argument("--only", metavar="PATTERN", help="variants whose name contains it")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 short rounds")
    parser.add_argument("--load", action="store_true", help="the uvicorn + wrk run instead")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk seconds per run")
    parser.add_argument("--load-rounds", type=int, default=2, help="alternated wrk rounds")
    parser.add_argument("--requests", default="get", help="load requests: get,cors")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--cpu-clock", action="store_true", help="time batches in thread CPU time")
    args = parser.parse_args(argv)
    if args.cpu_clock:
        harness.CLOCK = time.thread_time

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.load:
        data = run_load(
            rounds=args.load_rounds,
            seconds=args.seconds,
            requests=tuple(r.strip() for r in args.requests.split(",") if r.strip()),
            connections=args.connections,
            progress=log,
        )
        print(load_markdown(data))
        return 0
    from .harness import select

    rounds = 3 if args.quick else args.rounds
    chosen = select(variants(), args.only)
    log(f"asgi: {len(chosen)} variants x {rounds} rounds")
    results = run_interleaved(
        chosen,
        rounds=rounds,
        batch_seconds=0.0005 if args.quick else 0.001,
        warmup=20 if args.quick else 300,
        progress=log,
    )
    print(table(results))
    print("```\n" + "\n".join(targets.lines(targets.evaluate_asgi(results))) + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
