"""Whole-stack fuzz harness: hostile requests and odd applications through headerware.

Every input is a byte string that decides, byte by byte, one request and one
application response:

- which stack answers (every layer, in canonical order, in a few configurations:
  defaults, report-only everywhere, trusted proxy + HTTPS redirect, token CSRF,
  no request-header validation so hostile values reach every later layer);
- the request: method, path, scheme, and a random set of ``HTTP_*`` headers
  (Cookie, Origin, Host, Accept, Accept-Language, Authorization, Sec-Fetch-*,
  X-Forwarded-*, If-None-Match, ...), each either a known-interesting fragment
  (a valid or spoofed origin, a signed cookie, CR/LF, ``\\xa0__Host-``) or random
  latin-1 text, or both glued together;
- the application: status, headers (including random ``Set-Cookie``), body, and
  whether it returns a list, a generator, or writes through ``write()``; it may
  touch the session, read the CSP nonce and negotiate.

:func:`check_one` runs it with :mod:`wsgiref.validate` on both sides of the stack
and asserts the outcome: a valid WSGI response (one ``start_response``, a status
that is the application's or a clean headerware answer, never a 500 the app did
not send), every header name a token and every value free of CR/LF and control
characters, the security headers on every answer, and no exception.

Run it with atheris (``pip install -e ".[dev]"`` installs it)::

    python fuzz/fuzz_stack.py -max_total_time=600 -jobs=4 fuzz/corpus

See ``fuzz/README.md``. The same :func:`check_one` is driven by Hypothesis in
``tests/test_fuzz_smoke.py`` so CI exercises it with or without atheris.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import warnings
import wsgiref.validate
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Environ = dict[str, Any]
Headers = list[tuple[str, str]]

#: Keys for every signing layer (newest first); long enough for load_secret_keys.
KEYS = ("fuzz-newest-key-0123456789abcdef", "fuzz-older-key-0123456789abcdef")
ALLOWED_ORIGIN = "https://app.example.com"
TOKEN = "example-token"

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}

#: Statuses headerware itself may answer with (early answers, redirects, 304).
HEADERWARE_STATUSES = frozenset(
    {204, 301, 302, 304, 307, 308, 400, 401, 403, 405, 406, 411, 413, 415, 431}
)
#: Headers every answer must carry, whatever the route, status or profile.
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy")


class Input:
    """A byte string read as a sequence of small decisions; zeros once exhausted."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        value = self.data[self.pos]
        self.pos += 1
        return value

    def below(self, n: int) -> int:
        return self.byte() % n if n > 1 else 0

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def choice(self, items: tuple[Any, ...] | list[Any]) -> Any:
        return items[self.below(len(items))]

    def raw(self, max_len: int) -> str:
        """Up to ``max_len`` characters of latin-1 (bytes as a WSGI server decodes them)."""
        length = self.below(max_len + 1)
        chunk = self.data[self.pos : self.pos + length]
        self.pos += length
        return chunk.decode("latin-1")

    def value(self, fragments: tuple[str, ...]) -> str:
        """A fragment, random text, or a mix: most bugs live where the two meet."""
        kind = self.below(4)
        if kind == 0:
            return self.choice(fragments)
        if kind == 1:
            return self.raw(64)
        if kind == 2:
            return self.choice(fragments) + self.raw(16) + self.choice(fragments)
        return self.choice(fragments) * (1 + self.below(300))


# -- interesting fragments ------------------------------------------------------

