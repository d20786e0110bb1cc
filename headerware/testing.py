"""Testing kit: WebTest fixtures, assertion helpers and a browser-like client.

Installed as a pytest plugin (entry point ``pytest11``), so in any project with
headerware installed these fixtures exist:

``headerware_config``
    ``None`` (headerware's defaults); override it in your ``conftest.py`` to return a
    dict or the path of a TOML file.
``headerware_wsgi_app``
    Override it to return your *bare* WSGI application.
``headerware_app``
    A ``webtest.TestApp`` (lint on) of that app wrapped in that configuration, sending
    HTTPS requests to ``https://localhost`` by default (so HSTS and Secure cookies
    behave as in production).
``headerware_testapp``
    A factory: ``headerware_testapp(app, config=None, https=True)`` for tests that
    build several stacks.
``headerware_browser``
    A :class:`Browser` on ``headerware_app``.

Every fixture name starts with ``headerware_`` so the plugin never shadows another
plugin's fixtures (pytest-playwright's ``browser``, for one).

Assertions (each lists every problem it finds, not only the first)::

    assert_security_headers(response)          # nosniff, frame policy, Referrer-Policy,
                                               # CSP without unsafe script sources,
                                               # HSTS exactly when the request was HTTPS
    assert_cookie_flags(response, "sid", secure=True, httponly=True, samesite="Lax")
    assert_cors_allowed(response, "https://app.example.com", credentials=True)
    assert_cors_refused(response)
    assert_csrf_refused(response)

:class:`Browser` sends what a browser would: ``Origin`` where browsers send it,
``Sec-Fetch-Site/Mode/Dest`` computed from the page that makes the request, and the
cookies of a jar that applies the rules browsers apply (Secure only over HTTPS,
SameSite Strict/Lax/None, ``__Host-``/``__Secure-`` prefixes, Domain and Path
matching, expiry)::

    browser = Browser(app)                      # the site is https://localhost
    browser.navigate("/login")                  # typed in the address bar
    browser.submit("/preferences", {"theme": "dark"})              # same-origin form
    browser.submit("/preferences", {}, from_origin="https://evil.example")  # CSRF
    browser.fetch("/api/data", from_origin="https://app.example.com")       # CORS
    browser.preflight("/api/data", "PUT", from_origin="https://app.example.com")
"""

from __future__ import annotations

import http.cookiejar
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pytest

from .setcookie import SetCookie

if TYPE_CHECKING:
    import webtest  # type: ignore[import-untyped]
    from _typeshed.wsgi import WSGIApplication

__all__ = [
    "Browser",
    "Cookie",
    "CookieJar",
    "SetCookie",
    "assert_cookie_flags",
    "assert_cors_allowed",
    "assert_cors_refused",
    "assert_csrf_refused",
    "assert_security_headers",
    "make_testapp",
    "parse_set_cookie",
]

#: Browsers' limit on one cookie's name + value (RFC 6265bis: 4096 bytes).
MAX_COOKIE_SIZE = 4096
#: HSTS shorter than a year is not enough for preload lists and audits.
MIN_HSTS_MAX_AGE = 31536000


# -- responses, whatever produced them -----------------------------------------------


def _header_list(response: Any) -> list[tuple[str, str]]:
    headerlist = getattr(response, "headerlist", None)  # WebOb / WebTest
    if headerlist is not None:
        return [(str(k), str(v)) for k, v in headerlist]
    headers = response.headers
    if hasattr(headers, "to_wsgi_list"):  # werkzeug
        return [(str(k), str(v)) for k, v in headers.to_wsgi_list()]
    return [(str(k), str(v)) for k, v in headers.items()]


def _values(response: Any, name: str) -> list[str]:
    lowered = name.lower()
    return [value for key, value in _header_list(response) if key.lower() == lowered]


def _one(response: Any, name: str) -> str | None:
    values = _values(response, name)
    return values[0] if values else None


def _status(response: Any) -> int:
    for attribute in ("status_int", "status_code"):
        value = getattr(response, attribute, None)
        if isinstance(value, int):
            return value
    return int(str(response.status).split()[0])


def _request_scheme(response: Any) -> str | None:
    request = getattr(response, "request", None)
    if request is None:
        return None
    scheme = getattr(request, "scheme", None)
    if isinstance(scheme, str):
        return scheme
    environ = getattr(request, "environ", None)
    return environ.get("wsgi.url_scheme") if isinstance(environ, Mapping) else None


