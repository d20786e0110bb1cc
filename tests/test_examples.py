"""The examples contract (docs/examples.md): the same HTTP tests against all four apps.

Every test runs in-process through WebTest (with lint) against the Flask app, the
bare WSGI app and the Django project, and through :class:`tests.asgi_client.ASGITestApp`
(WebTest's interface over httpx's ASGI transport, with the ASGI messages checked)
against the Starlette app; ``tests/test_examples_http.py`` repeats the key rows over
real HTTP with the apps served by gunicorn and uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import webtest

from headerware.testing import (
    assert_cookie_flags,
    assert_cors_allowed,
    assert_cors_refused,
    assert_csrf_refused,
    assert_security_headers,
)
from tests.asgi_client import ASGITestApp

EXAMPLES = ["flask_app", "wsgi_app", "django_app", "asgi_app"]
ALLOWED_ORIGIN = "https://app.example.com"
TOKEN = "example-token"


def _client_of(name: str) -> webtest.TestApp | ASGITestApp:
    """A WebTest client (with lint) for a WSGI example, its ASGI twin for the ASGI one."""
    module = __import__(f"examples.{name}", fromlist=["app"])
    if name == "asgi_app":
        return ASGITestApp(module.app)
    return webtest.TestApp(module.app, lint=True)


@pytest.fixture(scope="module", params=EXAMPLES)
def app(request: pytest.FixtureRequest) -> Iterator[webtest.TestApp]:
    client = _client_of(request.param)
    yield client
    if isinstance(client, ASGITestApp):
        client.close()


@pytest.fixture()
def client(app: webtest.TestApp) -> webtest.TestApp:
    app.reset()
    return app


def csp_of(response: Any) -> str:
    return str(response.headers["Content-Security-Policy"])


def nonce_of(response: Any) -> str:
    match = re.search(r"'nonce-([A-Za-z0-9+/=_-]+)'", csp_of(response))
    assert match, csp_of(response)
    return match.group(1)


# -- every response -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/page", "/custom-header", "/data", "/hello"])
def test_security_headers_on_every_response(client: webtest.TestApp, path: str) -> None:
    response = client.get(path)
    assert_security_headers(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"]
    csp = csp_of(response)
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1)
    assert "Strict-Transport-Security" not in response.headers


def test_security_headers_on_errors(client: webtest.TestApp) -> None:
    response = client.get("/no-such-page", status=404)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Host": "evil.example"}, id="refused-host"),
        pytest.param({"X-Big": "x" * 9000}, id="oversized-header"),
    ],
)
def test_refusals_carry_security_headers(client: webtest.TestApp, headers: dict[str, str]) -> None:
    response = client.get("/", headers=headers, expect_errors=True)
    assert response.status_int in (400, 431)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Your browser" not in response.text


def test_fresh_nonce_per_request(client: webtest.TestApp) -> None:
    first, second = nonce_of(client.get("/page")), nonce_of(client.get("/page"))
    assert first != second
    assert len(first) >= 22


def test_hsts_only_on_https(client: webtest.TestApp) -> None:
    response = client.get("https://localhost/")
    hsts = response.headers["Strict-Transport-Security"]
    assert "max-age=" in hsts
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 31536000  # type: ignore[union-attr]


def test_forwarded_proto_from_untrusted_peer_is_ignored(client: webtest.TestApp) -> None:
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


# -- routes -------------------------------------------------------------------------


def test_index_echoes_user_agent(client: webtest.TestApp) -> None:
    response = client.get("/", headers={"User-Agent": "TestBrowser/1.0"})
    assert response.status_int == 200
    assert response.text == "Your browser is: TestBrowser/1.0"


def test_page_carries_the_nonce(client: webtest.TestApp) -> None:
    response = client.get("/page")
    nonce = nonce_of(response)
    assert f'<script nonce="{nonce}">' in response.text
    assert "document.body.dataset.ran" in response.text
    assert response.content_type == "text/html"


def test_custom_header(client: webtest.TestApp) -> None:
    response = client.get("/custom-header")
    assert response.text == "Hello, World!"
    assert response.headers["X-Custom-Header"] == "MyValue"


def _set_cookie_headers(response: Any, name: str) -> list[str]:
    cookies = [v for k, v in response.headerlist if k.lower() == "set-cookie"]
    return [v for v in cookies if v.startswith(name + "=")]


def test_set_cookie_is_signed_and_hardened(client: webtest.TestApp) -> None:
    response = client.get("/set-cookie")
    assert_cookie_flags(response, "username", secure=False, httponly=True, samesite="Lax", path="/")
    (cookie,) = _set_cookie_headers(response, "username")
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert value != "john_doe" and value.startswith("john_doe")
    lowered = cookie.lower()
    assert "max-age=604800" in lowered
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "path=/" in lowered
    assert "secure" not in lowered.replace("samesite", "")


def test_set_cookie_secure_on_https(client: webtest.TestApp) -> None:
    response = client.get("https://localhost/set-cookie")
    assert_security_headers(response, hsts=True)
    assert_cookie_flags(response, "username", secure=True, httponly=True, samesite="Lax")
    (cookie,) = _set_cookie_headers(response, "username")
    assert "; secure" in cookie.lower()


def test_get_cookie_round_trip(client: webtest.TestApp) -> None:
    assert client.get("/get-cookie").text == "Hello, stranger!"
    assert client.get("/set-cookie").text == "Cookie has been set!"
    assert client.get("/get-cookie").text == "Hello, john_doe!"


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param("username=john_doe", id="unsigned"),
        pytest.param("username=john_doe.AAAAAAAAAAAAAAAAAAAAAAAAAAA", id="bad-signature"),
        pytest.param("username=", id="empty"),
    ],
)
def test_get_cookie_refuses_unsigned_or_tampered(client: webtest.TestApp, cookie: str) -> None:
    response = client.get("/get-cookie", headers={"Cookie": cookie + "; theme=dark"})
    assert response.text == "Hello, stranger!"


def test_tampered_signed_cookie(client: webtest.TestApp) -> None:
    response = client.get("/set-cookie")
    (cookie,) = _set_cookie_headers(response, "username")
    signed = cookie.split(";", 1)[0].split("=", 1)[1]
    client.reset()
    forged = signed.replace("john_doe", "admin_xx", 1)
    response = client.get("/get-cookie", headers={"Cookie": f"username={forged}"})
    assert response.text == "Hello, stranger!"


def test_delete_cookie(client: webtest.TestApp) -> None:
    client.get("/set-cookie")
    response = client.get("/delete-cookie")
    assert response.text == "Cookie deleted!"
    (cookie,) = _set_cookie_headers(response, "username")
    lowered = cookie.lower()
    assert "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered
    assert client.get("/get-cookie").text == "Hello, stranger!"


def test_session_login_dashboard(client: webtest.TestApp) -> None:
    assert client.get("/dashboard").text == "Please log in"
    assert client.get("/login").text == "Logged in!"
    assert client.get("/dashboard").text == "Welcome user #42"


def test_session_cookie_tampered_is_ignored(client: webtest.TestApp) -> None:
    client.get("/login")
    names = [c.name for c in client.cookiejar]
    client.reset()
    for name in names:
        client.set_cookie(name, "forged-value")
    assert client.get("/dashboard").text == "Please log in"


@pytest.mark.parametrize(
    ("accept", "expect_json"),
    [
        pytest.param("application/json", True, id="json"),
        pytest.param("text/html", False, id="html"),
        pytest.param("text/html;q=0.5, application/json", True, id="json-preferred"),
        pytest.param("application/json;q=0.4, text/html;q=0.9", False, id="html-preferred"),
        pytest.param("application/json;q=0, */*", False, id="json-refused"),
        pytest.param("*/*", False, id="anything"),
    ],
)
def test_data_negotiation(client: webtest.TestApp, accept: str, expect_json: bool) -> None:
    response = client.get("/data", headers={"Accept": accept})
    assert "accept" in response.headers["Vary"].lower()
    if expect_json:
        assert response.content_type == "application/json"
        assert json.loads(response.text) == {"message": "Hello JSON!"}
    else:
        assert response.content_type == "text/html"
        assert response.text == "<p>Hello HTML!</p>"


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        pytest.param("es", "¡Hola!", id="es"),
        pytest.param("es-MX, en;q=0.5", "¡Hola!", id="es-region"),
        pytest.param("en, es;q=0", "Hello!", id="seed-bug-q0"),
        pytest.param("en-US, es;q=0.8", "Hello!", id="en-preferred"),
        pytest.param("fr", "Hello!", id="unknown"),
        pytest.param("", "Hello!", id="none"),
    ],
)
def test_hello_language(client: webtest.TestApp, language: str, expected: str) -> None:
    headers = {"Accept-Language": language} if language else {}
    response = client.get("/hello", headers=headers)
    assert response.text == expected
    assert "accept-language" in response.headers["Vary"].lower()


@pytest.mark.parametrize(
    ("accept", "expect_json"),
    [
        pytest.param("application/json", True, id="json"),
        pytest.param("text/html", False, id="html"),
        pytest.param("text/html;q=0.5, application/json", True, id="json-preferred"),
        pytest.param("application/json;q=0.4, text/html;q=0.9", False, id="html-preferred"),
        pytest.param("application/json;q=0, */*", False, id="json-refused"),
        pytest.param("*/*", False, id="anything"),
        pytest.param("", False, id="none"),
    ],
)
def test_preferences_negotiation(client: webtest.TestApp, accept: str, expect_json: bool) -> None:
    """The seed article's ``GET /preferences``: JSON for JSON clients, else the page."""
    client.set_cookie("theme", "dark")
    headers = {"Accept": accept} if accept else {}
    response = client.get("/preferences", headers=headers)
    assert "accept" in response.headers["Vary"].lower()
    if expect_json:
        assert response.content_type == "application/json"
        assert json.loads(response.text) == {"theme": "dark"}
    else:
        assert response.content_type == "text/html"
        assert "Current theme: dark" in response.text