ORIGINS = (
    ALLOWED_ORIGIN,
    "null",
    "https://evil.example",
    "https://app.example.com.evil.example",
    "https://evilapp.example.com",
    "http://app.example.com",
    "https://APP.example.com",
    "https://app.example.com:443",
    "https://app.example.com/",
    "https://app.example.com\r\nSet-Cookie: x=1",
    "https://app.example.com\x00",
    "http://localhost",
    "https://localhost",
    "",
)
COOKIES = (
    "username=john_doe",
    "theme=dark",
    "session=x.y.z",
    "=__Host-x",
    "\xa0__Host-x=1",
    "__Host-x=1",
    "a=1; a=2",
    "username=john_doe; username=mallory",
    "bad",
    ";;;",
    "x=\r\ny",
    "x=\x00",
    'q="quoted"',
    "k=" + "v" * 5000,
)
HOSTS = (
    "localhost",
    "example.com",
    "www.example.com",
    "evil.example",
    "localhost:8000",
    "[::1]",
    "example.com.",
    "exa mple.com",
    "",
    "localhost\r\nX-Injected: 1",
)
ACCEPTS = (
    "text/html",
    "application/json",
    "application/json;q=0, text/html",
    "*/*;q=0",
    "text/*;q=0.5, */*;q=0.1",
    "application/json;q=1.5",
    "application/json;q=nan",
    "text/html;level=1;q=0.3",
    ";;;,,,",
    "*/*",
)
LANGUAGES = ("es", "en, es;q=0", "es;q=0.9, en", "*", "es;q=0", "x-" + "a" * 100, "")
AUTHS = (
    "Bearer " + TOKEN,
    "Bearer wrong",
    "Bearer",
    "Bearer  " + TOKEN,
    "Basic dXNlcjpwYXNz",
    "Bearer a b",
    "bearer " + TOKEN,
    "Bearer \x00",
)
FETCH_SITES = ("same-origin", "same-site", "cross-site", "none", "SAME-ORIGIN", "")
PROTOS = ("https", "http", "https, http", "http, https", "HTTPS", "ftp", "")
MISC = ("*", 'W/"x"', '"abc"', "Mon, 01 Jan 2024 00:00:00 GMT", "\t", "\r\n", "\x7f")

#: Request header (environ key) -> the fragments worth trying for it.
REQUEST_HEADERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HTTP_COOKIE", COOKIES),
    ("HTTP_ORIGIN", ORIGINS),
    ("HTTP_HOST", HOSTS),
    ("HTTP_ACCEPT", ACCEPTS),
    ("HTTP_ACCEPT_LANGUAGE", LANGUAGES),
    ("HTTP_AUTHORIZATION", AUTHS),
    ("HTTP_SEC_FETCH_SITE", FETCH_SITES),
    ("HTTP_SEC_FETCH_MODE", ("navigate", "cors", "no-cors", "")),
    ("HTTP_ACCESS_CONTROL_REQUEST_METHOD", ("PUT", "DELETE", "PATCH", "get", "")),
    ("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", ("content-type", "authorization", "x-evil", ",,")),
    ("HTTP_X_FORWARDED_PROTO", PROTOS),
    ("HTTP_X_FORWARDED_FOR", ("10.0.0.1", "1.2.3.4, 10.0.0.1", "", "::1")),
    ("HTTP_X_FORWARDED_HOST", HOSTS),
    ("HTTP_IF_NONE_MATCH", MISC),
    ("HTTP_IF_MODIFIED_SINCE", MISC),
    ("HTTP_X_CSRF_TOKEN", ("x", "")),
    ("HTTP_X_ECHO", ORIGINS + COOKIES),
    ("HTTP_USER_AGENT", ("fuzz", "\xff\xfe")),
)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
PATHS = (
    "/",
    "/page",
    "/data",
    "/hello",
    "/login",
    "/api/protected",
    "/api/../page",
    "//api/protected",
    "/healthz",
    "/_headerware/csp-report",
    "/set-cookie",
)

# -- the application --------------------------------------------------------------

APP_STATUSES = (
    "200 OK",
    "201 Created",
    "204 No Content",
    "302 Found",
    "304 Not Modified",
    "400 Bad Request",
    "404 Not Found",
    "500 Internal Server Error",
)
CONTENT_TYPES = (
    "text/html; charset=utf-8",
    "application/json",
    "application/problem+json",
    "text/plain",
    "image/png",
)
SET_COOKIES = (
    "username=john_doe; Max-Age=604800",
    "theme=dark; Path=/prefs; Domain=example.com",
    "__Host-id=1; Path=/app; Domain=example.com",
    "__Secure-x=1",
    "gone=; Max-Age=0",
    "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
    "n=1; SameSite=None",
    "p=1; Partitioned; Priority=High",
    "long=1; Max-Age=999999999",
    "=nameless",
    "bad name=1",
    "v=" + "x" * 5000,
    "x=1; Path",
    "x=1;;; HttpOnly;",
)
#: App header names: valid tokens the validator also accepts (no trailing - or _).
APP_HEADER_NAMES = (
    "X-Custom",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Vary",
    "X-Powered-By",
    "Server",
    "Access-Control-Allow-Origin",
    "Content-Security-Policy",
    "X-Frame-Options",
    "Link",
)
# No tab: PEP 3333 allows it, but wsgiref.validate refuses every control character.
_APP_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "\xa0\xe9\xff"


