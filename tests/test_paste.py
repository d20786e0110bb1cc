"""PasteDeploy: filter factories per layer and for the stack, string options, pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import webtest
from paste.deploy import loadapp

from headerware import Stack, paste, registry
from headerware.config import ConfigError
from headerware.registry import LAYERS
from tests.hw_test_layers import hello_app
from tests.servers import PYTHON, ROOT, free_port, get, header, serving


def test_every_registered_layer_has_a_filter_factory() -> None:
    assert all(callable(getattr(paste, name)) for name in LAYERS)


class TestMakeLayer:
    def test_strings_are_converted_by_the_annotations(self) -> None:
        layer = paste.make_layer(
            "cors",
            {
                "allow_origins": "https://a.example,\nhttps://b.example",
                "allow_credentials": "true",
                "max_age": "none",
            },
        )
        options = layer.describe()
        assert options["allow_origins"] == ["https://a.example", "https://b.example"]
        assert options["allow_credentials"] is True
        assert options["max_age"] is None

    @pytest.mark.parametrize(
        ("name", "options", "path", "fragment"),
        [
            pytest.param(
                "cors",
                {"allow_origin": "x"},
                "cors.allow_origin",
                "did you mean 'allow_origins'",
                id="unknown",
            ),
            pytest.param(
                "cors",
                {"allow_credentials": "sure"},
                "cors.allow_credentials",
                "true or false",
                id="bool",
            ),
            pytest.param("cors", {"max_age": "long"}, "cors.max_age", "not an integer", id="int"),
            pytest.param(
                "cors",
                {"allow_origins": "*", "allow_credentials": "true"},
                "cors.allow_origins",
                "credentials",
                id="unsafe-combination",
            ),
            pytest.param(
                "trusted_hosts",
                {},
                "trusted_hosts",
                "missing required option 'allowed_hosts'",
                id="required",
            ),
            pytest.param("csp", {"policy": "{not json"}, "csp.policy", "not valid JSON", id="json"),
            pytest.param(
                "security_headers",
                {"hsts_max_age": "-1"},
                "security_headers.hsts_max_age",
                "-1",
                id="layer-option-error",
            ),
        ],
    )
    def test_refused_with_the_key_path(
        self, name: str, options: dict[str, str], path: str, fragment: str
    ) -> None:
        with pytest.raises(ConfigError) as info:
            paste.make_layer(name, options)
        assert info.value.path == path
        assert fragment in str(info.value)

    def test_plain_value_error_of_a_custom_layer_names_the_layer(self) -> None:
        registry.register("banner", "tests.hw_test_layers:Banner")
        try:
            with pytest.raises(ConfigError) as info:
                paste.make_layer("banner", {"loud": "true"})
        finally:
            registry.unregister("banner")
        assert info.value.path == "banner"
        assert "needs mode='fancy'" in str(info.value)

    def test_environment_reference(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HW_TEST_HOSTS", "a.example, b.example")
        layer = paste.make_layer("trusted_hosts", {"allowed_hosts": "${HW_TEST_HOSTS}"})
        assert "a.example" in str(layer.describe())
        monkeypatch.delenv("HW_TEST_HOSTS")
        fallback = paste.make_layer(
            "trusted_hosts", {"allowed_hosts": "${HW_TEST_HOSTS:-c.example}"}
        )
        assert "c.example" in str(fallback.describe())
        with pytest.raises(ConfigError, match="HW_TEST_HOSTS is not set"):
            paste.make_layer("trusted_hosts", {"allowed_hosts": "${HW_TEST_HOSTS}"})


def write_ini(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "app.ini"
    path.write_text(text)
    return path


PIPELINE = """
[pipeline:main]
pipeline = security cookies app

[filter:security]
use = call:headerware.paste:security_headers
x_frame_options = SAMEORIGIN

[filter:cookies]
use = call:headerware.paste:cookie_policy
samesite = Strict

[app:app]
use = call:headerware.paste:app_factory
target = tests.hw_test_layers:hello_app
"""


class TestPipelines:
    def test_consecutive_filters_merge_into_one_stack(self, tmp_path: Path) -> None:
        app = loadapp(f"config:{write_ini(tmp_path, PIPELINE)}")
        assert isinstance(app, Stack)
        assert [layer.name for layer in app.layers] == ["security_headers", "cookie_policy"]
        assert app.app is hello_app
        response = webtest.TestApp(app, lint=True).get("https://localhost/")
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "SameSite=Strict" in response.headers["Set-Cookie"]

    def test_unknown_key_refused_when_loading(self, tmp_path: Path) -> None:
        ini = PIPELINE.replace("samesite = Strict", "same_site = Strict")
        with pytest.raises(ConfigError, match=r"cookie_policy\.same_site.*did you mean 'samesite'"):
            loadapp(f"config:{write_ini(tmp_path, ini)}")

    def test_stack_filter_reads_the_toml_relative_to_the_ini(self, tmp_path: Path) -> None:
        (tmp_path / "hw.toml").write_text(
            "[security_headers]\n"
            '[[routes]]\npath = "/legacy/*"\nsecurity_headers = { enabled = false }\n'
        )
        ini = """
[pipeline:main]
pipeline = cookies hw app

[filter:hw]
use = call:headerware.paste:stack_filter
config = hw.toml

[filter:cookies]
use = call:headerware.paste:cookie_policy

