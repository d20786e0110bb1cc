"""Deployment: deploy.wrap from gunicorn's command line and examples/gunicorn.conf.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import webtest

from headerware import Stack
from headerware.config import ConfigError
from headerware.deploy import load_app, wrap
from tests.hw_test_layers import hello_app
from tests.servers import PYTHON, ROOT, free_port, get, header, serving

CONFIG = """
[security_headers]

[cookie_policy]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "headerware.toml"
    path.write_text(CONFIG)
    return path


class TestLoadApp:
    def test_module_and_attribute(self) -> None:
        assert load_app("tests.hw_test_layers:hello_app") is hello_app

    @pytest.mark.parametrize(
        ("reference", "message"),
        [
            pytest.param(
                "tests.nope_module:app", "module 'tests.nope_module' not found", id="module"
            ),
            pytest.param("tests.hw_test_layers:nope", "no such attribute", id="attribute"),
            pytest.param(
                "tests.hw_test_layers:TEST_LAYERS", "not a WSGI callable", id="not-callable"
            ),
            pytest.param("tests.hw_test_layers", "no such attribute", id="default-attribute-app"),
            pytest.param("", "module:attribute", id="empty"),
        ],
    )
    def test_errors_say_what_to_do(self, reference: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            load_app(reference)


class TestWrap:
    def test_wraps_by_reference_with_a_config_file(self, config_file: Path) -> None:
        stack = wrap("tests.hw_test_layers:hello_app", config=str(config_file))
        assert isinstance(stack, Stack)
        assert [layer.name for layer in stack.layers] == ["security_headers", "cookie_policy"]
        response = webtest.TestApp(stack, lint=True).get("https://localhost/")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "HttpOnly" in response.headers["Set-Cookie"]

    def test_config_from_the_environment(
        self, config_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADERWARE_CONFIG", str(config_file))
        assert [layer.name for layer in wrap(hello_app).layers] == [
            "security_headers",
            "cookie_policy",
        ]

    def test_defaults_without_any_config(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("HEADERWARE_CONFIG", raising=False)
        names = [layer.name for layer in wrap(hello_app).layers]
        assert names == ["security_headers", "csp", "cookie_policy"]

    def test_already_wrapped_app_is_refused(self, config_file: Path) -> None:
        wrapped = wrap(hello_app, config=str(config_file))
        with pytest.raises(ValueError, match="already wrapped in headerware"):
            wrap(wrapped, config=str(config_file))

    def test_invalid_config_fails_at_load(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.toml"
        path.write_text("[security_headers]\nx_frame_option = 'DENY'\n")
        with pytest.raises(ConfigError, match="did you mean 'x_frame_options'"):
            wrap(hello_app, config=str(path))


def test_gunicorn_command_line_factory(config_file: Path) -> None:
    port = free_port()
    target = f'headerware.deploy:wrap("tests.hw_test_layers:hello_app", config="{config_file}")'
    args = [PYTHON, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", target]
    with serving(args, port):
        status, headers, body = get(f"http://127.0.0.1:{port}/")
    assert status == 200
    assert body == b"hello http"
    assert header(headers, "X-Content-Type-Options") == "nosniff"
    assert header(headers, "Strict-Transport-Security") is None


def test_gunicorn_refuses_to_start_on_a_bad_config(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "bad.toml"
    path.write_text("[cors]\nallow_origins = 'https://a.example'\n")
    port = free_port()
    target = f'headerware.deploy:wrap("tests.hw_test_layers:hello_app", config="{path}")'
    result = subprocess.run(
        [PYTHON, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1", target],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert b"cors.allow_origins" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("config", "forwarded_scheme"),
    [
        pytest.param(CONFIG, "http", id="no-proxy-configured-trusts-nobody"),
        pytest.param(CONFIG + "\n[proxy]\nx_proto = 1\n", "https", id="proxy-trusted-consistently"),
    ],
)
def test_example_gunicorn_conf(tmp_path: Path, config: str, forwarded_scheme: str) -> None:
    path = tmp_path / "hw.toml"
    path.write_text(config)
    port = free_port()
    env = {
        "HEADERWARE_CONFIG": str(path),
        "HEADERWARE_APP": "tests.hw_test_layers:hello_app",
        "HEADERWARE_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    args = [PYTHON, "-m", "gunicorn", "-c", "examples/gunicorn.conf.py"]
    with serving(args, port, env):
        status, headers, body = get(f"http://127.0.0.1:{port}/", {"X-Forwarded-Proto": "https"})
    assert status == 200
    assert body == f"hello {forwarded_scheme}".encode()
    hsts = header(headers, "Strict-Transport-Security")
    assert (hsts is not None) is (forwarded_scheme == "https")


SIGNED = """
[signed_cookies]
cookies = ["username"]
allow_dev_key = true
"""


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADERWARE_SECRET_KEYS", raising=False)


class TestDevelopmentKey:
    @pytest.mark.usefixtures("no_keys")
    @pytest.mark.parametrize(
        "development_env",
        [
            pytest.param("1", id="issue11-4-wrap-refuses-even-in-dev-env"),
            pytest.param("", id="issue11-4-wrap-refuses-without-dev-env"),
        ],
    )
    def test_wrap_refuses_the_development_key(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, development_env: str
    ) -> None:
        monkeypatch.setenv("HEADERWARE_DEVELOPMENT", development_env)
        path = tmp_path / "hw.toml"
        path.write_text(SIGNED)
        with pytest.raises(ConfigError, match=r"headerware keygen") as info:
            wrap(hello_app, config=str(path))
        assert info.value.path == "signed_cookies.secret_keys"

    def test_wrap_with_keys_serves_the_signing_layer(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HEADERWARE_SECRET_KEYS", "deploy-test-key-0123456789")
        path = tmp_path / "hw.toml"
        path.write_text(SIGNED)
        assert [layer.name for layer in wrap(hello_app, config=str(path)).layers] == [
            "signed_cookies"
        ]

    @pytest.mark.usefixtures("no_keys")
    def test_development_mode_uses_it_with_one_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        path = tmp_path / "hw.toml"
        path.write_text(SIGNED + "\n[sessions]\nallow_dev_key = true\n")
        with caplog.at_level("WARNING", "headerware"):
            wrap(hello_app, config=str(path), development=True)
            wrap(hello_app, config=str(path), development=True)
        assert caplog.text.count("DEVELOPMENT key") == 1


def test_wrap_without_configuration_says_which_layers_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("HEADERWARE_CONFIG", raising=False)
    with caplog.at_level("WARNING", "headerware"):
        wrap(hello_app)
    assert "no configuration given" in caplog.text
    assert "security_headers, csp, cookie_policy" in caplog.text


def test_already_wrapped_app_names_the_reference_and_the_bare_app() -> None:
    import examples.flask_app  # noqa: F401  (built in development mode: the test suite)

    with pytest.raises(ValueError) as info:
        wrap("examples.flask_app:app", config={"security_headers": {}})
    message = str(info.value)
    assert "APP examples.flask_app:app is already wrapped" in message
    assert "examples.flask_app:flask_app" in message


def _production_env(**extra: str) -> dict[str, str]:
    import os

    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HEADERWARE_DEVELOPMENT", "HEADERWARE_SECRET_KEYS", "HEADERWARE_CONFIG")
    }
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(extra)
    return environ


@pytest.mark.parametrize(
    ("keys", "refused"),
    [
        pytest.param("", True, id="issue11-4-gunicorn-conf-refuses-dev-key"),
        pytest.param("conf-test-key-0123456789abcdef", False, id="with-keys"),
    ],
)
def test_example_gunicorn_conf_check_config(keys: str, refused: bool) -> None:
    import subprocess

    extra = {"HEADERWARE_SECRET_KEYS": keys} if keys else {}
    result = subprocess.run(
        [PYTHON, "-m", "gunicorn", "--check-config", "-c", "examples/gunicorn.conf.py"],
        cwd=ROOT,
        env=_production_env(**extra),
        capture_output=True,
        timeout=60,
    )
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert (result.returncode != 0) is refused, output
    if refused:
        assert "signed_cookies.secret_keys" in output
        assert "export HEADERWARE_SECRET_KEYS=$(headerware keygen)" in output