def test_preferences_json_default_theme(client: webtest.TestApp) -> None:
    response = client.get("/preferences", headers={"Accept": "application/json"})
    assert response.json == {"theme": "light"}


def test_protected_without_token(client: webtest.TestApp) -> None:
    response = client.get("/api/protected", status=401)
    assert response.json == {"error": "Unauthorized"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_protected_with_bad_token(client: webtest.TestApp) -> None:
    response = client.get("/api/protected", headers={"Authorization": "Bearer wrong"}, status=401)
    assert response.json == {"error": "Unauthorized"}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_protected_with_token(client: webtest.TestApp) -> None:
    response = client.get("/api/protected", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.json == {"data": "secret information"}


def test_set_theme(client: webtest.TestApp) -> None:
    response = client.get("/set-theme/dark")
    assert response.text == "Theme set!"
    (cookie,) = _set_cookie_headers(response, "theme")
    assert "max-age=31536000" in cookie.lower()
    assert client.get("/preferences").text.count("Current theme: dark") == 1


def test_set_theme_rejects_bad_value(client: webtest.TestApp) -> None:
    response = client.get("/set-theme/%3Cscript%3E", status=400)
    assert not _set_cookie_headers(response, "theme")


def test_preferences_same_origin_post(client: webtest.TestApp) -> None:
    response = client.post(
        "/preferences",
        {"theme": "dark"},
        headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.text == "Preferences updated!"
    assert _set_cookie_headers(response, "theme")
    assert client.get("/preferences", headers={"Accept": "application/json"}).json == {
        "theme": "dark"
    }


def test_preferences_post_without_browser_headers(client: webtest.TestApp) -> None:
    response = client.post("/preferences", {"theme": "dark"})
    assert response.status_int == 200


FORM = "application/x-www-form-urlencoded"
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param("theme=Dark!", FORM, id="bad-theme"),
        pytest.param("colour=dark", FORM, id="no-theme"),
        pytest.param('{"theme": "dark"}', "application/json", id="not-a-form"),
    ],
)
def test_preferences_post_bad_form_is_400(
    client: webtest.TestApp, body: str, content_type: str
) -> None:
    response = client.request(
        "/preferences",
        method="POST",
        body=body.encode(),
        content_type=content_type,
        headers=SAME_ORIGIN,
        status=400,
    )
    assert response.text == "Invalid theme"
    assert not _set_cookie_headers(response, "theme")


@pytest.mark.parametrize("name", ["wsgi_app", "asgi_app"])
def test_bare_form_parsers_ignore_an_oversized_body(name: str) -> None:
    """The apps that parse forms themselves read at most MAX_FORM_BODY bytes."""
    limit = __import__(f"examples.{name}", fromlist=["MAX_FORM_BODY"]).MAX_FORM_BODY
    client = _client_of(name)
    at_limit = "theme=dark&pad=".ljust(limit, "x")
    try:
        for body, status in ((at_limit, 200), (at_limit + "x", 400)):
            response = client.request(
                "/preferences",
                method="POST",
                body=body.encode(),
                content_type=FORM,
                headers=SAME_ORIGIN,
                status=status,
            )
        assert response.text == "Invalid theme"
    finally:
        if isinstance(client, ASGITestApp):
            client.close()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, id="sfs"),
        pytest.param({"Origin": "https://evil.example"}, id="origin-only"),
        pytest.param(
            {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.localhost"}, id="same-site"
        ),
    ],
)
def test_preferences_cross_site_post_refused(
    client: webtest.TestApp, headers: dict[str, str]
) -> None:
    response = client.post("/preferences", {"theme": "dark"}, headers=headers, status=403)
    assert_csrf_refused(response)
    assert not _set_cookie_headers(response, "theme")
    assert response.headers["X-Frame-Options"] == "DENY"


