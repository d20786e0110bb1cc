"""What is particular to the Django example (the shared contract runs in test_examples).

Every test with the ``client`` (or ``bare``) fixture runs twice: on ``wsgi.app``
(Django's WSGI handler) and on ``asgi.app`` (Django's ASGI handler, the same
settings and TOML). The end of the module serves ``asgi.app`` with uvicorn.

Django's own security, CSRF, clickjacking and session middleware are off, so every
security header, cookie flag, session and CSRF decision comes from headerware alone:
nothing is sent twice and Django adds no ``Vary`` or cookies of its own. Django's
conventions (APPEND_SLASH redirects, HTML error pages, empty 405 bodies,
ALLOWED_HOSTS) do not change the behaviour: each response has the same shape as the
bare WSGI example's.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import webtest

from examples import django_app
from examples.django_app import asgi, wsgi
from headerware.asgi import ASGIStack
from tests.django_asgi import asgi_as_wsgi
from tests.servers import PYTHON, free_port, serving

NONCE = re.compile(r'nonce="[^"]*"')
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


#: Every test taking ``client`` or ``bare`` runs on Django's WSGI handler and on its
#: ASGI handler (``asgi.py``, through tests/django_asgi.py's in-process server).
INTERFACES = ["wsgi", "asgi"]


@pytest.fixture(params=INTERFACES)
def interface(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def client(interface: str) -> webtest.TestApp:
    app = wsgi.app if interface == "wsgi" else asgi_as_wsgi(asgi.app)
    return webtest.TestApp(app, lint=True)


@pytest.fixture()
def bare(interface: str) -> webtest.TestApp:
    app = wsgi.bare_app if interface == "wsgi" else asgi_as_wsgi(asgi.bare_app, strict=False)
    return webtest.TestApp(app, lint=True)


def _names(response: Any) -> list[str]:
    return [name.lower() for name, _ in response.headerlist]


def test_entry_points_are_the_wrapped_handler() -> None:
    assert wsgi.application is wsgi.app
    assert django_app.app is wsgi.app
    assert django_app.bare_app is wsgi.bare_app
    assert wsgi.app is not wsgi.bare_app
    with pytest.raises(AttributeError):
        _ = django_app.no_such_name


def test_asgi_entry_points_wrap_the_asgi_handler_in_the_same_layers() -> None:
    from django.core.handlers.asgi import ASGIHandler

    assert asgi.application is asgi.app
    assert isinstance(asgi.app, ASGIStack) and asgi.app.app is asgi.bare_app
    assert isinstance(asgi.bare_app, ASGIHandler)
    wsgi_layers = [(layer.name, layer.describe()) for layer in wsgi.app.layers]
    asgi_layers = [(layer.name, layer.describe()) for layer in asgi.app.layers]
    assert asgi_layers == wsgi_layers  # the same TOML file, the same options


def test_django_itself_sends_no_security_headers(bare: webtest.TestApp) -> None:
    response = bare.get("/custom-header")
    assert response.text == "Hello, World!"
    for name in SECURITY_HEADERS:
        assert name.lower() not in _names(response)
    assert "Vary" not in response.headers


@pytest.mark.parametrize("path", ["/", "/page", "/login", "/dashboard", "/data"])
def test_each_security_header_sent_once(client: webtest.TestApp, path: str) -> None:
    names = _names(client.get(path))
    for name in SECURITY_HEADERS:
        assert names.count(name.lower()) == 1, name


def _cookies(response: Any) -> dict[str, frozenset[str]]:
    """Set-Cookie name -> its attributes (lower-case, ``Expires`` left out: a date)."""
    cookies: dict[str, frozenset[str]] = {}
    for name, value in response.headerlist:
        if name.lower() == "set-cookie":
            pair, *attrs = (part.strip().lower() for part in value.split(";"))
            kept = frozenset(a for a in attrs if not a.startswith("expires="))
            cookies[pair.split("=", 1)[0]] = kept
    return cookies


def _shape(response: Any) -> dict[str, Any]:
    """What must match between the examples: all but nonces, dates and signatures.

    ETags are left out: Caching computes one only for a body already complete in
    memory (a list), which the bare WSGI app returns and Django's response iterator
    is not; everything else about caching (Cache-Control, Vary) must match.
    """
    return {
        "status": response.status,
        "body": NONCE.sub("nonce", response.text),
        "content_type": response.headers.get("Content-Type"),
        "headers": sorted(set(_names(response)) - {"etag"}),
        "cache_control": response.headers.get("Cache-Control"),
        "vary": response.headers.get("Vary"),
        "allow": response.headers.get("Allow"),
        "cookies": _cookies(response),
        "cors": response.headers.get("Access-Control-Allow-Origin"),
    }


PARITY_REQUESTS = [
    *(
        pytest.param("GET", path, {}, id=path)
        for path in (
            "/",
            "/page",
            "/custom-header",
            "/set-cookie",
            "/get-cookie",
            "/delete-cookie",
            "/login",
            "/dashboard",
            "/data",
            "/hello",
            "/api/protected",
            "/set-theme/dark",
            "/set-theme/%3Cb%3E",
            "/preferences",
            "/no-such-page",
        )
    ),
    pytest.param("GET", "/data", {"Accept": "application/json"}, id="data-json"),
    pytest.param(
        "GET",
        "/preferences",
        {"Accept": "text/html;q=0.5, application/json", "Cookie": "theme=dark"},
        id="preferences-json",
    ),
    pytest.param(
        "GET",
        "/preferences",
        {"Accept": "application/json;q=0, */*", "Cookie": "theme=dark"},
        id="preferences-html",
    ),
    pytest.param("GET", "/hello", {"Accept-Language": "es"}, id="hello-es"),
    pytest.param(
        "GET", "/get-cookie", {"Cookie": "username=john_doe; theme=dark"}, id="unsigned-cookie"
    ),
    pytest.param(
        "GET",
        "/api/protected",
        {"Authorization": "Bearer example-token", "Origin": "https://app.example.com"},
        id="bearer-cors",
    ),
    pytest.param(
        "OPTIONS",
        "/api/protected",
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
        id="preflight",
    ),
    pytest.param("DELETE", "/data", {"Origin": "https://app.example.com"}, id="data-405"),
    pytest.param("POST", "/page", {}, id="page-405"),
    pytest.param("HEAD", "/custom-header", {}, id="head"),
]


@pytest.mark.parametrize(("method", "path", "headers"), PARITY_REQUESTS)
def test_same_response_as_the_bare_wsgi_example(
    client: webtest.TestApp, method: str, path: str, headers: dict[str, str]
) -> None:
    """Status, body, header names, Vary, cookies: Django changes none of them."""
    from examples import wsgi_app

    reference = webtest.TestApp(wsgi_app.app, lint=True)
    ours = client.request(path, method=method, headers=headers, expect_errors=True)
    theirs = reference.request(path, method=method, headers=headers, expect_errors=True)
    assert _shape(ours) == _shape(theirs)


def test_session_parity_across_requests(client: webtest.TestApp) -> None:
    from examples import wsgi_app

    reference = webtest.TestApp(wsgi_app.app, lint=True)
    for path in ("/login", "/dashboard"):
        assert _shape(client.get(path)) == _shape(reference.get(path))
    assert client.get("/dashboard").text == "Welcome user #42"


def test_post_needs_no_django_csrf_token(client: webtest.TestApp) -> None:
    response = client.post(
        "/preferences",
        {"theme": "dark"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.text == "Preferences updated!"
    assert "csrftoken" not in response.headers.get("Set-Cookie", "")


def test_cross_site_post_is_refused_before_django(client: webtest.TestApp) -> None:
    response = client.post(
        "/preferences",
        {"theme": "dark"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        status=403,
    )
    assert "Preferences updated" not in response.text
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("POST", "/page", "GET, HEAD", id="post-page"),
        pytest.param("PUT", "/preferences", "GET, HEAD, POST", id="put-preferences"),
        pytest.param("DELETE", "/set-theme/dark", "GET, HEAD", id="delete-set-theme"),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: webtest.TestApp, method: str, path: str, allow: str
) -> None:
    headers = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    response = client.request(path, method=method, headers=headers, status=405)
    assert response.headers["Allow"] == allow
    assert response.headers["X-Frame-Options"] == "DENY"
    assert not [v for k, v in response.headerlist if k.lower() == "set-cookie"]


def test_head_is_allowed(client: webtest.TestApp) -> None:
    response = client.head("/custom-header")
    assert response.status_int == 200
    assert response.headers["X-Custom-Header"] == "MyValue"


@pytest.mark.parametrize("path", ["/page/", "/api/protected/x", "/set-theme/", "/set-theme/a/b"])
def test_unknown_paths_are_plain_404_not_redirects(client: webtest.TestApp, path: str) -> None:
    headers = {"Authorization": "Bearer example-token"}
    response = client.get(path, headers=headers, status=404)
    assert response.text == "Not Found"
    assert "Location" not in response.headers
    assert "Content-Security-Policy" in response.headers


def test_host_not_allowed_refused_by_headerware(
    client: webtest.TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    # headerware's trusted_hosts answers first, so Django's DisallowedHost never fires.
    response = client.get("/", headers={"Host": "evil.example"}, status=400)
    assert "Your browser is" not in response.text
    assert not any(r.name.startswith("django.security") for r in caplog.records)
    assert any("host_refused" in record.getMessage() for record in caplog.records)


def test_oversized_form_body_is_plain_400(client: webtest.TestApp) -> None:
    response = client.post("/preferences", {"theme": "d" * 70_000}, status=400)
    assert response.text == "Bad Request"
    assert not [v for k, v in response.headerlist if k.lower() == "set-cookie"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_deletion_goes_out_unsigned_and_hardened(client: webtest.TestApp) -> None:
    client.get("/set-cookie")
    response = client.get("/delete-cookie")
    (cookie,) = [v for k, v in response.headerlist if k.lower() == "set-cookie"]
    assert cookie.startswith('username="";')
    lowered = cookie.lower()
    assert "max-age=0" in lowered and "httponly" in lowered and "samesite=lax" in lowered
    assert client.get("/get-cookie").text == "Hello, stranger!"


def test_django_sees_the_verified_cookie_only(client: webtest.TestApp) -> None:
    signed = client.get("/set-cookie").headers["Set-Cookie"].split(";", 1)[0]
    client.reset()
    both = f"{signed}; theme=dark"
    assert client.get("/get-cookie", headers={"Cookie": both}).text == "Hello, john_doe!"
    client.reset()
    forged = "username=john_doe; theme=dark"
    assert client.get("/get-cookie", headers={"Cookie": forged}).text == "Hello, stranger!"
    # The unsigned theme cookie next to the refused one is still there.
    assert "Current theme: dark" in client.get("/preferences", headers={"Cookie": forged}).text


# -- uvicorn examples.django_app.asgi:app on 127.0.0.1, over real HTTP -------------


@pytest.fixture(scope="module")
def uvicorn_port() -> Iterator[int]:
    """``uvicorn examples.django_app.asgi:app`` (two workers: the keys are shared)."""
    port = free_port()
    args = [PYTHON, "-m", "uvicorn", "examples.django_app.asgi:app", "--host", "127.0.0.1"]
    with serving([*args, "--port", str(port), "--workers", "2"], port, timeout=30):
        yield port


def _http(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET", body: str = ""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_uvicorn_index_security_headers_and_nonce_page(uvicorn_port: int) -> None:
    status, headers, body = _http(uvicorn_port, "/", {"User-Agent": "Probe/2"})
    assert (status, body) == (200, b"Your browser is: Probe/2")
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers
    _, headers, body = _http(uvicorn_port, "/page")
    nonce = headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">'.encode() in body  # {% csp_nonce %} from the scope


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/set-cookie", b"Cookie has been set!"),
        ("/delete-cookie", b"Cookie deleted!"),
        ("/login", b"Logged in!"),
        ("/set-theme/dark", b"Theme set!"),
        ("/custom-header", b"Hello, World!"),
    ],
)
def test_uvicorn_the_article_bodies(uvicorn_port: int, path: str, body: bytes) -> None:
    assert _http(uvicorn_port, path)[2] == body


def test_uvicorn_preferences_json_or_html_and_head(uvicorn_port: int) -> None:
    accept = {"Accept": "text/html;q=0.5, application/json", "Cookie": "theme=dark"}
    _, headers, body = _http(uvicorn_port, "/preferences", accept)
    assert headers["Content-Type"].startswith("application/json")
    assert "accept" in headers["Vary"].lower()
    assert json.loads(body) == {"theme": "dark"}
    html = {"Accept": "text/html", "Cookie": "theme=dark"}
    assert b"Current theme: dark" in _http(uvicorn_port, "/preferences", html)[2]
    status, headers, body = _http(uvicorn_port, "/custom-header", method="HEAD")
    assert (status, body, headers["X-Custom-Header"]) == (200, b"", "MyValue")


def test_uvicorn_signed_cookie_and_session_across_workers(uvicorn_port: int) -> None:
    _, headers, _ = _http(uvicorn_port, "/set-cookie")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("username=john_doe") and cookie != "username=john_doe"
    for _ in range(6):
        assert _http(uvicorn_port, "/get-cookie", {"Cookie": cookie})[2] == b"Hello, john_doe!"
    forged = {"Cookie": "username=john_doe"}
    assert _http(uvicorn_port, "/get-cookie", forged)[2] == b"Hello, stranger!"
    _, headers, _ = _http(uvicorn_port, "/login")
    jar = "; ".join(value.split(";", 1)[0] for value in headers.get_all("Set-Cookie") or [])
    for _ in range(6):
        assert _http(uvicorn_port, "/dashboard", {"Cookie": jar})[2] == b"Welcome user #42"


def test_uvicorn_cors_preflight_and_401(uvicorn_port: int) -> None:
    origin = "https://app.example.com"
    preflight = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    status, headers, _ = _http(uvicorn_port, "/api/protected", preflight, method="OPTIONS")
    assert status in (200, 204)
    assert headers["Access-Control-Allow-Origin"] == origin
    status, headers, _ = _http(uvicorn_port, "/api/protected", {"Origin": origin})
    assert status == 401
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["WWW-Authenticate"].startswith("Bearer")
    token = {"Authorization": "Bearer example-token"}
    assert json.loads(_http(uvicorn_port, "/api/protected", token)[2]) == {
        "data": "secret information"
    }


def test_uvicorn_cross_site_post_and_bad_host_refused(uvicorn_port: int) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cross_site = {**form, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    status, headers, body = _http(
        uvicorn_port, "/preferences", cross_site, method="POST", body="theme=dark"
    )
    assert status == 403 and b"Preferences updated" not in body
    assert headers["X-Frame-Options"] == "DENY"
    same = {**form, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    status, _, body = _http(uvicorn_port, "/preferences", same, method="POST", body="theme=dark")
    assert (status, body) == (200, b"Preferences updated!")
    status, _, body = _http(uvicorn_port, "/", {"Host": "evil.example"})
    assert status == 400 and b"Your browser is" not in body
