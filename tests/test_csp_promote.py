"""Promote: ``check-config`` warns when the policy that will enforce would block
what the report-only policy saw recently; ``csp suggest --write`` clears it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from headerware.cli import main
from headerware.csp_promote import promotion_warnings
from headerware.csp_store import SQLiteStore, Violation

CONFIG = """\
[csp]
report_only = true
report_path = "/_headerware/csp-report"

[csp.policy]
default-src = ["'self'"]
script-src = ["'self'"]
"""


def _store(path: Path, *violations: Violation) -> str:
    SQLiteStore(str(path))(list(violations))
    return str(path)


def _recent(directive: str, blocked: str, document: str = "https://site/a", count: int = 3,
            disposition: str = "report", age: float = 60.0) -> Violation:  # fmt: skip
    now = time.time()
    return Violation(directive, blocked, document, disposition, count, now - age, now - age)


def test_check_config_warns_then_suggest_clears(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "headerware.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = _store(tmp_path / "r.sqlite3", _recent("script-src-elem", "https://cdn.example"))
    assert main(["check-config", str(config), "--db", db]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "would block https://cdn.example under script-src-elem" in err
    assert "(3 report-only report(s)" in err
    assert main(["csp", "suggest", "--config", str(config), "--db", db, "--write"]) == 0
    capsys.readouterr()
    assert main(["check-config", str(config), "--db", db]) == 0
    captured = capsys.readouterr()
    assert "would block" not in captured.err and "valid" in captured.out


def test_no_store_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "headerware.toml"
    config.write_text(CONFIG, encoding="utf-8")
    assert main(["check-config", str(config), "--db", str(tmp_path / "none")]) == 0
    assert "would block" not in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


CSP = {"csp": {"report_only": True, "policy": {"default-src": ["'self'"],
                                               "img-src": ["'self'", "https:"]}}}  # fmt: skip


@pytest.mark.parametrize(
    ("violation", "blocked"),
    [
        pytest.param(_recent("img-src", "https://img.example"), False, id="scheme-allows"),
        pytest.param(_recent("script-src-elem", "https://site"), False, id="self"),
        pytest.param(_recent("script-src-elem", "inline"), True, id="inline"),
        pytest.param(_recent("script-src", "eval"), True, id="eval"),
        pytest.param(_recent("font-src", "data:"), True, id="data-fallback-default"),
        pytest.param(_recent("connect-src", "https://x", age=8 * 86400), False, id="too-old"),
        pytest.param(
            _recent("connect-src", "https://x", disposition="enforce"),
            False,
            id="enforced-not-report-only",
        ),
    ],
)
def test_what_is_blocked(violation: Violation, blocked: bool) -> None:
    assert bool(promotion_warnings(CSP, [violation])) is blocked


def test_route_report_only_checked_against_its_own_policy() -> None:
    config = {
        "csp": {"policy": {"default-src": ["'self'"]}},
        "routes": [
            {"path": "/beta/*", "report_only": True,
             "csp": {"policy": {"default-src": ["'self'"], "script-src": ["https://cdn.example"]}}}
        ],
    }  # fmt: skip
    beta = _recent("script-src-elem", "https://cdn.example", "https://site/beta/x")
    other = _recent("script-src-elem", "https://cdn.example", "https://site/home")
    assert promotion_warnings(config, [beta]) == []
    [warning] = promotion_warnings(config, [other])
    assert warning.startswith("[csp] policy would block https://cdn.example")
    late = _recent("img-src", "https://img.example", "https://site/beta/y")
    [warning] = promotion_warnings(config, [late])
    assert warning.startswith("route /beta/* policy would block https://img.example under img-src")


def test_report_only_policy_is_the_one_promoted() -> None:
    config = {
        "csp": {
            "policy": {"default-src": ["'self'"]},
            "report_only_policy": {"default-src": ["'self'", "https://cdn.example"]},
        }
    }
    assert promotion_warnings(config, [_recent("script-src-elem", "https://cdn.example")]) == []


def test_other_policies_reports_are_not_csp_warnings() -> None:
    coep = _recent("corp", "https://img.example")
    coep = Violation(coep.directive, coep.blocked, coep.document, "report", 3,
                     coep.first_seen, coep.last_seen, "coep")  # fmt: skip
    assert promotion_warnings(CSP, [coep]) == []
    assert promotion_warnings(CSP, [_recent("font-src", "data:")])  # the same shape, CSP: warned


def test_nested_routes_checked_against_the_policy_they_inherit() -> None:
    config = {
        "csp": {"policy": {"default-src": ["'self'"]}},
        "routes": [
            {"path": "/beta/*", "csp": {"policy": {"default-src": ["'self'", "https://cdn.example"]}}},
            {"path": "/beta/new/*", "csp": {"report_only": True}},
            {"path": "/legacy/*", "csp": {"enabled": False}},
        ],
    }  # fmt: skip
    inherited = _recent("script-src-elem", "https://cdn.example", "https://site/beta/new/x")
    assert promotion_warnings(config, [inherited]) == []  # /beta/*'s policy applies there
    [warning] = promotion_warnings(
        config, [_recent("img-src", "https://img.example", "https://site/beta/new/x")]
    )
    assert warning.startswith("route /beta/new/* policy would block https://img.example")
    off = _recent("img-src", "https://img.example", "https://site/legacy/x")
    assert promotion_warnings(config, [off]) == []  # no CSP is sent there