def _app_value(source: Input) -> str:
    """A header value the WSGI validator accepts (no control characters, latin-1)."""
    text = source.raw(24)
    return "".join(_APP_VALUE_CHARS[ord(c) % len(_APP_VALUE_CHARS)] for c in text).strip()


def make_app_spec(source: Input) -> dict[str, Any]:
    """The application's response, decided by the input."""
    status = source.choice(APP_STATUSES)
    headers: Headers = []
    code = int(status[:3])
    if code not in (204, 304):
        headers.append(("Content-Type", source.choice(CONTENT_TYPES)))
    for _ in range(source.below(6)):
        kind = source.below(3)
        if kind == 0:
            headers.append(("Set-Cookie", source.choice(SET_COOKIES)))
        elif kind == 1:
            headers.append(("Set-Cookie", _app_value(source) or "e=1"))
        else:
            headers.append((source.choice(APP_HEADER_NAMES), _app_value(source)))
    body = b"" if code in (204, 304) else source.raw(40).encode("latin-1")
    return {
        "status": status,
        "headers": headers,
        "body": body,
        "mode": source.choice(("list", "generator", "write", "tuple")),
        "session": source.below(3),
        "nonce": source.flag(),
        "negotiate": source.flag(),
        "content_length": source.flag(),
    }