def _fail(what: str, problems: list[str], response: Any) -> None:
    if problems:
        headers = "\n".join(f"    {k}: {v}" for k, v in _header_list(response))
        raise AssertionError(
            f"{what}:\n  - " + "\n  - ".join(problems) + f"\n  response headers:\n{headers}"
        )


# -- assertions ----------------------------------------------------------------------


def _csp_directives(policy: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        tokens = part.split()
        if tokens:
            directives.setdefault(tokens[0].lower(), tokens[1:])
    return directives


def assert_security_headers(response: Any, *, hsts: bool | None = None) -> None:
    """The modern security header set is present (helmet/OWASP level).

    ``hsts=None`` expects HSTS exactly when the request was HTTPS (a max-age of a year
    or more); pass ``True``/``False`` to insist.
    """
    problems: list[str] = []
    if (_one(response, "X-Content-Type-Options") or "").lower() != "nosniff":
        problems.append("X-Content-Type-Options: nosniff is missing")
    policy = _one(response, "Content-Security-Policy")
    directives = _csp_directives(policy) if policy else {}
    xfo = (_one(response, "X-Frame-Options") or "").upper()
    if xfo not in ("DENY", "SAMEORIGIN") and "frame-ancestors" not in directives:
        problems.append("no frame policy: X-Frame-Options DENY/SAMEORIGIN or CSP frame-ancestors")
    referrer = (_one(response, "Referrer-Policy") or "").lower()
    if not referrer:
        problems.append("Referrer-Policy is missing")
    elif referrer.split(",")[-1].strip() in ("unsafe-url", "no-referrer-when-downgrade"):
        problems.append(f"Referrer-Policy {referrer!r} leaks full URLs to other origins")
    if policy is None:
        problems.append("Content-Security-Policy is missing")
    else:
        scripts = directives.get("script-src", directives.get("default-src"))
        if scripts is None:
            problems.append("CSP restricts no scripts: add script-src or default-src")
        else:
            lowered = [source.lower() for source in scripts]
            dynamic = any(s.startswith(("'nonce-", "'sha")) for s in lowered)
            if "'unsafe-inline'" in lowered and not dynamic:
                problems.append("CSP allows 'unsafe-inline' scripts")
            if "'unsafe-eval'" in lowered:
                problems.append("CSP allows 'unsafe-eval'")
            if "*" in lowered or "https:" in lowered or "http:" in lowered:
                problems.append("CSP allows scripts from any host")
    expect_hsts = hsts if hsts is not None else _request_scheme(response) == "https"
    hsts_value = _one(response, "Strict-Transport-Security")
    if expect_hsts:
        if hsts_value is None:
            problems.append("Strict-Transport-Security is missing on an HTTPS response")
        else:
            max_age = _hsts_max_age(hsts_value)
            if max_age is None or max_age < MIN_HSTS_MAX_AGE:
                problems.append(f"HSTS max-age is under a year: {hsts_value!r}")
    elif hsts_value is not None:
        problems.append("Strict-Transport-Security sent on a plain-HTTP response")
    _fail("security headers", problems, response)


def _hsts_max_age(value: str) -> int | None:
    for part in value.split(";"):
        key, _, number = part.strip().partition("=")
        if key.lower() == "max-age":
            try:
                return int(number.strip().strip('"'))
            except ValueError:
                return None
    return None


def parse_set_cookie(header: str) -> SetCookie:
    """Parse a ``Set-Cookie`` value with headerware's model (:mod:`headerware.setcookie`).

    Attribute names compare case-insensitively and the last of a repeated attribute
    wins, as in browsers (RFC 6265bis section 5.6); ``samesite`` reads as
    ``"Strict"``/``"Lax"``/``"None"`` whatever the case written.
    """
    return SetCookie.parse(header)


def assert_cookie_flags(
    response: Any,
    name: str,
    *,
    secure: bool | None = None,
    httponly: bool | None = None,
    samesite: str | None = None,
    path: str | None = None,
    partitioned: bool | None = None,
) -> SetCookie:
    """The response sets cookie ``name`` with the given flags; returns it parsed."""
    cookies = [parse_set_cookie(value) for value in _values(response, "Set-Cookie")]
    matching = [cookie for cookie in cookies if cookie.name == name]
    if not matching:
        names = ", ".join(cookie.name for cookie in cookies) or "none"
        _fail(f"cookie {name!r}", [f"no Set-Cookie for {name!r} (set: {names})"], response)
    cookie = matching[-1]
    problems = []
    for flag, wanted, actual in (
        ("Secure", secure, cookie.secure),
        ("HttpOnly", httponly, cookie.httponly),
        ("Partitioned", partitioned, cookie.partitioned),
    ):
        if wanted is not None and wanted != actual:
            problems.append(f"{flag} should be {'set' if wanted else 'absent'}")
    if samesite is not None and (cookie.samesite or "").lower() != samesite.lower():
        problems.append(f"SameSite is {cookie.samesite!r}, expected {samesite!r}")
    if path is not None and cookie.path != path:
        problems.append(f"Path is {cookie.path!r}, expected {path!r}")
    _fail(f"cookie {name!r}", problems, response)
    return cookie


def assert_cors_allowed(response: Any, origin: str, *, credentials: bool | None = None) -> None:
    """The response lets scripts of ``origin`` read it (with credentials if asked)."""
    problems = []
    allowed = _one(response, "Access-Control-Allow-Origin")
    allow_credentials = _one(response, "Access-Control-Allow-Credentials")
    if allowed not in (origin, "*"):
        problems.append(f"Access-Control-Allow-Origin is {allowed!r}, expected {origin!r}")
    if allowed == origin:
        vary = {t.strip().lower() for v in _values(response, "Vary") for t in v.split(",")}
        if "origin" not in vary and "*" not in vary:
            problems.append("Vary: Origin is missing (caches would serve it to other origins)")
    if credentials is True:
        if allow_credentials != "true":
            problems.append("Access-Control-Allow-Credentials: true is missing")
        if allowed == "*":
            problems.append("'*' cannot be used with credentials")
    elif credentials is False and allow_credentials is not None:
        problems.append("Access-Control-Allow-Credentials is set")
    _fail(f"CORS allowed for {origin}", problems, response)


def assert_cors_refused(response: Any, origin: str | None = None) -> None:
    """The response gives scripts of other origins nothing: no CORS allowance."""
    problems = []
    allowed = _one(response, "Access-Control-Allow-Origin")
    if allowed is not None and (origin is None or allowed in (origin, "*")):
        problems.append(f"Access-Control-Allow-Origin is {allowed!r}")
    if _one(response, "Access-Control-Allow-Credentials") is not None:
        problems.append("Access-Control-Allow-Credentials is set")
    _fail("CORS refused", problems, response)


def assert_csrf_refused(response: Any) -> None:
    """The request was refused as cross-site request forgery: 403, nothing set."""
    problems = []
    if _status(response) != 403:
        problems.append(f"status is {_status(response)}, expected 403")
    if _values(response, "Set-Cookie"):
        problems.append("the refusal sets cookies")
    _fail("CSRF refused", problems, response)


# -- the browser ---------------------------------------------------------------------


@dataclass
class Cookie:
    """A cookie stored in a :class:`CookieJar`."""

    name: str
    value: str
    domain: str
    host_only: bool
    path: str
    secure: bool
    httponly: bool
    samesite: str  # "Strict", "Lax" or "None" (Lax when the server said nothing)
    expires: float | None


def _domain_match(host: str, domain: str) -> bool:
    return host == domain or (host.endswith("." + domain) and not host.replace(".", "").isdigit())


def _path_match(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


def _default_path(path: str) -> str:
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]


class CookieJar:
    """Cookies as a browser keeps them; ``rejected`` records what it refused and why."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._cookies: dict[tuple[str, str, str], Cookie] = {}
        self.rejected: list[tuple[str, str]] = []
        self._clock = clock

    def __iter__(self) -> Iterator[Cookie]:
        self._expire()
        return iter(list(self._cookies.values()))

    def get(self, name: str) -> Cookie | None:
        """The stored cookie called ``name`` (the first, if several paths hold one)."""
        for cookie in self:
            if cookie.name == name:
                return cookie
        return None

    def _expire(self) -> None:
        now = self._clock()
        for key, cookie in list(self._cookies.items()):
            if cookie.expires is not None and cookie.expires <= now:
                del self._cookies[key]

    def _reject(self, name: str, reason: str) -> None:
        self.rejected.append((name, reason))

    def store(self, header: str, url: str) -> None:
        """Apply one ``Set-Cookie`` received from ``url``."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        secure_origin = parts.scheme == "https"
        parsed = parse_set_cookie(header)
        name = parsed.name
        if not name and not parsed.value:
            return self._reject(name, "empty cookie")
        if len(name) + len(parsed.value) > MAX_COOKIE_SIZE:
            return self._reject(name, "larger than 4096 bytes")
        if parsed.secure and not secure_origin:
            return self._reject(name, "Secure cookie set over plain HTTP")
        samesite = parsed.samesite or "Lax"
        if samesite not in ("Strict", "Lax", "None"):
            samesite = "Lax"
        if samesite == "None" and not parsed.secure:
            return self._reject(name, "SameSite=None without Secure")
        domain = parsed.domain.lstrip(".").lower() if parsed.domain else None
        if name.startswith("__Secure-") and not (parsed.secure and secure_origin):
            return self._reject(name, "__Secure- prefix without Secure over HTTPS")
        if name.startswith("__Host-") and not (
            parsed.secure and secure_origin and domain is None and parsed.path == "/"
        ):
            return self._reject(name, "__Host- prefix needs Secure, Path=/ and no Domain")
        if domain is not None and not _domain_match(host, domain):
            return self._reject(name, f"Domain {domain} does not match {host}")
        path = parsed.path if parsed.path and parsed.path.startswith("/") else None
        path = path or _default_path(parts.path or "/")
        max_age = parsed.max_age  # Max-Age wins over Expires
        expires = self._clock() + max_age if max_age is not None else parsed.expires
        key = (name, domain or host, path)
        if expires is not None and expires <= self._clock():
            self._cookies.pop(key, None)
            return None
        self._cookies[key] = Cookie(
            name=name,
            value=parsed.value,
            domain=domain or host,
            host_only=domain is None,
            path=path,
            secure=parsed.secure,
            httponly=parsed.httponly,
            samesite=samesite,
            expires=expires,
        )
        return None

    def header_for(self, url: str, *, same_site: bool, top_level_safe: bool) -> str | None:
        """The ``Cookie`` header a browser sends to ``url`` in the given context."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path or "/"
        chosen = []
        for cookie in self:
            if cookie.host_only and host != cookie.domain:
                continue
            if not cookie.host_only and not _domain_match(host, cookie.domain):
                continue
            if not _path_match(path, cookie.path):
                continue
            if cookie.secure and parts.scheme != "https":
                continue
            if not same_site and (
                cookie.samesite == "Strict" or (cookie.samesite == "Lax" and not top_level_safe)
            ):
                continue
            chosen.append(cookie)
        chosen.sort(key=lambda cookie: len(cookie.path), reverse=True)  # longest path first
        return "; ".join(f"{c.name}={c.value}" for c in chosen) or None


def _origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _site_of(host: str) -> str:
    # Approximates the registrable domain: enough for test hosts (no public suffix list).
    labels = host.split(".")
    return host if host.replace(".", "").isdigit() else ".".join(labels[-2:])


def fetch_site(initiator: str | None, target: str) -> str:
    """``Sec-Fetch-Site`` for a request from a page of ``initiator`` to ``target``."""
    if initiator is None:
        return "none"
    a, b = _origin_of(initiator), _origin_of(target)
    if a == b:
        return "same-origin"
    if a[0] == b[0] and _site_of(a[1]) == _site_of(b[1]):
        return "same-site"
    return "cross-site"


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Keeps WebTest's own jar empty: the :class:`Browser` jar decides."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class Browser:
    """Sends requests to a WSGI app as a browser on ``https://localhost`` would."""

    def __init__(
        self,
        app: WSGIApplication | webtest.TestApp,
        *,
        origin: str = "https://localhost",
        lint: bool = True,
    ) -> None:
        import webtest

        wsgi = app.app if isinstance(app, webtest.TestApp) else app
        self.testapp = webtest.TestApp(
            wsgi, lint=lint, cookiejar=http.cookiejar.CookieJar(policy=_NoCookies())
        )
        self.origin = origin.rstrip("/")
        self.jar = CookieJar()

    @property
    def cookies(self) -> dict[str, str]:
        """Name -> value of every stored cookie."""
        return {cookie.name: cookie.value for cookie in self.jar}

    def request(
        self,
        path: str,
        method: str = "GET",
        *,
        from_origin: str | None = None,
        mode: str = "navigate",
        dest: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        credentials: bool = True,
        status: int | str | None = "*",
    ) -> webtest.TestResponse:
        """One request: ``from_origin`` is the page making it (``None``: the address bar)."""
        url = path if "://" in path else self.origin + path
        method = method.upper()
        site = fetch_site(from_origin, url)
        dest = dest or ("document" if mode == "navigate" else "empty")
        sent: dict[str, str] = {
            "Sec-Fetch-Site": site,
            "Sec-Fetch-Mode": mode,
            "Sec-Fetch-Dest": dest,
        }
        if mode == "navigate":
            sent["Sec-Fetch-User"] = "?1"
            sent["Upgrade-Insecure-Requests"] = "1"
        cross_origin = site not in ("same-origin", "none")
        if from_origin is not None and (
            method not in ("GET", "HEAD") or (mode != "navigate" and cross_origin)
        ):
            sent["Origin"] = from_origin
        if credentials:
            cookie = self.jar.header_for(
                url,
                same_site=site in ("same-origin", "same-site", "none"),
                top_level_safe=mode == "navigate" and method in ("GET", "HEAD"),
            )
            if cookie:
                sent["Cookie"] = cookie
        if content_type:
            sent["Content-Type"] = content_type
        sent.update(headers or {})
        response = self.testapp.request(
            url, method=method, headers=sent, body=body or b"", status=status, expect_errors=True
        )
        for value in response.headers.getall("Set-Cookie"):
            self.jar.store(value, url)
        return response

    def navigate(self, path: str, *, from_origin: str | None = None) -> webtest.TestResponse:
        """A top-level GET: typed in the address bar, or a link from ``from_origin``."""
        return self.request(path, "GET", from_origin=from_origin, mode="navigate")

    def submit(
        self,
        path: str,
        data: Mapping[str, str],
        *,
        from_origin: str | None = None,
        method: str = "POST",
    ) -> webtest.TestResponse:
        """An HTML form submission from a page of ``from_origin`` (default: this site)."""
        return self.request(
            path,
            method,
            from_origin=from_origin or self.origin,
            mode="navigate",
            body=urlencode(data).encode("ascii"),
            content_type="application/x-www-form-urlencoded",
        )

    def fetch(
        self,
        path: str,
        method: str = "GET",
        *,
        from_origin: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        credentials: bool = True,
    ) -> webtest.TestResponse:
        """A script's ``fetch()`` from a page of ``from_origin`` (default: this site)."""
        return self.request(
            path,
            method,
            from_origin=from_origin or self.origin,
            mode="cors",
            body=body,
            content_type=content_type,
            headers=headers,
            credentials=credentials,
        )

    def preflight(
        self,
        path: str,
        method: str,
        *,
        from_origin: str,
        request_headers: list[str] | None = None,
    ) -> webtest.TestResponse:
        """The CORS preflight a browser sends before a non-simple cross-origin fetch."""
        headers = {"Access-Control-Request-Method": method.upper()}
        if request_headers:
            headers["Access-Control-Request-Headers"] = ",".join(
                sorted(h.lower() for h in request_headers)
            )
        return self.request(
            path,
            "OPTIONS",
            from_origin=from_origin,
            mode="cors",
            headers={"Origin": from_origin, **headers},
            credentials=False,
        )


# -- WebTest and pytest ------------------------------------------------------------------


def make_testapp(
    app: WSGIApplication,
    config: Any = None,
    *,
    https: bool = True,
    host: str = "localhost",
    lint: bool = True,
) -> webtest.TestApp:
    """``app`` wrapped in ``config`` (dict, TOML path, factory; ``None``: defaults)."""
    import webtest

    from .config import factory_from

    stack = factory_from(config)(app)
    extra = {"wsgi.url_scheme": "https" if https else "http", "HTTP_HOST": host}
    if https:
        extra["SERVER_PORT"] = "443"
    return webtest.TestApp(stack, lint=lint, extra_environ=extra)


@pytest.fixture
def headerware_config() -> Any:
    """Override to return the configuration (dict or TOML path) your tests use."""
    return None


@pytest.fixture
def headerware_wsgi_app() -> WSGIApplication:
    """Override to return the bare WSGI application under test."""
    pytest.fail(
        "define a `headerware_wsgi_app` fixture returning your bare WSGI app "
        "(and optionally `headerware_config`) in conftest.py"
    )


@pytest.fixture
def headerware_app(headerware_wsgi_app: WSGIApplication, headerware_config: Any) -> webtest.TestApp:
    """The app wrapped in the configured stack, as a WebTest ``TestApp`` over HTTPS."""
    return make_testapp(headerware_wsgi_app, headerware_config)


@pytest.fixture
def headerware_testapp() -> Callable[..., webtest.TestApp]:
    """A factory: ``headerware_testapp(app, config=None, https=True)``."""
    return make_testapp


@pytest.fixture
def headerware_browser(headerware_app: webtest.TestApp) -> Browser:
    """A :class:`Browser` on ``headerware_app``."""
    return Browser(headerware_app)
