"""Real-browser tests: headless Chromium (Debian's) driven by Playwright.

The examples are served on ``127.0.0.1`` (the WSGI ones by werkzeug, the ASGI one by
uvicorn); a second, cross-site origin (host name
``localhost``, another port) serves the "other site" pages: a framing page, a
cross-site form and fetch() callers. ``127.0.0.1`` and ``localhost`` are different
sites to the browser, so SameSite and Sec-Fetch-Site behave as across the web.

The examples' CORS origin is ``https://app.example.com``; for the CORS fetch tests
the same example app is wrapped in the example configuration with that allowed
origin replaced by the local second origin.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.servers import CHROMIUM, launch_chromium

pytestmark = pytest.mark.browser

if shutil.which(CHROMIUM) is None:  # pragma: no cover - CI installs it
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Debian's chromium (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


class Server:
    """A threaded werkzeug server on 127.0.0.1 and a free port."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class UvicornServer:
    """uvicorn on 127.0.0.1 and a free port, in a thread: an ASGI app's ``Server``."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(app, ws="none", lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()


def other_site_app(target: dict[str, str]) -> Any:
    """The cross-site origin's pages, pointing at ``target["url"]``."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        url = target["url"]
        pages = {
            "/frame": f'<iframe id="f" src="{url}/page"></iframe>',
            "/form": (
                f'<form id="f" method="post" action="{url}/preferences">'
                '<input name="theme" value="evil"></form>'
            ),
            "/blank": "<p>other site</p>",
        }
        body = f"<!doctype html><html><body>{pages.get(path, '')}</body></html>".encode()
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def other_site() -> Iterator[tuple[Server, dict[str, str]]]:
    target: dict[str, str] = {"url": ""}
    server = Server(other_site_app(target))
    yield server, target
    server.stop()


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace(item, old, new) for item in value]
    if isinstance(value, dict):
        return {key: _replace(item, old, new) for key, item in value.items()}
    return value


def _cors_app(bare: Any, second_origin: str, asgi: bool) -> Any:
    from examples.common import CONFIG_PATH
    from headerware.config import StackFactory

    config = tomllib.loads(CONFIG_PATH.read_text())
    factory = StackFactory(_replace(config, "https://app.example.com", second_origin))
    return factory.asgi(bare) if asgi else factory(bare)


#: Each example's unwrapped application.
BARE = {
    "flask_app": "flask_app",
    "wsgi_app": "bare_app",
    "django_app": "bare_app",
    "asgi_app": "starlette_app",
}


@pytest.fixture(scope="module", params=list(BARE))
def site(
    request: pytest.FixtureRequest, other_site: tuple[Server, dict[str, str]]
) -> Iterator[dict[str, Any]]:
    module = __import__(f"examples.{request.param}", fromlist=["app"])
    bare = getattr(module, BARE[request.param])
    asgi = request.param == "asgi_app"
    serve = UvicornServer if asgi else Server
    second, target = other_site
    second_origin = f"http://localhost:{second.port}"
    main = serve(module.app)
    cors = serve(_cors_app(bare, second_origin, asgi))
    target["url"] = f"http://127.0.0.1:{main.port}"
    yield {
        "url": f"http://127.0.0.1:{main.port}",
        "cors_url": f"http://127.0.0.1:{cors.port}",
        "other": second_origin,
    }
    main.stop()
    cors.stop()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    yield tab
    context.close()


def test_nonce_script_runs_and_other_inline_script_is_blocked(
    page: Any, site: dict[str, Any]
) -> None:
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text))
    page.goto(site["url"] + "/page")
    assert page.evaluate("document.body.dataset.ran") == "yes"
    assert page.evaluate("document.body.dataset.unsafe") is None
    assert any("Content Security Policy" in text for text in violations)