# -- CORS ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/data", "/api/protected"])
def test_cors_allowed_origin(client: webtest.TestApp, path: str) -> None:
    response = client.get(path, headers={"Origin": ALLOWED_ORIGIN}, expect_errors=True)
    assert_cors_allowed(response, ALLOWED_ORIGIN, credentials=True)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "origin" in response.headers["Vary"].lower()


def test_cors_on_401(client: webtest.TestApp) -> None:
    response = client.get("/api/protected", headers={"Origin": ALLOWED_ORIGIN}, status=401)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_cors_on_405(client: webtest.TestApp) -> None:
    response = client.delete("/data", headers={"Origin": ALLOWED_ORIGIN}, status=405)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


@pytest.mark.parametrize(
    ("path", "method", "allowed_methods"),
    [("/data", "GET", {"GET"}), ("/api/protected", "PUT", {"GET", "POST", "PUT", "DELETE"})],
)
def test_cors_preflight(
    client: webtest.TestApp, path: str, method: str, allowed_methods: set[str]
) -> None:
    response = client.options(
        path,
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert response.status_int in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == allowed_methods
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in allowed and "authorization" in allowed
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "https://evilapp.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
    ],
)
def test_cors_other_origins_get_nothing(client: webtest.TestApp, origin: str) -> None:
    response = client.get("/data", headers={"Origin": origin})
    assert_cors_refused(response, origin)
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/data",
        headers={"Origin": origin, "Access-Control-Request-Method": "PUT"},
        expect_errors=True,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.mark.parametrize("path", ["/", "/page", "/hello"])