[app:app]
use = call:headerware.paste:app_factory
target = tests.hw_test_layers:hello_app
"""
        app = loadapp(f"config:{write_ini(tmp_path, ini)}")
        assert isinstance(app, Stack)
        assert [layer.name for layer in app.layers] == ["cookie_policy", "security_headers"]
        test = webtest.TestApp(app, lint=True)
        assert test.get("/").headers["X-Content-Type-Options"] == "nosniff"
        legacy = test.get("/legacy/x")
        assert "X-Content-Type-Options" not in legacy.headers
        assert "HttpOnly" in legacy.headers["Set-Cookie"]

    @pytest.mark.parametrize(
        ("factory", "options", "fragment"),
        [
            pytest.param("stack_filter", {}, "stack.config: missing", id="stack-no-config"),
            pytest.param(
                "stack_filter", {"config": "x", "extra": "1"}, "stack.extra", id="stack-unknown"
            ),
            pytest.param("app_factory", {}, "app.target: missing", id="app-no-target"),
            pytest.param(
                "app_factory", {"target": "x:y", "port": "1"}, "app.port", id="app-unknown"
            ),
        ],
    )
    def test_factories_refuse_bad_options(
        self, factory: str, options: dict[str, str], fragment: str
    ) -> None:
        with pytest.raises(ConfigError, match=fragment):
            getattr(paste, factory)({"here": str(ROOT)}, **options)


def entry_points_installed() -> bool:
    from importlib.metadata import entry_points

    return any(
        ep.value == "headerware.paste:csp" for ep in entry_points(group="paste.filter_factory")
    )


needs_install = pytest.mark.skipif(
    not entry_points_installed(),
    reason='needs `pip install -e ".[dev]"` (egg:headerware entry points)',
)


@needs_install
def test_example_paste_ini_loads_with_the_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    # Import the example first: its module-level `app` must not capture this test's token.
    import examples.wsgi_app  # noqa: F401

    monkeypatch.setenv("HEADERWARE_EXAMPLE_TOKEN", "paste-token")
    monkeypatch.setenv("HEADERWARE_SECRET_KEYS", "paste-test-key-0123456789abcdef")
    ini = (ROOT / "examples" / "paste.ini").read_text()
    app: Any = loadapp(f"config:{ROOT / 'examples' / 'paste.ini'}")
    assert isinstance(app, Stack)
    names = [layer.name for layer in app.layers]
    assert names == [
        "security_headers", "trusted_hosts", "csp", "cors", "cookie_policy", "signed_cookies",
        "sessions", "csrf", "bearer_auth",
    ]  # fmt: skip
    assert "egg:headerware#app" in ini


@needs_install
def test_gunicorn_serves_the_example_paste_ini(tmp_path: Path) -> None:
    # The example pipeline, pointed at a local port and at the test app.
    ini = (ROOT / "examples" / "paste.ini").read_text()
    ini = ini.replace(
        "target = examples.wsgi_app:bare_app", "target = tests.hw_test_layers:hello_app"
    )
    port = free_port()
    ini = ini.replace("port = 8000", f"port = {port}")
    path = tmp_path / "paste.ini"
    path.write_text(ini)
    args = [PYTHON, "-m", "gunicorn", "--paste", str(path), "-b", f"127.0.0.1:{port}"]
    env = {
        "HEADERWARE_EXAMPLE_TOKEN": "t0ken-for-tests",
        "HEADERWARE_SECRET_KEYS": "paste-test-key-0123456789abcdef",
    }
    with serving(args, port, env):
        status, headers, body = get(f"http://127.0.0.1:{port}/")
        api_status, api_headers, _ = get(f"http://127.0.0.1:{port}/api/x")
    assert status == 200 and body == b"hello http"
    assert header(headers, "X-Frame-Options") == "DENY"
    assert header(headers, "Content-Security-Policy") is not None
    assert "HttpOnly" in (header(headers, "Set-Cookie") or "")
    assert api_status == 401
    assert (header(api_headers, "WWW-Authenticate") or "").startswith("Bearer")


@pytest.mark.parametrize(
    ("factory", "options"),
    [
        pytest.param(
            "signed_cookies",
            {"cookies": "username", "allow_dev_key": "true"},
            id="issue11-4-paste-filter-refuses-dev-key",
        ),
        pytest.param("stack", {"config": "headerware.toml"}, id="issue11-4-paste-stack-refuses"),
    ],
)
def test_paste_factories_refuse_the_development_key(
    factory: str, options: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even with HEADERWARE_DEVELOPMENT=1 (the test suite's): a pipeline is production.
    monkeypatch.delenv("HEADERWARE_SECRET_KEYS", raising=False)
    make = paste.stack_filter if factory == "stack" else getattr(paste, factory)
    with pytest.raises(ConfigError, match=r"export HEADERWARE_SECRET_KEYS=\$\(headerware keygen\)"):
        make({"here": str(ROOT / "examples")}, **options)
    monkeypatch.setenv("HEADERWARE_SECRET_KEYS", "paste-test-key-0123456789abcdef")
    assert callable(make({"here": str(ROOT / "examples")}, **options))


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        pytest.param("cookie_policy", "false", "never", id="policy-false"),
        pytest.param("cookie_policy", "true", "always", id="policy-true"),
        pytest.param("sessions", "auto", None, id="sessions-auto"),
        pytest.param("sessions", "always", True, id="sessions-always"),
    ],
)
def test_secure_has_one_spelling(name: str, text: str, expected: object) -> None:
    options = {"secure": text}
    if name == "sessions":
        options["secret_keys"] = "paste-test-key-0123456789abcdef"
    assert paste.make_layer(name, options).describe()["secure"] == expected
