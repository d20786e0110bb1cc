"""The examples served on 127.0.0.1, checked over real HTTP: the WSGI apps by
gunicorn, the ASGI app by uvicorn (both with two worker processes)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(app: str, port: int) -> list[str]:
    """How the README serves ``app``: gunicorn for WSGI, uvicorn for the ASGI example."""
    if app == "examples.asgi_app:app":
        host = ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        # No access log: stderr is a pipe nobody reads until the server fails.
        return [sys.executable, "-m", "uvicorn", app, *host, "--no-access-log"]
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", app]


@pytest.fixture(
    scope="module",
    params=[
        "examples.flask_app:app",
        "examples.wsgi_app:app",
        "examples.django_app.wsgi:app",
        "examples.asgi_app:app",
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        _command(request.param, port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None:
                message = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(message) from None
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"{request.param} did not start")
    yield port
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stderr:
        process.stderr.close()


def _get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET", body: str = ""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_index_and_security_headers(server: int) -> None:
    status, headers, body = _get(server, "/", {"User-Agent": "Probe/2"})
    assert status == 200
    assert body == b"Your browser is: Probe/2"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers
    # The page with inline script gets a nonce, rendered by the template helpers.
    _, headers, body = _get(server, "/page")
    nonce = headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'<script nonce="{nonce}">'.encode() in body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/set-cookie", b"Cookie has been set!"),
        ("/delete-cookie", b"Cookie deleted!"),
        ("/login", b"Logged in!"),
        ("/set-theme/dark", b"Theme set!"),
    ],
)
def test_the_article_bodies(server: int, path: str, body: bytes) -> None:
    assert _get(server, path)[2] == body


def test_preferences_json_or_html(server: int) -> None:
    accept = {"Accept": "text/html;q=0.5, application/json", "Cookie": "theme=dark"}
    _, headers, body = _get(server, "/preferences", accept)
    assert headers["Content-Type"].startswith("application/json")
    assert "accept" in headers["Vary"].lower()
    assert json.loads(body) == {"theme": "dark"}
    _, headers, body = _get(server, "/preferences", {"Accept": "text/html", "Cookie": "theme=dark"})
    assert b"Current theme: dark" in body


def test_custom_header(server: int) -> None:
    status, headers, body = _get(server, "/custom-header")
    assert (status, body, headers["X-Custom-Header"]) == (200, b"Hello, World!", "MyValue")


def test_signed_cookie_round_trip_across_workers(server: int) -> None:
    _, headers, _ = _get(server, "/set-cookie")
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("username=john_doe") and cookie != "username=john_doe"
    # Two workers: the signing keys are shared, so any worker verifies it.
    for _ in range(6):
        _, _, body = _get(server, "/get-cookie", {"Cookie": cookie})
        assert body == b"Hello, john_doe!"
    _, _, body = _get(server, "/get-cookie", {"Cookie": "username=john_doe"})
    assert body == b"Hello, stranger!"


def test_session_across_workers(server: int) -> None:
    _, headers, _ = _get(server, "/login")
    cookies = [v.split(";", 1)[0] for k, v in headers.items() if k.lower() == "set-cookie"]
    jar = "; ".join(cookies)
    for _ in range(6):
        _, _, body = _get(server, "/dashboard", {"Cookie": jar})
        assert body == b"Welcome user #42"


def test_cors_preflight_and_401(server: int) -> None:
    status, headers, _ = _get(
        server,
        "/api/protected",
        {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
        method="OPTIONS",
    )
    assert status in (200, 204)
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    status, headers, _ = _get(server, "/api/protected", {"Origin": "https://app.example.com"})
    assert status == 401
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_cross_site_post_refused(server: int) -> None:
    status, _, _ = _get(
        server,
        "/preferences",
        {
            "Origin": "https://evil.example",
            "Sec-Fetch-Site": "cross-site",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
        body="theme=dark",
    )
    assert status == 403
