"""What is particular to the Django example (the shared contract runs in test_examples).

Django's own security, CSRF, clickjacking and session middleware are off, so every
security header, cookie flag, session and CSRF decision comes from headerware alone:
nothing is sent twice and Django adds no ``Vary`` or cookies of its own. Django's
conventions (APPEND_SLASH redirects, HTML error pages, empty 405 bodies,
ALLOWED_HOSTS) do not change the behaviour: each response has the same shape as the
bare WSGI example's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import webtest

from examples import django_app
from examples.django_app import wsgi

NONCE = re.compile(r'nonce="[^"]*"')
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


@pytest.fixture()
def client() -> webtest.TestApp:
    return webtest.TestApp(wsgi.app, lint=True)


@pytest.fixture()
def bare() -> webtest.TestApp:
    return webtest.TestApp(wsgi.bare_app, lint=True)


def _names(response: Any) -> list[str]:
    return [name.lower() for name, _ in response.headerlist]


def test_entry_points_are_the_wrapped_handler() -> None:
    assert wsgi.application is wsgi.app
    assert django_app.app is wsgi.app
    assert django_app.bare_app is wsgi.bare_app
    assert wsgi.app is not wsgi.bare_app
    with pytest.raises(AttributeError):
        _ = django_app.no_such_name


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
        if name == "Set-Cookie":
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
    assert not [v for k, v in response.headerlist if k == "Set-Cookie"]


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
    assert not [v for k, v in response.headerlist if k == "Set-Cookie"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_deletion_goes_out_unsigned_and_hardened(client: webtest.TestApp) -> None:
    client.get("/set-cookie")
    response = client.get("/delete-cookie")
    (cookie,) = [v for k, v in response.headerlist if k == "Set-Cookie"]
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
