"""``headerware csp report``: what was blocked, where, how often, since when."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webtest

from headerware.cli import main
from headerware.csp_store import SQLiteStore, Violation
from headerware.layers.csp import ContentSecurityPolicy


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "reports.sqlite3")
    SQLiteStore(path)(
        [
            Violation("script-src-elem", "https://cdn.example", "https://site/a", "report",
                      7, 1_700_000_000.0, 1_700_000_600.0),
            Violation("img-src", "data:", "https://site/b", "enforce",
                      2, 1_700_000_100.0, 1_700_000_200.0),
        ]
    )  # fmt: skip
    return path


def test_report_table(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["csp", "report", "--db", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "COUNT", "KIND", "DIRECTIVE", "BLOCKED", "DOCUMENT", "MODE", "FIRST", "SEEN", "LAST",
        "SEEN"
    ]  # fmt: skip
    assert lines[1].split()[:6] == ["7", "csp", "script-src-elem", "https://cdn.example",
                                    "https://site/a", "report"]  # fmt: skip
    assert "2023-11-14 22:13:20" in lines[1] and "2023-11-14 22:23:20" in lines[1]
    assert lines[2].split()[:4] == ["2", "csp", "img-src", "data:"]


def test_report_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["csp", "report", "--db", db, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0] == {
        "directive": "script-src-elem",
        "blocked": "https://cdn.example",
        "document": "https://site/a",
        "disposition": "report",
        "count": 7,
        "first_seen": 1_700_000_000.0,
        "last_seen": 1_700_000_600.0,
        "kind": "csp",
    }


def test_report_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "none.sqlite3")
    assert main(["csp", "report", "--db", missing]) == 0
    assert "no violations recorded" in capsys.readouterr().out
    assert not Path(missing).exists()  # reading never creates the store
    assert main(["csp", "report", "--db", missing, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_report_reads_what_the_receiver_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "r.sqlite3")

    def app(environ: object, start_response: object) -> list[bytes]:
        raise AssertionError("not reached")

    client = webtest.TestApp(
        ContentSecurityPolicy(app, report_path="/r", report_db=path), lint=True
    )
    body = {"csp-report": {"document-uri": "https://site/p?x=1", "blocked-uri": "eval",
                           "effective-directive": "script-src\nFORGED 1 2 3"}}  # fmt: skip
    client.post("/r", json.dumps(body), content_type="application/csp-report", status=204)
    assert main(["csp", "report", "--db", path]) == 0
    out = capsys.readouterr().out
    assert "csp   script-src  eval" in out and "https://site/p " in out
    assert "FORGED" not in out and len(out.splitlines()) == 2


def test_csp_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["csp"])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["csp", "--help"])
    out = capsys.readouterr().out
    assert "report" in out and "suggest" in out


OTHER_REPORTS = [
    {"type": "coep", "url": "https://site/embed?t=SECRET", "body": {
        "type": "corp", "blockedURL": "https://img.example/x.png", "destination": "image",
        "disposition": "reporting"}},
    {"type": "coop", "url": "https://site/opener", "body": {
        "type": "navigation-to-response", "disposition": "enforce",
        "effectivePolicy": "same-origin", "previousResponseURL": "https://pay.example/done"}},
    {"type": "integrity-violation", "url": "https://site/app", "body": {
        "documentURL": "https://site/app", "blockedURL": "https://cdn.example/lib.js",
        "destination": "script", "reportOnly": True}},
]  # fmt: skip


def test_report_shows_the_other_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "r.sqlite3")

    def app(environ: object, start_response: object) -> list[bytes]:
        raise AssertionError("not reached")

    client = webtest.TestApp(
        ContentSecurityPolicy(app, report_path="/r", report_db=path), lint=True
    )
    client.post(
        "/r", json.dumps(OTHER_REPORTS), content_type="application/reports+json", status=204
    )
    assert main(["csp", "report", "--db", path]) == 0
    rows = {tuple(line.split()[1:6]) for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows == {
        ("coep", "corp", "https://img.example", "https://site/embed", "report"),
        ("coop", "navigation-to-response", "https://pay.example", "https://site/opener",
         "enforce"),
        ("integrity", "script", "https://cdn.example", "https://site/app", "report"),
    }  # fmt: skip
    assert main(["csp", "report", "--db", path, "--kind", "coep", "--json"]) == 0
    (only,) = json.loads(capsys.readouterr().out)
    assert (only["kind"], only["directive"], only["blocked"]) == (
        "coep",
        "corp",
        "https://img.example",
    )
    with pytest.raises(SystemExit):
        main(["csp", "report", "--db", path, "--kind", "bogus"])
    assert "invalid choice" in capsys.readouterr().err