def fuzz_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The application under the stack: does what ``environ['fuzz.spec']`` says."""
    from headerware.layers.csp import csp_nonce
    from headerware.layers.negotiation import negotiate_language, negotiate_media_type
    from headerware.layers.sessions import get_session

    spec = environ["fuzz.spec"]
    if spec["session"] == 1:
        session = get_session(environ)
        session["n"] = int(session.get("n", 0)) + 1
    elif spec["session"] == 2:
        get_session(environ).get("n")
    body: bytes = spec["body"]
    if spec["nonce"]:
        body += csp_nonce(environ, default="").encode("ascii")
    if spec["negotiate"]:
        negotiate_media_type(environ, ["application/json", "text/html"])
        negotiate_language(environ, ["en", "es"])
    headers = list(spec["headers"])
    if spec["content_length"] and int(spec["status"][:3]) not in (204, 304):
        headers.append(("Content-Length", str(len(body))))
    if int(spec["status"][:3]) in (204, 304):
        body = b""
    mode = spec["mode"]
    if mode == "generator":

        def generate() -> Iterator[bytes]:
            start_response(spec["status"], headers)
            if body:
                yield body

        return generate()
    if mode == "write":
        write = start_response(spec["status"], headers)
        if body:
            write(body)
        return []
    start_response(spec["status"], headers)
    chunks = [body] if body else []
    return tuple(chunks) if mode == "tuple" else chunks


# -- the stacks -------------------------------------------------------------------


def build_layers(variant: str) -> list[Any]:
    """Every layer in canonical order, configured as the examples do, per variant."""
    from headerware.layers.auth import BearerAuth
    from headerware.layers.caching import Caching
    from headerware.layers.cookies import CookiePolicy
    from headerware.layers.cors import CORS
    from headerware.layers.csp import ContentSecurityPolicy
    from headerware.layers.csrf import CSRFProtect
    from headerware.layers.headers import RequestHeaders, ResponseHeaders
    from headerware.layers.hosts import TrustedHosts, TrustedProxy
    from headerware.layers.https_redirect import HTTPSRedirect
    from headerware.layers.negotiation import Negotiation
    from headerware.layers.security import SecurityHeaders
    from headerware.layers.sessions import Sessions
    from headerware.layers.signing import SignedCookies

    report = variant == "report_only"
    layers: list[Any] = []
    if variant == "proxy":
        layers.append(TrustedProxy(x_for=1, x_proto=1, x_host=1))
    # The canonical order, except CSP right after SecurityHeaders (canonical: after
    # RequestHeaders), so the refusals of TrustedHosts and RequestHeaders carry a CSP too.
    layers += [
        SecurityHeaders(),
        ContentSecurityPolicy(report_path="/_headerware/csp-report", report_only=report),
        TrustedHosts(
            allowed_hosts=["localhost", "example.com", "*.example.com", "127.0.0.1"],
            report_only=report,
        ),
    ]
    if variant == "proxy":
        # Redirects to HTTPS, after the host check (the canonical order).
        layers.append(HTTPSRedirect(exempt=["/healthz"], report_only=report))
    if variant != "no_request_headers":
        layers.append(RequestHeaders(report_only=report))
    layers += [
        CORS(
            allow_origins=[ALLOWED_ORIGIN],
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "Authorization"],
            rules={"/data": {}, "/api/*": {}},
            report_only=report,
        ),
        CookiePolicy(report_only=report),
        SignedCookies(cookies=["username", "theme"], secret_keys=KEYS, report_only=report),
        Sessions(secret_keys=KEYS),
        CSRFProtect(
            mode="token" if variant == "token_csrf" else "origin",
            secret_keys=KEYS,
            report_only=report,
        ),
        BearerAuth(paths=["/api/*"], tokens=[TOKEN], report_only=report),
        Negotiation(
            media_types={"/data": ["application/json", "text/html"]},
            languages={"/hello": ["en", "es"]},
            not_acceptable=variant == "token_csrf",
        ),
        Caching(),
        ResponseHeaders(
            set={"X-Served-By": "headerware"},
            add={"Vary": "X-Fuzz"},
            # Reflects a request header: hostile values must be dropped, never sent.
            setdefault={"X-Echo": lambda ctx: ctx.header("x-echo")},
            remove=["X-Powered-By"],
        ),
    ]
    return layers


VARIANTS = ("default", "report_only", "proxy", "token_csrf", "no_request_headers")
_STACKS: dict[str, Any] = {}


def stack(variant: str) -> Any:
    """The stack of ``variant`` around :func:`fuzz_app`, built once."""
    from headerware import Stack

    built = _STACKS.get(variant)
    if built is None:
        built = Stack(build_layers(variant), wsgiref.validate.validator(fuzz_app))
        _STACKS[variant] = built
    return built


# -- one request ------------------------------------------------------------------


def make_environ(source: Input) -> Environ:
    """A request as a WSGI server would pass it (latin-1 strings, valid CGI keys)."""
    method = source.choice(METHODS)
    path = source.choice(PATHS) if source.below(4) else "/" + source.raw(30).lstrip("/")
    body = source.raw(64).encode("latin-1") if method in ("POST", "PUT", "PATCH") else b""
    scheme = source.choice(("http", "https"))
    environ: Environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": source.raw(12) if source.flag() else "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body or source.flag():
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["CONTENT_TYPE"] = source.choice(
            (
                "application/x-www-form-urlencoded",
                "application/csp-report",
                "application/reports+json",
                "multipart/form-data; boundary=x",
                "text/plain",
            )
        )
    for key, fragments in REQUEST_HEADERS:
        if source.below(3) == 0:
            environ[key] = source.value(fragments)
    for _ in range(source.below(3)):
        # A random extra header, named as a server would mangle it.
        name = re.sub(r"[^A-Z0-9_]", "_", source.raw(12).upper()) or "X"
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ["HTTP_" + name] = source.raw(40)
    return environ


#: Reported issues a run skips so it keeps looking for new ones (none open now;
#: the ones found so far are fixed and pinned in tests/test_attacks.py).
KNOWN_ISSUES: dict[str, str] = {}


class KnownIssue(Exception):
    """An input that hits an already reported issue (see ``KNOWN_ISSUES``)."""


def _known(exc: AssertionError) -> bool:
    return any(marker in str(exc) for marker in KNOWN_ISSUES.values())


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Headers, Any]] = []
        self.written: list[bytes] = []

    def __call__(self, status: str, headers: Headers, exc_info: Any = None) -> Any:
        self.calls.append((status, list(headers), exc_info))
        return self.written.append


def run(environ: Environ, spec: dict[str, Any], variant: str) -> tuple[str, Headers, bytes]:
    """Serve one request through ``variant`` with validators on both sides."""
    environ["fuzz.spec"] = spec
    app = wsgiref.validate.validator(stack(variant))
    recorder = _Recorder()
    with warnings.catch_warnings():
        # The validator warns about legal-but-odd apps; we assert what matters ourselves.
        warnings.simplefilter("ignore", wsgiref.validate.WSGIWarning)
        try:
            result = app(environ, recorder)
            try:
                body = b"".join(recorder.written) + b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except AssertionError as exc:
            if _known(exc):
                raise KnownIssue(str(exc)) from exc
            raise
    assert len(recorder.calls) == 1, f"start_response called {len(recorder.calls)} times"
    status, headers, exc_info = recorder.calls[0]
    assert exc_info is None
    return status, headers, body


def check_response(
    environ: Environ, spec: dict[str, Any], status: str, headers: Headers, body: bytes
) -> None:
    """The properties every answer must have."""
    code = int(status[:3])
    app_code = int(spec["status"][:3])
    assert code == app_code or code in HEADERWARE_STATUSES, (
        f"status {status!r}: neither the application's ({spec['status']!r}) nor a clean "
        "headerware answer"
    )
    for name, value in headers:
        assert _TOKEN.match(name), f"header name {name!r} is not a token"
        assert not _CONTROL.search(value), f"{name}: {value!r} has a control character"
        value.encode("latin-1")
        assert name.lower() not in _HOP_BY_HOP, f"hop-by-hop header {name!r} sent"
    names = {name.lower() for name, _ in headers}
    for required in SECURITY_HEADERS:
        assert required in names, f"{required} missing from a {status!r} answer"
    # A 304 carries no policy: caches update the stored headers from it, and the
    # stored body's nonce must keep matching the stored policy (RFC 9111 4.3.4).
    policies = names & {"content-security-policy", "content-security-policy-report-only"}
    if code == 304:
        assert not any("'nonce-" in v for k, v in headers if k.lower() in policies), (
            "a nonce policy on a 304"
        )
    else:
        assert policies, f"no CSP on a {status!r} answer"
    lengths = [value for name, value in headers if name.lower() == "content-length"]
    assert len(lengths) <= 1, f"several Content-Length: {lengths}"
    if lengths and environ["REQUEST_METHOD"] != "HEAD" and code not in (204, 304):
        assert int(lengths[0]) == len(body), f"Content-Length {lengths[0]} != {len(body)}"
    if code in (204, 304):
        assert body == b"", f"a {code} with a body"


def check_one(data: bytes) -> None:
    """Decode ``data`` into a request and an application, serve it, check the answer."""
    source = Input(data)
    variant = source.choice(VARIANTS)
    environ = make_environ(source)
    spec = make_app_spec(source)
    spec["variant"] = variant
    try:
        status, headers, body = run(environ, spec, variant)
        assert environ["wsgi.url_scheme"] in ("http", "https"), environ["wsgi.url_scheme"]
        try:
            check_response(environ, spec, status, headers, body)
        except AssertionError as exc:
            if _known(exc):
                raise KnownIssue(str(exc)) from exc
            raise
    except KnownIssue:
        return


def describe(data: bytes) -> str:
    """A readable account of the request an input decodes to (for crash reports)."""
    source = Input(data)
    variant = source.choice(VARIANTS)
    environ = make_environ(source)
    spec = make_app_spec(source)
    shown = {k: v for k, v in environ.items() if k.isupper()}
    return json.dumps({"variant": variant, "environ": shown, "app": repr(spec)}, indent=1)


def main(argv: list[str]) -> None:
    """Run under atheris (coverage-guided) with libFuzzer's command line options."""
    import atheris

    logging.getLogger("headerware").setLevel(logging.CRITICAL)
    with atheris.instrument_imports(include=["headerware", "werkzeug", "itsdangerous"]):
        pass
    for variant in VARIANTS:
        stack(variant)
    atheris.Setup(argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    main(sys.argv)