def test_httponly_cookie_invisible_to_scripts_but_sent(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/set-cookie")
    page.goto(site["url"] + "/page")
    assert "username" not in page.evaluate("document.cookie")
    page.goto(site["url"] + "/get-cookie")
    assert page.inner_text("body") == "Hello, john_doe!"


def test_session_login_in_browser(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/dashboard")
    assert page.inner_text("body") == "Please log in"
    page.goto(site["url"] + "/login")
    page.goto(site["url"] + "/dashboard")
    assert page.inner_text("body") == "Welcome user #42"


def test_cross_site_form_post_is_refused(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/set-theme/light")
    page.goto(site["other"] + "/form")
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    assert page.url.startswith(site["url"] + "/preferences")
    assert "Preferences updated" not in page.content()
    page.goto(site["url"] + "/preferences")
    assert "Current theme: light" in page.inner_text("body")


def test_same_origin_form_post_succeeds(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["url"] + "/preferences")
    page.fill("input[name=theme]", "dark")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.inner_text("body") == "Preferences updated!"
    page.goto(site["url"] + "/preferences")
    assert "Current theme: dark" in page.inner_text("body")


def test_lax_cookie_not_sent_on_cross_site_post(page: Any, site: dict[str, Any]) -> None:
    responses: list[Any] = []
    page.goto(site["url"] + "/set-cookie")
    page.goto(site["other"] + "/form")
    page.on("request", lambda request: responses.append(request))
    with page.expect_navigation():
        page.evaluate("document.getElementById('f').submit()")
    posts = [r for r in responses if r.method == "POST"]
    assert posts
    assert "username=" not in (posts[0].all_headers().get("cookie") or "")
    # A top-level GET navigation from the other site still carries the Lax cookie.
    page.goto(site["other"] + "/blank")
    page.evaluate(f"location.href = {site['url'] + '/get-cookie'!r}")
    page.wait_for_url(site["url"] + "/get-cookie")
    assert page.inner_text("body") == "Hello, john_doe!"


def test_framing_from_another_origin_is_blocked(page: Any, site: dict[str, Any]) -> None:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(site["other"] + "/frame")
    page.wait_for_timeout(500)
    frames = [frame for frame in page.frames if frame is not page.main_frame]
    assert frames
    ran = None
    try:
        ran = frames[0].evaluate("document.body && document.body.dataset.ran")
    except Exception:  # a blocked frame may refuse evaluation
        ran = None
    assert ran != "yes"
    # Blocked by the framing policy, not by anything else (a wrong URL would pass above).
    assert any(
        ("frame-ancestors" in m or "X-Frame-Options" in m)
        and ("blocked" in m.lower() or "refused" in m.lower())
        for m in messages
    ), messages


def _fetch(page: Any, url: str, init: str) -> Any:
    return page.evaluate(
        f"""async () => {{
            try {{
                const r = await fetch({url!r}, {init});
                return {{ok: true, status: r.status, body: await r.text()}};
            }} catch (e) {{
                return {{ok: false, error: String(e)}};
            }}
        }}"""
    )


def test_cors_fetch_with_credentials_from_allowed_origin(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["other"] + "/blank")
    simple = _fetch(page, site["cors_url"] + "/data", "{credentials: 'include'}")
    assert simple["ok"], simple
    assert simple["body"] == "<p>Hello HTML!</p>"
    preflighted = _fetch(
        page,
        site["cors_url"] + "/api/protected",
        "{credentials: 'include', headers: {'Authorization': 'Bearer example-token', "
        "'Content-Type': 'application/json'}}",
    )
    assert preflighted["ok"], preflighted
    assert preflighted["status"] == 200
    assert "secret information" in preflighted["body"]


def test_cors_fetch_from_other_origin_fails(page: Any, site: dict[str, Any]) -> None:
    page.goto(site["other"] + "/blank")
    # The main app allows only https://app.example.com: this origin gets nothing.
    simple = _fetch(page, site["url"] + "/data", "{credentials: 'include'}")
    assert not simple["ok"]
    preflighted = _fetch(
        page,
        site["url"] + "/api/protected",
        "{credentials: 'include', headers: {'Authorization': 'Bearer example-token'}}",
    )
    assert not preflighted["ok"]
