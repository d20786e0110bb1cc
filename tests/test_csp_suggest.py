"""``headerware csp suggest``: the smallest policy change, as a diff of the TOML file."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import webtest

from headerware.cli import main
from headerware.config import stack_from_toml
from headerware.csp_store import SQLiteStore, Violation
from headerware.csp_suggest import apply, suggest, unified_diff

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "headerware.toml"
PAGE = "http://127.0.0.1:8000/page"
OTHER = "http://127.0.0.1:8001"


def seen(*items: tuple[str, str], disposition: str = "report", doc: str = PAGE) -> list[Violation]:
    return [Violation(d, b, doc, disposition, 3, 100.0, 200.0) for d, b in items]


BROWSER = seen(
    ("script-src-elem", OTHER),
    ("style-src-elem", OTHER),
    ("script-src-elem", "inline"),
    ("script-src", "eval"),
    ("img-src", "data:"),
    ("img-src", "http://127.0.0.1:8000"),  # the page's own origin: already 'self'
    ("font-src", "https://fonts.example"),
    ("frame-src", "https://video.example"),
    ("script-src-elem", "chrome-extension:"),
    ("script-src-elem", "data:"),
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    copy = tmp_path / "headerware.toml"
    shutil.copy(EXAMPLE, copy)
    return copy


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "reports.sqlite3")
    SQLiteStore(path)(BROWSER)
    return path


def added_lines(diff: str) -> list[str]:
    return [line for line in diff.splitlines() if line.startswith("+") and "+++" not in line]


def test_suggest_prints_a_diff_and_flags(
    config: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = config.read_text()
    assert main(["csp", "suggest", "--config", str(config), "--db", db]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- a/{config}\n+++ b/{config}\n@@")
    added = added_lines(out.partition("flagged")[0])
    assert "+[csp.policy]" in added
    assert f'+script-src = ["\'self\'", "{OTHER}"]' in added
    assert f'+style-src = ["\'self\'", "{OTHER}"]' in added
    assert '+img-src = ["\'self\'", "data:"]' in added
    assert '+font-src = ["\'self\'", "https://fonts.example"]' in added
    # frame-src was inherited from default-src 'none': written out, nothing else opened
    assert '+frame-src = ["https://video.example"]' in added
    assert "+default-src = [\"'none'\"]" in added
    text = "\n".join(added)
    assert "unsafe" not in text and "*" not in text and "chrome-extension" not in text
    assert '"data:"' not in text.split("script-src", 1)[1].split("\n", 1)[0]
    flagged = out.partition("flagged, not applied:")[2]
    assert "nonce" in flagged and "hash_inline" in flagged
    assert "allow_unsafe" in flagged and "eval" in flagged
    assert "data: in script-src-elem" in flagged
    assert config.read_text() == before  # without --write nothing changes


def test_write_applies_and_the_result_allows_what_was_seen(
    config: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["csp", "suggest", "--config", str(config), "--db", db, "--write"]) == 0
    assert f"wrote {config}" in capsys.readouterr().out
    data = tomllib.loads(config.read_text())
    policy = data["csp"]["policy"]
    assert policy["script-src"] == ["'self'", OTHER]
    assert data["csp"]["report_path"] == "/_headerware/csp-report"  # the rest kept
    assert "cors" in data and "caching" in data

    def page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<p>hi</p>"]

    stack = stack_from_toml(config, page)
    header = (
        webtest.TestApp(stack)
        .get("/", extra_environ={"HTTP_HOST": "localhost"})
        .headers["Content-Security-Policy"]
    )
    assert f"script-src 'self' {OTHER} 'nonce-" in header
    assert "frame-src https://video.example" in header
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header
    # a second run has nothing more to add: the suggestion is idempotent
    assert main(["csp", "suggest", "--config", str(config), "--db", db]) == 0
    assert capsys.readouterr().out.startswith("no policy change to suggest")


def test_existing_policy_table_is_edited_in_place(tmp_path: Path) -> None:
    text = (
        '[csp]\nreport_path = "/r"\n\n[csp.policy]\ndefault-src = ["\'none\'"]\n'
        "script-src = [\"'self'\"]  # ours\nimg-src = [\"'self'\"]\n\n[cors]\n"
    )
    config = tomllib.loads(text)
    found = suggest(config, seen(("script-src-elem", OTHER), ("connect-src", "wss://ws.example")))
    new = apply(text, config, found)
    diff = unified_diff(text, new, "h.toml")
    assert added_lines(diff) == [
        f'+script-src = ["\'self\'", "{OTHER}"]',
        '+connect-src = ["wss://ws.example"]',
    ]
    assert tomllib.loads(new)["cors"] == {}


def test_inline_policy_value_rewritten(tmp_path: Path) -> None:
    text = "[csp]\npolicy = { default-src = [\"'self'\"] }\n"
    config = tomllib.loads(text)
    new = apply(text, config, suggest(config, seen(("img-src", "https://img.example"))))
    assert tomllib.loads(new)["csp"]["policy"] == {
        "default-src": ["'self'"],
        "img-src": ["'self'", "https://img.example"],
    }


def test_report_only_policy_gets_the_report_only_violations() -> None:
    text = (
        "[csp]\n[csp.report_only_policy]\ndefault-src = [\"'none'\"]\nscript-src = [\"'self'\"]\n"
    )
    config = tomllib.loads(text)
    found = suggest(
        config,
        seen(("script-src-elem", "https://a.example"))
        + seen(("img-src", "https://b.example"), disposition="enforce"),
    )
    assert found.additions == {
        "csp": {
            "report_only_policy": {"script-src": ["https://a.example"]},
            "policy": {"img-src": ["https://b.example"]},
        }
    }


def test_never_unsafe_inline_or_a_wildcard() -> None:
    config: dict[str, Any] = {"csp": {}}
    many = seen(*[("script-src-elem", f"https://h{i}.example") for i in range(30)])
    found = suggest(config, many + seen(("script-src-attr", "inline"), ("style-src", "inline")))
    sources = found.additions["csp"]["policy"]["script-src"]
    assert len(sources) == 30 and all("*" not in s for s in sources)
    assert not any("unsafe" in s for d in found.additions["csp"]["policy"].values() for s in d)
    assert any("event handler attribute" in flag for flag in found.flags)
    assert any("inline code, style-src" in flag for flag in found.flags)


def test_no_reports_nothing_to_suggest(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["csp", "suggest", "--config", str(config), "--db", str(tmp_path / "no")]) == 0
    assert "nothing to suggest" in capsys.readouterr().out


def test_bad_config_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[csp\n")
    assert main(["csp", "suggest", "--config", str(bad)]) == 1
    assert "not valid TOML" in capsys.readouterr().err
    missing = tmp_path / "missing.toml"
    assert main(["csp", "suggest", "--config", str(missing)]) == 1


def test_config_without_csp_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.toml"
    path.write_text("[cors]\n")
    db = str(tmp_path / "r.sqlite3")
    SQLiteStore(db)(seen(("img-src", "https://x.example")))
    assert main(["csp", "suggest", "--config", str(path), "--db", db]) == 1
    assert "no [csp] table" in capsys.readouterr().err


# -- the other policies' reports -------------------------------------------------------


def test_other_policies_get_advice_never_a_csp_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.toml"
    path.write_text('[csp]\nreport_path = "/r"\n')
    db = str(tmp_path / "r.sqlite3")
    SQLiteStore(db)(
        [
            Violation("corp", "https://img.example", PAGE, "report", 2, 1.0, 2.0, "coep"),
            Violation("navigation-to-response", "https://pay.example", PAGE, "report", 1,
                      1.0, 2.0, "coop"),
            Violation("script", OTHER, PAGE, "report", 1, 1.0, 2.0, "integrity"),
        ]
    )  # fmt: skip
    before = path.read_text()
    assert main(["csp", "suggest", "--config", str(path), "--db", db, "--write"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no policy change to suggest")
    advice = out.partition("other policies (COOP, COEP, Integrity-Policy; not a CSP change):")[2]
    assert "COEP corp blocked https://img.example" in advice
    assert "Cross-Origin-Resource-Policy: cross-origin" in advice
    assert "COOP navigation-to-response with https://pay.example" in advice
    assert f"Integrity-Policy: a script from {OTHER}" in advice and "integrity=" in advice
    assert path.read_text() == before


# -- per-route policies ----------------------------------------------------------------

ROUTES = """\
[csp]
report_path = "/_headerware/csp-report"

