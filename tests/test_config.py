"""Configuration: one schema for dict and TOML, errors with key paths, env secrets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import webtest

from headerware import CORS, CookiePolicy, Layer, OptionError, SecurityHeaders, Stack
from headerware.config import (
    ConfigError,
    StackFactory,
    convert_string,
    layer_options,
    load_config,
    stack_from_dict,
    stack_from_toml,
)
from tests.contract import text_app
from tests.hw_test_layers import TEST_LAYERS, Banner, Gate, Secretive, sample_hook


class Strict(Layer):
    """Raises the structured error of the options model for a bad option."""

    name = "strict"

    def __init__(self, app: Any = None, *, limit: int = 1) -> None:
        super().__init__(app)
        if limit < 0:
            raise OptionError("limit", limit, f"{limit!r} must be 0 or more", "e.g. 1")
        self.limit = limit


def conf(**tables: Any) -> dict[str, Any]:
    """A configuration using the test layers."""
    glob = dict(tables.pop("headerware", {}))
    glob.setdefault("layers", {**TEST_LAYERS, "strict": "tests.test_config:Strict"})
    return {"headerware": glob, **tables}


def error_of(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        StackFactory(data)
    return info.value


class TestSchema:
    def test_options_from_the_signature(self) -> None:
        schema = layer_options(Banner)
        assert list(schema.options)[:3] == ["text", "count", "ratio"]
        assert "app" not in schema.options
        assert not schema.has_report_only
        assert layer_options(Gate).has_report_only
        assert layer_options(Secretive).options["keys"].required


class TestDictAndToml:
    def test_dict_builds_the_layers_in_canonical_order(self) -> None:
        stack = stack_from_dict(
            conf(gate={"status": 401}, banner={"text": "x", "tags": ["a", "b"]}), text_app()
        )
        assert isinstance(stack, Stack)
        assert [layer.name for layer in stack.layers] == ["banner", "gate"]
        banner = stack.layers[0]
        assert isinstance(banner, Banner)
        assert banner.tags == ["a", "b"]
        response = webtest.TestApp(stack, lint=True).get("/")
        assert response.headers["X-Banner"] == "x"

    def test_toml_gives_the_same_stack_as_the_dict(self, tmp_path: Path) -> None:
        path = tmp_path / "hw.toml"
        path.write_text(
            """
[headerware]
layers = { banner = "tests.hw_test_layers:Banner", gate = "tests.hw_test_layers:Gate" }

[gate]
status = 401

