"""The Django >= 6.0 admin under headerware's defaults, in headless Chromium (issue 12),
and its login over HTTP under Django's ASGI handler and uvicorn (issue 13).

A Django 6.1 project with the admin (and Django's own CSRF, sessions, auth and
``csp`` context processor), wrapped in SecurityHeaders + ContentSecurityPolicy +
CookiePolicy with their defaults, served by gunicorn on 127.0.0.1. With
``headerware.contrib.django.middleware.CSPNonceMiddleware`` the admin's templates
carry headerware's nonce: the login page and a logged-in change list load with
zero CSP violations and their scripts run; logging in through the admin's form
passes Django's own CSRF check under headerware's default Referrer-Policy; an
injected inline script without the nonce is blocked. The same project's ASGI
handler, wrapped in an ``ASGIStack`` of the same layers and served by uvicorn, is
checked over plain HTTP (no browser needed): the login page's nonces are
headerware's, the admin's form logs in through Django's CSRF check, and the change
list is served to the session.

Django 6.x needs Python >= 3.12: ``.ci/run`` runs this module in its Python 3.12 /
Django 6.1 venv; under Django 5.2 (no CSP in core) it is skipped.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.parse
from collections.abc import Iterator
from typing import Any

import django
import pytest

from tests.servers import CHROMIUM, ROOT, free_port, launch_chromium, serving

if django.VERSION < (6, 0):
    pytest.skip(
        f"Django {django.get_version()} has no CSP in core (needs Django >= 6.0, Python >= "
        "3.12): .ci/run runs this in its Django 6.1 venv",
        allow_module_level=True,
    )

USER, PASSWORD = "admin", "correct-horse-battery-staple"

PROJECT = '''
"""Settings, URLs and WSGI application of the admin test project."""
import os
from pathlib import Path

import django.contrib.admin

SECRET_KEY = "test-only-" + "x" * 50
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "headerware.contrib.django.middleware.CSPNonceMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
        "django.template.context_processors.csp",
    ]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ["ADMIN_TEST_DB"]}}
ROOT_URLCONF = "adminsite"
STATIC_URL = "/static/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
STATIC_ROOT = Path(django.contrib.admin.__file__).parent / "static"


def _urls():
    from django.contrib import admin
    from django.urls import path, re_path
    from django.views.static import serve

    return [
        path("admin/", admin.site.urls),
        re_path(r"^static/(?P<path>.*)$", serve, {"document_root": STATIC_ROOT}),
    ]


def __getattr__(name):
    if name == "urlpatterns":
        return _urls()
    if name == "application":
        from django.core.wsgi import get_wsgi_application

        from headerware import ContentSecurityPolicy, CookiePolicy, SecurityHeaders, Stack

        return Stack([SecurityHeaders(), ContentSecurityPolicy(), CookiePolicy()],
                     get_wsgi_application())
    if name == "asgi_application":
        from django.core.asgi import get_asgi_application

        from headerware import ContentSecurityPolicy, CookiePolicy, SecurityHeaders
        from headerware.asgi import ASGIStack

        return ASGIStack([SecurityHeaders(), ContentSecurityPolicy(), CookiePolicy()],
                         get_asgi_application())
    raise AttributeError(name)
'''

SETUP = f"""
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth.models import User
call_command("migrate", verbosity=0)
User.objects.create_superuser({USER!r}, "admin@example.com", {PASSWORD!r})
"""

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The admin project, migrated, with its superuser: the servers' environment."""
    work = tmp_path_factory.mktemp("adminsite")
    (work / "adminsite.py").write_text(textwrap.dedent(PROJECT))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(work), str(ROOT)]),
        DJANGO_SETTINGS_MODULE="adminsite",
        ADMIN_TEST_DB=str(work / "db.sqlite3"),
    )
    subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=120)
    return env