[csp.policy]
default-src = ["'self'"]

[[routes]]
path = "/api/*"
[routes.cors]
allow_origins = ["https://app.example"]

[[routes]]
path = "/beta/*"   # tried first
[routes.csp]
report_only = true

[routes.csp.policy]
default-src = ["'self'"]
script-src = ["'self'"]

[[routes]]
path = "/labs/*"
[routes.csp]
report_only = true
"""


def beta_site(config: Path) -> webtest.TestApp:
    def page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<p>hi</p>"]

    return webtest.TestApp(stack_from_toml(config, page), extra_environ={"HTTP_HOST": "site"})


def test_reports_under_a_route_change_that_routes_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "h.toml"
    config.write_text(ROUTES)
    db = str(tmp_path / "r.sqlite3")
    SQLiteStore(db)(
        seen(("script-src-elem", OTHER), doc="https://site/beta/x")
        + seen(("style-src-elem", "https://fonts.example"), doc="https://site/labs/y")
        + seen(("img-src", "https://img.example"), doc="https://site/home", disposition="enforce")
        + seen(("connect-src", "https://api.example"), doc="https://site/api/v1")  # no csp table
    )
    assert main(["csp", "suggest", "--config", str(config), "--db", db, "--write"]) == 0
    out = capsys.readouterr().out
    assert f'+script-src = ["\'self\'", "{OTHER}"]' in added_lines(out)
    data = tomllib.loads(config.read_text())
    beta, labs = data["routes"][1]["csp"], data["routes"][2]["csp"]
    # the route's own policy table, edited in place
    assert beta["policy"] == {"default-src": ["'self'"], "script-src": ["'self'", OTHER]}
    assert beta["report_only"] is True
    # a route without its own policy gets one: the effective ([csp]) policy plus the additions
    assert labs["policy"] == {
        "default-src": ["'self'"],
        "style-src": ["'self'", "https://fonts.example"],
    }
    # [csp] only gets what was seen outside those routes (/api/* has no csp table)
    assert data["csp"]["policy"] == {
        "default-src": ["'self'"],
        "img-src": ["'self'", "https://img.example"],
        "connect-src": ["'self'", "https://api.example"],
    }
    assert data["routes"][0] == {
        "path": "/api/*",
        "cors": {"allow_origins": ["https://app.example"]},
    }
    assert "# tried first" in config.read_text()  # comments kept
    # The stack built from the written file: each change reaches its own route only.
    site = beta_site(config)
    beta_header = site.get("/beta/x").headers["Content-Security-Policy-Report-Only"]
    assert f"script-src 'self' {OTHER}" in beta_header
    assert "fonts.example" in site.get("/labs/y").headers["Content-Security-Policy-Report-Only"]
    home = site.get("/home").headers["Content-Security-Policy"]
    assert OTHER not in home and "fonts.example" not in home and "https://img.example" in home
    assert main(["csp", "suggest", "--config", str(config), "--db", db]) == 0
    assert capsys.readouterr().out.startswith("no policy change to suggest")


def test_report_only_policy_of_a_route_and_nested_routes() -> None:
    text = (
        '[csp]\n\n[[routes]]\npath = "/beta/*"\n[routes.csp]\n'
        "report_only_policy = { default-src = [\"'self'\"] }\n\n"
        '[[routes]]\npath = "/beta/new/*"\n[routes.csp]\nallow_unsafe = false\n'
    )
    config = tomllib.loads(text)
    found = suggest(config, seen(("img-src", "https://img.example"), doc="https://s/beta/new/x"))
    # the most specific route owns the change; its effective policy comes from /beta/*
    assert found.additions == {
        "routes[1].csp": {"report_only_policy": {"img-src": ["https://img.example"]}}
    }
    new = tomllib.loads(apply(text, config, found))
    assert new["routes"][1]["csp"]["report_only_policy"] == {
        "default-src": ["'self'"],
        "img-src": ["'self'", "https://img.example"],
    }
    assert new["routes"][0] == config["routes"][0]


def test_route_with_csp_off_is_skipped() -> None:
    config = {"csp": {}, "routes": [{"path": "/legacy/*", "csp": {"enabled": False}}]}
    found = suggest(config, seen(("script-src-elem", OTHER), doc="https://s/legacy/a"))
    assert found.additions == {} and found.flags == []


def test_inline_route_csp_table_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "h.toml"
    config.write_text('[csp]\n\n[[routes]]\npath = "/beta/*"\ncsp = { report_only = true }\n')
    before = config.read_text()
    db = str(tmp_path / "r.sqlite3")
    SQLiteStore(db)(seen(("script-src-elem", OTHER), doc="https://site/beta/x"))
    assert main(["csp", "suggest", "--config", str(config), "--db", db, "--write"]) == 1
    assert "routes[0].csp is not written as a [routes.csp] table" in capsys.readouterr().err
    assert config.read_text() == before


def test_bad_route_pattern_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "h.toml"
    config.write_text('[csp]\n\n[[routes]]\npath = "beta/*"\n[routes.csp]\nreport_only = true\n')
    db = str(tmp_path / "r.sqlite3")
    SQLiteStore(db)(seen(("script-src-elem", OTHER), doc="https://site/beta/x"))
    assert main(["csp", "suggest", "--config", str(config), "--db", db]) == 1
    err = capsys.readouterr().err
    assert "cannot apply the suggestion" in err and "beta/*" in err