[banner]
text = "x"
pair = [3, 4]
ratio = 1
mode = "fancy"
loud = true
extra = { a = "b" }
"""
        )
        from_toml = stack_from_toml(path, text_app())
        from_dict = stack_from_dict(
            {
                "headerware": {"layers": TEST_LAYERS},
                "gate": {"status": 401},
                "banner": {
                    "text": "x",
                    "pair": [3, 4],
                    "ratio": 1,
                    "mode": "fancy",
                    "loud": True,
                    "extra": {"a": "b"},
                },
            },
            text_app(),
        )
        assert from_toml.describe() == from_dict.describe()
        banner = from_toml.layers[0]
        assert isinstance(banner, Banner)
        assert banner.pair == (3, 4)
        assert banner.ratio == 1.0 and isinstance(banner.ratio, float)
        assert webtest.TestApp(from_toml).get("/").headers["X-Banner"] == "X"

    def test_load_config_is_a_reusable_factory(self, tmp_path: Path) -> None:
        path = tmp_path / "hw.toml"
        path.write_text(
            '[headerware]\nlayers = { banner = "tests.hw_test_layers:Banner" }\n[banner]\n'
        )
        factory = load_config(path)
        one, two = factory(text_app(b"one")), factory(text_app(b"two"))
        assert webtest.TestApp(one).get("/").body == b"one"
        assert webtest.TestApp(two).get("/").body == b"two"
        assert one.layers == two.layers

    def test_disabled_layer_is_left_out(self) -> None:
        stack = stack_from_dict(conf(banner={"enabled": False}, gate={}), text_app())
        assert [layer.name for layer in stack.layers] == ["gate"]

    def test_explicit_order(self) -> None:
        data = conf(banner={}, gate={}, headerware={"order": ["gate", "banner"]})
        assert [layer.name for layer in stack_from_dict(data).layers] == ["gate", "banner"]

    def test_factory_describe(self) -> None:
        factory = StackFactory(conf(banner={"text": "t"}))
        described = factory.describe()
        assert described["layers"][0] == {
            "layer": "banner",
            "options": {"text": "t", "count": 1, "mode": "plain", "tags": []},
        }
        assert described["routes"] == []


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        pytest.param(
            conf(banner={"txt": "x"}), "banner.txt", "did you mean 'text'", id="unknown-option"
        ),
        pytest.param(conf(baner={}), "baner", "did you mean 'banner'", id="unknown-layer"),
        pytest.param(
            conf(headerware={"report_onyl": True}),
            "headerware.report_onyl",
            "did you mean 'report_only'",
            id="unknown-global",
        ),
        pytest.param(
            conf(banner={"count": "3"}), "banner.count", "'3' is not an integer", id="str-for-int"
        ),
        pytest.param(
            conf(banner={"count": True}),
            "banner.count",
            "True is not an integer",
            id="bool-for-int",
        ),
        pytest.param(
            conf(banner={"loud": "yes"}), "banner.loud", "write true or false", id="str-for-bool"
        ),
        pytest.param(
            conf(banner={"ratio": "x"}), "banner.ratio", "not a number", id="str-for-float"
        ),
        pytest.param(conf(banner={"text": 3}), "banner.text", "quote it", id="int-for-str"),
        pytest.param(conf(banner={"tags": "a"}), "banner.tags", "is not a list", id="str-for-list"),
        pytest.param(
            conf(banner={"tags": ["a", "b", 5]}),
            "banner.tags[2]",
            "5 is not a string",
            id="list-item",
        ),
        pytest.param(
            conf(banner={"pair": [1]}), "banner.pair", "exactly 2 items", id="tuple-length"
        ),
        pytest.param(
            conf(banner={"mode": "fancie"}), "banner.mode", "did you mean 'fancy'", id="literal"
        ),
        pytest.param(
            conf(banner={"limit": "many"}),
            "banner.limit",
            "'many' is not an integer",
            id="optional",
        ),
        pytest.param(
            conf(banner={"extra": {"a": 1}}), "banner.extra.a", "1 is not a string", id="dict-value"
        ),
        pytest.param(
            conf(banner={"extra": ["a"]}), "banner.extra", "not a table", id="list-for-dict"
        ),
        pytest.param(
            conf(strict={"limit": -1}),
            "strict.limit",
            "-1 must be 0 or more; e.g. 1",
            id="constructor-option-error",
        ),
        pytest.param(
            conf(banner={"loud": True}), "banner", "needs mode='fancy'", id="unsafe-combination"
        ),
        pytest.param(
            conf(secretive={}), "secretive", "missing required option 'keys'", id="required"
        ),
        pytest.param(
            conf(secretive={"keys": ["abcd"], "hook": "tests.nope:x"}),
            "secretive.hook",
            "cannot import",
            id="bad-callable",
        ),
        pytest.param(conf(banner=[1]), "banner", "is not a table", id="table-not-table"),
        pytest.param(
            conf(banner={}, gate={}, headerware={"order": ["banner"]}),
            "headerware.order",
            "does not place gate",
            id="order-incomplete",
        ),
        pytest.param(
            conf(headerware={"order": ["bannr"]}),
            "headerware.order[0]",
            "did you mean 'banner'",
            id="order-unknown",
        ),
        pytest.param(
            conf(headerware={"layers": {"x": "tests.hw_test_layers:sample_hook"}}),
            "headerware.layers.x",
            "not a headerware Layer",
            id="custom-not-layer",
        ),
        pytest.param(
            conf(routes=[{"banner": {}}]), "routes[0]", "has no path", id="route-without-path"
        ),
        pytest.param(
            conf(routes=[{"path": "api/*"}]),
            "routes[0].path",
            "must start with '/'",
            id="route-bad-pattern",
        ),
        pytest.param(
            conf(routes=[{"path": "/a/*/b"}]), "routes[0].path", "'*'", id="route-star-in-middle"
        ),
        pytest.param(
            conf(routes=[{"path": ["/a", "/b/*"]}, {"path": "/b/*"}]),
            "routes[1].path",
            "already the path of routes[0]",
            id="route-duplicate",
        ),
        pytest.param(
            conf(routes=[{"path": "*"}, {"path": "/*"}]),
            "routes[1].path",
            "already the path of routes[0]",
            id="route-duplicate-spelling",
        ),
        pytest.param(
            conf(routes=[{"path": "/a//b"}]),
            "routes[0].path",
            "not a normalised path",
            id="route-not-normal",
        ),
        pytest.param(
            conf(routes=[{"path": "/a", "banner": {"cont": 2}}]),
            "routes[0].banner.cont",
            "did you mean 'count'",
            id="route-unknown-option",
        ),
        pytest.param(
            conf(routes=[{"path": "/a", "bannr": {}}]),
            "routes[0].bannr",
            "did you mean 'banner'",
            id="route-unknown-layer",
        ),
        pytest.param(
            conf(strict={}, routes=[{"path": "/a", "strict": {"limit": -2}}]),
            "routes[0].strict.limit",
            "must be 0 or more",
            id="route-constructor-error",
        ),
        pytest.param(
            conf(routes=[{"path": "/a", "report_only": "yes"}]),
            "routes[0].report_only",
            "boolean",
            id="route-report-only-type",
        ),
    ],
)
def test_errors_name_the_key_path(data: dict[str, Any], path: str, fragment: str) -> None:
    error = error_of(data)
    assert error.path == path
    assert fragment in str(error)
    assert str(error).startswith(f"{path}: ")


class TestLayerErrors:
    """A layer's OptionError names the option; config puts the key path in front."""

    def test_option_error_of_a_built_in_layer(self) -> None:
        error = error_of({"security_headers": {"hsts_max_age": -1}})
        assert error.path == "security_headers.hsts_max_age"
        assert str(error).startswith("security_headers.hsts_max_age: ")
        assert "-1" in str(error)

    def test_option_error_in_a_route(self) -> None:
        error = error_of({"routes": [{"path": "/a", "security_headers": {"hsts_max_age": -1}}]})
        assert error.path == "routes[0].security_headers.hsts_max_age"

    def test_config_error_is_an_option_error_with_the_key_path(self) -> None:
        error = error_of(conf(banner={"txt": "x"}))
        assert isinstance(error, OptionError) and isinstance(error, ValueError)
        assert error.option == error.path == "banner.txt"

    def test_plain_value_error_is_reported_at_the_layer_table(self) -> None:
        # A custom layer's ValueError: its text is never parsed for an option name.
        error = error_of(conf(banner={"loud": True}))
        assert error.path == "banner"
        assert error.message == "loud=True needs mode='fancy'; set both or neither"

    def test_config_error_pickles(self) -> None:
        import pickle

        error = error_of(conf(banner={"txt": "x"}))
        copy = pickle.loads(pickle.dumps(error))
        assert isinstance(copy, ConfigError)
        assert (copy.path, str(copy)) == (error.path, str(error))


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[banner\n")
    with pytest.raises(ConfigError, match=r"broken\.toml: invalid TOML"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


class TestEnvironment:
    def test_secret_from_env_converted_to_the_option_type(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HW_TEST_KEYS", "newest-key, older-key")
        stack = stack_from_dict(conf(secretive={"keys": {"env": "HW_TEST_KEYS"}}))
        layer = stack.layers[0]
        assert isinstance(layer, Secretive)
        assert layer.keys == ["newest-key", "older-key"]

    def test_missing_variable_is_a_start_up_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("HW_TEST_KEYS", raising=False)
        error = error_of(conf(secretive={"keys": {"env": "HW_TEST_KEYS"}}))
        assert error.path == "secretive.keys"
        assert "environment variable HW_TEST_KEYS is not set" in str(error)

    def test_default_when_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("HW_TEST_COUNT", raising=False)
        stack = stack_from_dict(conf(banner={"count": {"env": "HW_TEST_COUNT", "default": "7"}}))
        assert isinstance(stack.layers[0], Banner) and stack.layers[0].count == 7

    def test_env_value_is_validated(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HW_TEST_COUNT", "seven")
        error = error_of(conf(banner={"count": {"env": "HW_TEST_COUNT"}}))
        assert error.path == "banner.count" and "'seven' is not an integer" in str(error)

    def test_constructor_error_does_not_echo_other_secrets(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HW_TEST_KEYS", "abc,longer-secret-value")
        error = error_of(conf(secretive={"keys": {"env": "HW_TEST_KEYS"}}))
        assert error.path.startswith("secretive")
        assert "longer-secret-value" not in str(error)


class TestReportOnly:
    def test_global_report_only_reaches_enforcing_layers_only(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        stack = stack_from_dict(
            conf(headerware={"report_only": True}, gate={}, banner={}), text_app()
        )
        gate = stack.layers[1]
        assert isinstance(gate, Gate) and gate.report_only
        with caplog.at_level(logging.WARNING, logger="headerware"):
            response = webtest.TestApp(stack).get("/", headers={"X-Block": "1"})
        assert response.status_int == 200
        assert response.body == b"hello"
        assert response.headers["X-Banner"] == "hi"
        records = [r for r in caplog.records if getattr(r, "hw_event", None) == "gate_refused"]
        assert records and records[0].hw_fields["report_only"] is True  # type: ignore[attr-defined]

    def test_layer_setting_beats_global(self) -> None:
        stack = stack_from_dict(conf(headerware={"report_only": True}, gate={"report_only": False}))
        gate = stack.layers[0]
        assert isinstance(gate, Gate) and not gate.report_only
        response = webtest.TestApp(Stack(stack.layers, text_app())).get(
            "/", headers={"X-Block": "1"}, expect_errors=True
        )
        assert response.status_int == 403


class TestConvertString:
    @pytest.mark.parametrize(
        ("text", "annotation", "expected"),
        [
            pytest.param("yes", bool, True, id="bool-yes"),
            pytest.param("Off", bool, False, id="bool-off"),
            pytest.param(" 12 ", int, 12, id="int"),
            pytest.param("1.5", float, 1.5, id="float"),
            pytest.param("a, b,\n c", list[str], ["a", "b", "c"], id="list-commas-newlines"),
            pytest.param('["a,b", "c"]', list[str], ["a,b", "c"], id="list-json"),
            pytest.param("1, 2", tuple[int, int], (1, 2), id="tuple"),
            pytest.param("1,2,3", tuple[int, ...], (1, 2, 3), id="tuple-ellipsis"),
            pytest.param("none", int | None, None, id="optional-none"),
            pytest.param("3", int | str, 3, id="union-int-first"),
            pytest.param("x", int | str, "x", id="union-str-fallback"),
            pytest.param('{"a": ["b"]}', dict[str, list[str]], {"a": ["b"]}, id="dict-json"),
            pytest.param("FANCY", Any, "FANCY", id="any"),
        ],
    )
    def test_converts(self, text: str, annotation: Any, expected: Any) -> None:
        assert convert_string(text, annotation, "opt") == expected

    def test_callable_reference(self) -> None:
        from collections.abc import Callable

        assert (
            convert_string("tests.hw_test_layers:sample_hook", Callable[[str], str], "o")
            is sample_hook
        )

    @pytest.mark.parametrize(
        ("text", "annotation", "fragment"),
        [
            pytest.param("maybe", bool, "true or false", id="bool"),
            pytest.param("1,x", list[int], "opt[1]", id="list-item"),
            pytest.param("{", dict[str, str], "not valid JSON", id="json"),
        ],
    )
    def test_refuses(self, text: str, annotation: Any, fragment: str) -> None:
        with pytest.raises(ConfigError) as info:
            convert_string(text, annotation, "opt")
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("layer", "value", "expected"),
    [
        pytest.param("cookie_policy", False, "never", id="policy-bare-false"),
        pytest.param("cookie_policy", True, "always", id="policy-bare-true"),
        pytest.param("cookie_policy", "auto", "auto", id="policy-auto"),
        pytest.param("sessions", "auto", None, id="sessions-auto"),
        pytest.param("sessions", "always", True, id="sessions-always"),
        pytest.param("sessions", True, True, id="sessions-true"),
    ],
)
def test_secure_is_spelled_the_same_for_every_layer(
    layer: str, value: object, expected: object
) -> None:
    table: dict[str, object] = {"secure": value}
    if layer == "sessions":
        table["secret_keys"] = ["config-test-key-0123456789"]
    stack = stack_from_dict({layer: table})
    assert stack.layers[0].describe()["secure"] == expected


def test_a_typo_in_a_factory_option_gets_a_did_you_mean(tmp_path: Path) -> None:
    data = {
        "sessions": {
            "secret_keys": ["config-test-key-0123456789"],
            "store": {"use": "headerware.stores.sqlite:SQLiteStore", "pth": str(tmp_path / "s")},
        }
    }
    with pytest.raises(ConfigError, match=r"did you mean 'path'\?") as info:
        stack_from_dict(data)
    assert info.value.path == "sessions.store"


# -- a typo in a Python keyword option (issue 15 item 6) ------------------------------


@pytest.mark.parametrize(
    ("build", "typo", "suggestion"),
    [
        pytest.param(
            lambda: SecurityHeaders(hsts_maxage=1),
            "hsts_maxage",
            "hsts_max_age",
            id="issue15-6-security-headers",
        ),
        pytest.param(
            lambda: CORS(allow_orgins=["https://a.example"]),
            "allow_orgins",
            "allow_origins",
            id="issue15-6-cors",
        ),
        pytest.param(
            lambda: CookiePolicy(same_site="Lax"),
            "same_site",
            "samesite",
            id="issue15-6-cookie-policy",
        ),
        pytest.param(lambda: Strict(limt=2), "limt", "limit", id="issue15-6-custom-layer"),
    ],
)
def test_a_keyword_typo_gets_a_did_you_mean(build: Any, typo: str, suggestion: str) -> None:
    """Direct construction names the option like a configuration file does, instead
    of Python's bare ``TypeError: unexpected keyword argument``."""
    with pytest.raises(OptionError, match=rf"did you mean '{suggestion}'\?") as info:
        build()
    assert info.value.option == typo
    assert isinstance(info.value, ValueError)


def test_keyword_checks_keep_valid_construction_and_subclasses() -> None:
    assert Strict(limit=2).limit == 2
    assert Strict(text_app).app is text_app

    class Stricter(Strict):  # inherits the checked constructor
        name = "stricter"

    with pytest.raises(OptionError, match=r"did you mean 'limit'\?"):
        Stricter(limitt=1)
    # a real option with a bad value is still the layer's own error
    with pytest.raises(OptionError, match=r"limit: -1 must be 0 or more"):
        Strict(limit=-1)


def test_a_keyword_typo_in_a_file_names_the_key_path() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'hsts_max_age'") as info:
        stack_from_dict({"security_headers": {"hsts_maxage": 1}})
    assert info.value.path == "security_headers.hsts_maxage"