@pytest.fixture(scope="module")
def admin_url(project: dict[str, str]) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    with serving([*args, "adminsite:application"], port, env=project, timeout=30):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:  # pragma: no cover - CI installs it
        if os.environ.get("CI"):
            raise RuntimeError("CI must install Debian's chromium (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    tab.add_init_script(RECORD_VIOLATIONS)
    yield tab
    context.close()


def _header_nonce(response: Any) -> str:
    policy = response.headers["content-security-policy"]
    match = re.search(r"script-src [^;]*'nonce-([^']+)'", policy)
    assert match, policy
    return match.group(1)


def _check_clean_page(page: Any, response: Any) -> None:
    """Zero violations, the page's nonce is headerware's, its scripts ran."""
    assert response.status == 200, response.status
    nonce = _header_nonce(response)
    page.wait_for_load_state("load")
    assert page.evaluate("window.__violations") == []
    # theme.js (a nonce'd script of base.html) ran and set the theme.
    assert page.evaluate("document.documentElement.dataset.theme") in ("auto", "light", "dark")
    nonces = page.evaluate("[...document.querySelectorAll('[nonce]')].map((e) => e.nonce)")
    assert nonces and set(nonces) == {nonce}


def _inject(page: Any, nonce: str | None) -> Any:
    return page.evaluate(
        """(nonce) => {
            window.__injected = undefined;
            const script = document.createElement("script");
            if (nonce) script.nonce = nonce;
            script.textContent = "window.__injected = 'ran'";
            document.body.appendChild(script);
            return window.__injected;
        }""",
        nonce,
    )


@pytest.mark.browser
def test_admin_login_change_list_and_injected_script(page: Any, admin_url: str) -> None:
    response = page.goto(admin_url + "/admin/login/?next=/admin/")
    _check_clean_page(page, response)
    assert "csrfmiddlewaretoken" in page.content()

    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    # Django's own CSRF check passed (no 403) and the login worked.
    assert page.url == admin_url + "/admin/", page.content()[:500]
    assert "CSRF verification failed" not in page.content()

    response = page.goto(admin_url + "/admin/auth/user/")
    _check_clean_page(page, response)
    assert USER in page.inner_text("#result_list")
    # The change list's form media (jQuery, jquery.init.js, actions.js; nonce'd) ran.
    assert page.evaluate("typeof django !== 'undefined' && typeof django.jQuery") == "function"

    nonce = _header_nonce(response)
    assert _inject(page, None) is None
    page.wait_for_function("window.__violations.length > 0")
    assert any("script-src" in v for v in page.evaluate("window.__violations"))
    assert _inject(page, nonce) == "ran"


# -- issue 13: the admin under Django's ASGI handler, served by uvicorn ---------------


@pytest.fixture(scope="module")
def asgi_port(project: dict[str, str]) -> Iterator[int]:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "adminsite:asgi_application", "--host", "127.0.0.1"]
    with serving([*args, "--port", str(port)], port, env=project, timeout=30):
        yield port


def _request(
    port: int, method: str, path: str, headers: dict[str, str], body: str = ""
) -> tuple[int, http.client.HTTPMessage, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def _cookies(headers: http.client.HTTPMessage) -> dict[str, str]:
    """Set-Cookie name -> the whole header value."""
    values = headers.get_all("Set-Cookie") or []
    return {value.split("=", 1)[0]: value for value in values}


def _check_nonces(headers: http.client.HTTPMessage, body: str) -> None:
    """Every ``nonce`` attribute the admin rendered is the header's nonce."""
    match = re.search(r"script-src [^;]*'nonce-([^']+)'", headers["Content-Security-Policy"])
    assert match, headers["Content-Security-Policy"]
    rendered = set(re.findall(r'nonce="([^"]*)"', body))
    assert rendered == {match.group(1)}


def test_admin_login_over_asgi(asgi_port: int) -> None:
    status, headers, body = _request(asgi_port, "GET", "/admin/login/?next=/admin/", {})
    assert status == 200
    assert headers["X-Content-Type-Options"] == "nosniff"  # headerware's layers ran
    _check_nonces(headers, body)  # CSPNonceMiddleware read the nonce from the scope
    csrf_cookie = _cookies(headers)["csrftoken"]
    assert "httponly" in csrf_cookie.lower() and "samesite=lax" in csrf_cookie.lower()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    assert token is not None
    jar = csrf_cookie.split(";", 1)[0]
    origin = f"http://127.0.0.1:{asgi_port}"
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": origin, "Cookie": jar}

    def login(password: str, csrf: str) -> tuple[int, http.client.HTTPMessage, str]:
        fields = {"username": USER, "password": password, "csrfmiddlewaretoken": csrf}
        data = urllib.parse.urlencode({**fields, "next": "/admin/"})
        return _request(asgi_port, "POST", "/admin/login/?next=/admin/", form, data)

    status, _, body = login(PASSWORD, "forged" * 6)  # Django's own CSRF check, under ASGI
    assert status == 403 and "CSRF" in body
    status, headers, body = login("wrong", token.group(1))
    assert status == 200 and "sessionid" not in _cookies(headers)
    assert "Please enter the correct username and password" in body

    status, headers, _ = login(PASSWORD, token.group(1))
    assert status == 302 and headers["Location"] == "/admin/"
    session = _cookies(headers)["sessionid"]
    assert "httponly" in session.lower() and "samesite=lax" in session.lower()
    logged_in = {"Cookie": f"{jar}; {session.split(';', 1)[0]}"}
    status, headers, body = _request(asgi_port, "GET", "/admin/auth/user/", logged_in)
    assert status == 200
    assert f">{USER}</a>" in body  # the change list of the logged-in superuser
    _check_nonces(headers, body)