def test_no_cors_on_other_routes(client: webtest.TestApp, path: str) -> None:
    response = client.get(path, headers={"Origin": ALLOWED_ORIGIN})
    assert not [k for k in response.headers if k.lower().startswith("access-control-")]


# -- Observatory grade --------------------------------------------------------------

#: Every extra credit the Observatory offers that a page can earn locally.
BONUSES = {
    "content-security-policy": 10,
    "referrer-policy": 5,
    "x-frame-options": 5,
    "cross-origin-resource-policy": 10,
}


#: The Accept header audit_app sends, as a browser does.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def _audit(module_name: str, paths: tuple[str, ...]) -> list[Any]:
    """``audit_app`` (WSGI, WebTest); for the ASGI app, the same requests graded alike."""
    from headerware.audit import CORS_ORIGIN, audit_app, grade_response

    module = __import__(f"examples.{module_name}", fromlist=["app"])
    if module_name != "asgi_app":
        return audit_app(module.app, paths=paths)
    client = ASGITestApp(module.app)
    results = []
    for path in paths:
        url = f"https://localhost{path}"
        page = client.get(url, headers={"Accept": BROWSER_ACCEPT}, expect_errors=True)
        preflight = client.options(
            url,
            headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
            expect_errors=True,
        )
        results.append(
            grade_response(
                url,
                page.status_int,
                page.headerlist,
                page.body,
                https=True,
                cors_headers=preflight.headerlist,
            )
        )
    client.close()
    return results


@pytest.mark.parametrize("module_name", EXAMPLES)
def test_examples_earn_every_observatory_bonus(module_name: str) -> None:
    results = _audit(module_name, ("/", "/page", "/set-cookie", "/login", "/data"))
    for result in results:
        assert result.grade == "A+", result.render_table()
        for name, bonus in BONUSES.items():
            assert result.test(name).score_modifier == bonus, result.render_table()
        assert all(test.passed for test in result.tests if test.evaluated)
    cookie_pages = [r for r in results if r.test("cookies").result != "cookies-not-found"]
    assert cookie_pages
    for result in cookie_pages:
        assert result.test("cookies").score_modifier == 5, result.render_table()
