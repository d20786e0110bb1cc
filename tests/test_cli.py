"""The headerware command: help, check-config, keygen, audit, run."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from headerware.cli import main, toml_value
from headerware.config import StackFactory, read_toml
from headerware.keys import load_secret_keys
from tests.servers import PYTHON, ROOT, free_port, get, header, serving

CONFIG = """
[security_headers]
[csp]
[cookie_policy]

[[routes]]
path = "/api/*"
csp = { enabled = false }
[routes.security_headers]
x_frame_options = "SAMEORIGIN"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "headerware.toml"
    path.write_text(CONFIG)
    return path


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "check-config", "audit", "keygen"):
        assert command in out
    assert "headerware run examples.flask_app:flask_app --config examples/headerware.toml" in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: headerware" in capsys.readouterr().out


class TestCheckConfig:
    def test_valid_file_prints_the_stack_and_routes(
        self, config_file: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["check-config", str(config_file)]) == 0
        out = capsys.readouterr().out
        assert "valid" in out
        lines = out.splitlines()
        order = [line for line in lines if line[:4] in ("# 1.", "# 2.", "# 3.")]
        assert order == ["# 1. security_headers", "# 2. csp", "# 3. cookie_policy"]
        assert 'x_frame_options = "DENY"' in lines
        assert "# /api/*: security_headers*, cookie_policy, -csp" in lines
        assert 'x_frame_options = "SAMEORIGIN"' in lines

    def test_output_is_a_configuration(
        self, config_file: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["check-config", str(config_file)]) == 0
        pasted = tomllib.loads(capsys.readouterr().out)
        assert pasted["security_headers"]["x_frame_options"] == "DENY"
        assert pasted["routes"][0]["path"] == "/api/*"
        assert pasted["routes"][0]["csp"] == {"enabled": False}
        original = StackFactory(read_toml(config_file))
        assert StackFactory(pasted).describe() == original.describe()

    def test_example_config_round_trips(self, capsys: pytest.CaptureFixture[str]) -> None:
        example = ROOT / "examples" / "headerware.toml"
        assert main(["check-config", str(example)]) == 0
        pasted = tomllib.loads(capsys.readouterr().out)
        data = read_toml(example)
        # What the listing does not show as a value (secrets above all) is given again,
        # as a user pasting the output would; everything it shows must paste back as is.
        given_again = []
        for name, table in data.items():
            if name == "headerware" or not isinstance(table, dict):
                continue
            for key, value in table.items():
                if key not in pasted[name]:
                    pasted[name][key] = value
                    given_again.append(f"{name}.{key}")
        assert "signed_cookies.secret_keys" in given_again  # never printed
        assert "bearer_auth.tokens" in given_again
        assert StackFactory(pasted).describe() == StackFactory(data).describe()

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            pytest.param(True, "true", id="bool"),
            pytest.param(3, "3", id="int"),
            pytest.param(float("inf"), "inf", id="inf"),
            pytest.param('a "b"\x7f', '"a \\"b\\"\\u007f"', id="string-escapes"),
            pytest.param(("a", 1), '["a", 1]', id="tuple"),
            pytest.param({"/a": ["x"], "b": {}}, '{ "/a" = ["x"], b = {} }', id="table"),
            pytest.param(None, None, id="none"),
            pytest.param([1, None], None, id="none-inside"),
            pytest.param("<2 key(s)>", None, id="hidden"),
            pytest.param(print, None, id="callable"),
        ],
    )
    def test_toml_values(self, value: object, text: str | None) -> None:
        assert toml_value(value) == text
        if text is not None:
            assert tomllib.loads(f"k = {text}")["k"] == (
                list(value) if isinstance(value, tuple) else value
            )

    def test_json(self, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["check-config", str(config_file), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [layer["layer"] for layer in data["layers"]] == [
            "security_headers",
            "csp",
            "cookie_policy",
        ]
        assert data["routes"][0]["path"] == "/api/*"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            pytest.param(
                "[security_headers]\nx_frame_option = 1\n",
                "security_headers.x_frame_option: unknown option of SecurityHeaders; "
                "did you mean 'x_frame_options'?",
                id="unknown-key",
            ),
            pytest.param(
                "[cors]\nallow_origins = ['https://a.example', 3]\n",
                "cors.allow_origins[1]: 3 is not a string",
                id="wrong-type",
            ),
            pytest.param("[cors\n", "invalid TOML", id="syntax"),
        ],
    )
    def test_invalid_file_exits_1_with_the_error(
        self, tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "bad.toml"
        path.write_text(text)
        assert main(["check-config", str(path)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("headerware: error: ")
        assert message in captured.err

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["check-config", str(tmp_path / "nope.toml")]) == 1
        assert "not found" in capsys.readouterr().err


def test_keygen_prints_usable_distinct_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--count", "2"]) == 0
    keys = capsys.readouterr().out.split()
    assert len(keys) == 2 and keys[0] != keys[1]
    assert load_secret_keys(",".join(keys)) == tuple(key.encode() for key in keys)


class TestAudit:
    def test_app_with_config(self, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        argv = ["audit", "tests.hw_test_layers:hello_app", "--config", str(config_file)]
        assert main([*argv, "--path", "/", "--path", "/api/x", "--fail-under", "B"]) == 0
        out = capsys.readouterr().out
        assert "https://localhost/  [200]" in out
        assert "https://localhost/api/x  [200]" in out
        # No CSP on /api/* (the route disables it): graded down on that path only.
        assert "grade A+" in out.split("https://localhost/api/x")[0]

    def test_json_and_fail_under(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["audit", "tests.hw_test_layers:hello_app", "--json", "--fail-under", "B"]) == 1
        captured = capsys.readouterr()
        results = json.loads(captured.out)
        assert results[0]["grade"] not in ("A+", "A", "A-", "B+", "B")
        assert "audit below B" in captured.err

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            pytest.param(
                ["tests.hw_test_layers:hello_app", "--fail-under", "Z"], "not a grade", id="grade"
            ),
            pytest.param(["tests.nope:app"], "not found", id="app"),
            pytest.param(
                ["http://127.0.0.1:1/", "--config", "x.toml"],
                "--config applies to an APP",
                id="url-config",
            ),
        ],
    )
    def test_usage_errors(
        self, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["audit", *argv]) == 1
        assert message in capsys.readouterr().err


def test_run_serves_the_wrapped_app(config_file: Path) -> None:
    port = free_port()
    args = [PYTHON, "-m", "headerware", "run", "tests.hw_test_layers:hello_app"]
    args += ["--config", str(config_file), "--port", str(port)]
    with serving(args, port) as process:
        status, headers, body = get(f"http://127.0.0.1:{port}/")
        api_status, api_headers, _ = get(f"http://127.0.0.1:{port}/api/x")
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert status == 200 and body == b"hello http"
    assert header(headers, "Content-Security-Policy") is not None
    assert api_status == 200
    assert header(api_headers, "Content-Security-Policy") is None
    assert header(api_headers, "X-Frame-Options") == "SAMEORIGIN"
    assert "1. security_headers" in output
    assert f"http://127.0.0.1:{port}/" in output


def test_run_reports_a_bad_app_and_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[csp]\nnonce = true\n")
    for argv, message in (
        (["tests.nope:app"], "module 'tests.nope' not found"),
        (["tests.hw_test_layers:hello_app", "--config", str(bad)], "csp.nonce: unknown option"),
    ):
        result = subprocess.run(
            [PYTHON, "-m", "headerware", "run", *argv],
            cwd=ROOT,
            capture_output=True,
            timeout=30,
            text=True,
        )
        assert result.returncode == 1
        assert message in result.stderr


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_keygen_refuses_a_count_below_one(count: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["keygen", "--count", count])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--count" in err and ("1 or more" in err or "whole number" in err)


def test_toml_syntax_error_names_the_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[cors\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count(str(path)) == 1, err
    assert "invalid TOML" in err


@pytest.mark.parametrize("host", [pytest.param("0.0.0.0", id="issue11-4-run-public-refused")])
def test_run_on_a_public_address_refuses_the_development_key(
    host: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # HEADERWARE_DEVELOPMENT=1 (the test suite's) does not help.
    monkeypatch.delenv("HEADERWARE_SECRET_KEYS", raising=False)
    path = tmp_path / "hw.toml"
    path.write_text("[sessions]\nallow_dev_key = true\n")
    code = main(
        ["run", "tests.hw_test_layers:hello_app", "--config", str(path), "--host", "0.0.0.0"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "sessions.secret_keys" in err
    assert "export HEADERWARE_SECRET_KEYS=$(headerware keygen)" in err


def test_check_config_warns_when_csrf_meets_no_referrer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hw.toml"
    path.write_text(
        '[security_headers]\nreferrer_policy = "no-referrer"\n[csrf]\nmode = "origin"\n'
    )
    assert main(["check-config", str(path)]) == 0
    assert "Origin: null" in capsys.readouterr().err
    path.write_text(
        '[security_headers]\nreferrer_policy = "strict-origin-when-cross-origin"\n[csrf]\n'
    )
    assert main(["check-config", str(path)]) == 0
    assert "Origin: null" not in capsys.readouterr().err


def test_check_config_of_the_example_warns_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "examples" / "headerware.toml")]) == 0
    captured = capsys.readouterr()
    assert "Origin: null" not in captured.err  # issue 12: the example no longer breaks forms
    assert 'referrer_policy = "strict-origin-when-cross-origin"' in captured.out
