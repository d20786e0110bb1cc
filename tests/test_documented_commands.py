"""Every serving command the documentation shows serves the documented configuration
or refuses to start saying why (issue 15 item 1, issue 11 item 4).

The commands are read from README.md (Quick start, gunicorn, PasteDeploy) and from the
docstrings of headerware.deploy and headerware.paste, and run as written: real
gunicorn, uvicorn (the ASGI example) or ``headerware run`` on 127.0.0.1, on a free
port given through ``GUNICORN_CMD_ARGS`` (or ``--host``/``--port``). With keys, each
must answer /api/protected without a token with 401, a foreign Host with 400, and a
CORS preflight from https://app.example.com with CORS headers. Without keys (and
without development mode), every production command refuses to start naming
``headerware keygen``; ``headerware run`` on loopback serves with ONE
development-key warning.
"""

from __future__ import annotations

import http.client
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import headerware.deploy
import headerware.paste
from tests.servers import PYTHON, ROOT, free_port

KEY = "documented-commands-key-0123456789"
ORIGIN = "https://app.example.com"
#: Development mode and anything a command could pick up from the test environment.
_SCRUBBED = (
    "HEADERWARE_DEVELOPMENT",
    "HEADERWARE_SECRET_KEYS",
    "HEADERWARE_CONFIG",
    "HEADERWARE_APP",
    "HEADERWARE_BIND",
    "HEADERWARE_EXAMPLE_TOKEN",
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
)
#: What the documentation must keep showing (a dropped command fails here).
EXPECTED = {
    "headerware run examples.flask_app:flask_app --config examples/headerware.toml",
    'gunicorn \'headerware.deploy:wrap("examples.flask_app:flask_app", '
    'config="examples/headerware.toml")\'',
    "gunicorn -c examples/gunicorn.conf.py",
    "gunicorn -c examples/gunicorn.conf.py "
    "'headerware.deploy:wrap(\"examples.flask_app:flask_app\")'",
    "gunicorn examples.flask_app:app",
    "gunicorn examples.wsgi_app:app",
    "gunicorn examples.django_app.wsgi:app",
    "uvicorn examples.asgi_app:app",
    "uvicorn examples.django_app.asgi:app",
    "gunicorn --paste examples/paste.ini",
    "gunicorn --paste 'examples/paste.ini#toml'",
}


def _readme_sections(*titles: str) -> str:
    text = (ROOT / "README.md").read_text()
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    return "\n".join(part for part in parts if part.split("\n", 1)[0].strip() in titles)


def _commands(text: str) -> list[str]:
    """Shell lines and inline code (``x`` or `x`) that start a server."""
    text = text.replace("\\\n", " ")
    found = []
    fenced = re.findall(r"^```\w*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    lines = "\n".join(fenced).splitlines() + [
        line
        for line in text.splitlines()
        if line.startswith("    ")  # literal blocks
    ]
    candidates = [line.strip() for line in lines]
    candidates += re.findall(r"``([^`]+)``", text) + re.findall(r"(?<!`)`([^`]+)`(?!`)", text)
    for candidate in candidates:
        command = " ".join(re.sub(r"\s#\s.*", "", candidate).split())
        starts_server = command.startswith(("gunicorn ", "uvicorn ", "headerware run "))
        if starts_server and command not in found:
            found.append(command)
    return found


def documented_commands() -> list[str]:
    commands = _commands(_readme_sections("Quick start", "gunicorn", "PasteDeploy"))
    for module in (headerware.deploy, headerware.paste):
        for command in _commands(module.__doc__ or ""):
            if command not in commands:
                commands.append(command)
    return commands


COMMANDS = documented_commands()


def test_the_documentation_shows_the_expected_commands() -> None:
    assert set(COMMANDS) >= EXPECTED, sorted(EXPECTED - set(COMMANDS))
    assert set(COMMANDS) <= EXPECTED, f"untested command shown: {set(COMMANDS) - EXPECTED}"


def _argv(command: str, port: int) -> tuple[list[str], dict[str, str]]:
    words = shlex.split(command)
    if words[0] == "headerware":
        return [PYTHON, "-m", "headerware", *words[1:], "--port", str(port)], {}
    if words[0] == "uvicorn":
        return [PYTHON, "-m", "uvicorn", *words[1:], "--host", "127.0.0.1", "--port", str(port)], {}
    cmd_args = f"--bind 127.0.0.1:{port} --workers 1 --no-control-socket"
    return [PYTHON, "-m", "gunicorn", *words[1:]], {"GUNICORN_CMD_ARGS": cmd_args}


def _environ(extra: dict[str, str]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(extra)
    return environ


@contextmanager
def _server(command: str, log: Path, keys: bool) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    argv, extra = _argv(command, port)
    if keys:
        extra["HEADERWARE_SECRET_KEYS"] = KEY
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=_environ(extra), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while _status(port, "GET", "/") is None:
            if process.poll() is not None:
                raise AssertionError(f"{command} exited:\n{log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not answer:\n{log.read_text()}")
            time.sleep(0.2)
        yield port, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        connection.close()


def _status(port: int, method: str, path: str) -> int | None:
    try:
        return _request(port, method, path)[0]
    except OSError:
        return None


def _check_protections(port: int) -> None:
    status, _ = _request(port, "GET", "/api/protected")
    assert status == 401, "/api/protected answered without a token"
    status, _ = _request(port, "GET", "/", {"Host": "evil.example"})
    assert status == 400, "a foreign Host was served"
    status, headers = _request(
        port,
        "OPTIONS",
        "/api/protected",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN, (status, dict(headers))
    assert headers.get("Access-Control-Allow-Credentials") == "true"
    status, _ = _request(port, "GET", "/api/protected", {"Authorization": "Bearer example-token"})
    assert status == 200, "the documented token no longer works: the app is not served"


@pytest.mark.parametrize("command", COMMANDS)
def test_serves_the_documented_configuration(command: str, tmp_path: Path) -> None:
    with _server(command, tmp_path / "server.log", keys=True) as (port, _):
        _check_protections(port)


PRODUCTION = [command for command in COMMANDS if not command.startswith("headerware run")]


@pytest.mark.parametrize(
    "command", [pytest.param(c, id=f"issue11-4-no-dev-key-{i}") for i, c in enumerate(PRODUCTION)]
)
def test_production_commands_refuse_the_development_key(command: str) -> None:
    argv, extra = _argv(command, free_port())
    result = subprocess.run(argv, cwd=ROOT, env=_environ(extra), capture_output=True, timeout=60)
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode != 0, output
    assert "export HEADERWARE_SECRET_KEYS=$(headerware keygen)" in output, output


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, id=f"issue11-4-run-loopback-warns-once-{i}")
        for i, c in enumerate(COMMANDS)
        if c.startswith("headerware run")
    ],
)
def test_run_on_loopback_serves_without_keys_warning_once(command: str, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    with _server(command, log, keys=False) as (port, _):
        _check_protections(port)
        _request(port, "GET", "/login?user=alice")
    assert log.read_text().count("DEVELOPMENT key") == 1, log.read_text()
