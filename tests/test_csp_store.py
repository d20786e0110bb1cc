"""The CSP report store: normalisation, deduplication, limits, hostile input."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import webtest

from headerware import OptionError
from headerware.csp_store import (
    Collector,
    LogSink,
    RateLimiter,
    SQLiteStore,
    Violation,
    blocked_source,
    escape,
    normalise,
    read_violations,
)
from headerware.layers.csp import ContentSecurityPolicy

REPORT_PATH = "/_headerware/csp-report"
L2 = "application/csp-report"
RJ = "application/reports+json"


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def receiver(tmp_path: Path, **options: Any) -> tuple[webtest.TestApp, str]:
    db = str(tmp_path / "reports.sqlite3")
    options.setdefault("report_db", db)
    layer = ContentSecurityPolicy(app, report_path=REPORT_PATH, **options)
    return webtest.TestApp(layer, lint=True), db


def level2(blocked: str, directive: str = "script-src-elem", doc: str = "https://site/p") -> str:
    return json.dumps(
        {
            "csp-report": {
                "document-uri": doc,
                "blocked-uri": blocked,
                "effective-directive": directive,
                "disposition": "report",
            }
        }
    )


def post(
    client: webtest.TestApp, body: str | bytes, ctype: str = L2, status: int = 204, ip: str = "1"
) -> webtest.TestResponse:
    return client.post(
        REPORT_PATH,
        body,
        content_type=ctype,
        status=status,
        extra_environ={"REMOTE_ADDR": f"192.0.2.{ip}"},
    )


def rows(db: str) -> list[tuple[str, str, str, str, int]]:
    return [
        (v.directive, v.blocked, v.document, v.disposition, v.count) for v in read_violations(db)
    ]


# -- normalisation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocked", "expected"),
    [
        ("https://cdn.example:8443/lib.js?token=SECRET#x", "https://cdn.example:8443"),
        ("https://CDN.example/a", "https://cdn.example"),
        ("http://[::1]:8001/x.css", "http://[::1]:8001"),
        ("inline", "inline"),
        ("", "inline"),
        ("eval", "eval"),
        ("wasm-eval", "wasm-eval"),
        ("data:image/png;base64,AAAA", "data:"),
        ("blob:https://site/uuid", "blob:"),
        ("chrome-extension://abc/x.js", "chrome-extension:"),
        ("https://", "https:"),
        ("self", "'self'"),
    ],
)
def test_blocked_resource_reduced_to_origin_or_keyword(blocked: str, expected: str) -> None:
    assert blocked_source(blocked) == expected


def test_normalise_drops_query_and_keeps_the_directive_name() -> None:
    fields = {
        "violated_directive": "style-src 'self'",
        "document_uri": "https://site/page?session=SECRET#frag",
        "blocked_uri": "https://fonts.example/css?family=x",
        "disposition": "weird",
    }
    v = normalise(fields, 5.0)
    assert v == Violation("style-src", "https://fonts.example", "https://site/page", "enforce",
                          1, 5.0, 5.0)  # fmt: skip
    assert normalise({"blocked_uri": "x"}, 1.0) is None  # no directive: nothing to learn


def test_escape_neutralises_control_characters() -> None:
    assert escape("a\nb\r\x1b[31m\u2028c\x00") == "a\\x0ab\\x0d\\x1b[31m\\u2028c\\x00"
    assert escape("x" * 1000, 10) == "x" * 10


# -- collection through the receiver ---------------------------------------------------


def test_both_formats_stored_normalised_and_deduplicated(tmp_path: Path) -> None:
    client, db = receiver(tmp_path)
    post(client, level2("https://cdn.example/a.js?v=1"))
    post(client, level2("https://cdn.example/b.js", doc="https://site/p?q=2"))
    reports = [
        {"type": "csp-violation", "body": {"documentURL": "https://site/p", "blockedURL": b,
                                           "effectiveDirective": d, "disposition": "enforce"}}
        for b, d in [("inline", "script-src-elem"), ("eval", "script-src"),
                     ("data:x", "img-src"), ("inline", "script-src-elem")]
    ]  # fmt: skip
    post(client, json.dumps(reports), RJ)
    stored = rows(db)
    assert ("script-src-elem", "https://cdn.example", "https://site/p", "report", 2) in stored
    assert ("script-src-elem", "inline", "https://site/p", "enforce", 2) in stored
    assert ("script-src", "eval", "https://site/p", "enforce", 1) in stored
    assert ("img-src", "data:", "https://site/p", "enforce", 1) in stored
    assert len(stored) == 4
    first = read_violations(db)[0]
    assert first.first_seen <= first.last_seen


def test_the_default_store_is_sqlite_and_describe_round_trips(tmp_path: Path) -> None:
    client, db = receiver(tmp_path)
    layer = client.app
    options = layer.describe()
    assert options["report_store"] == "sqlite"
    assert options["report_db"] == db
    assert options["report_limits"]["per_minute"] == 60
    assert options["hash_inline"] is False
    again = ContentSecurityPolicy(app, **options)
    assert again.describe() == options


@pytest.mark.parametrize(
    ("options", "option"),
    [
        pytest.param({"report_store": "redis"}, "report_store", id="store"),
        pytest.param({"report_db": ""}, "report_db", id="db"),
        pytest.param({"report_limits": {"bogus": 1}}, "report_limits", id="limit-key"),
        pytest.param({"report_limits": {"per_minute": 0}}, "report_limits", id="per-minute"),
        pytest.param({"report_limits": {"sample": 0}}, "report_limits", id="sample-zero"),
        pytest.param({"report_limits": {"sample": 2}}, "report_limits", id="sample-big"),
        pytest.param({"report_limits": [1]}, "report_limits", id="not-a-table"),
        pytest.param({"hash_inline": "yes"}, "hash_inline", id="hash-inline"),
    ],
)
def test_bad_options_refused_at_construction(options: dict[str, Any], option: str) -> None:
    with pytest.raises(OptionError) as info:
        ContentSecurityPolicy(app, report_path=REPORT_PATH, **options)
    assert info.value.option == option


def test_callable_sink_gets_normalised_violations(tmp_path: Path) -> None:
    seen: list[list[Violation]] = []
    client, db = receiver(tmp_path, report_store=seen.append)
    post(client, level2("https://cdn.example/a.js"))
    ((v,),) = seen
    assert (v.directive, v.blocked) == ("script-src-elem", "https://cdn.example")
    assert not Path(db).exists()  # the callable replaces the store


def test_log_sink(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client, db = receiver(tmp_path, report_store="log")
    with caplog.at_level(logging.INFO, logger="headerware"):
        post(client, level2("https://cdn.example/a.js"))
    (record,) = [r for r in caplog.records if getattr(r, "hw_event", "") == "csp_violation_seen"]
    assert record.hw_fields["blocked"] == "https://cdn.example"  # type: ignore[attr-defined]
    assert not Path(db).exists()


def test_a_failing_sink_still_answers_204(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(violations: list[Violation]) -> None:
        raise RuntimeError("disk full\nFAKE LINE")

    client, _ = receiver(tmp_path, report_store=broken)
    with caplog.at_level(logging.WARNING, logger="headerware"):
        post(client, level2("https://cdn.example/a.js"))
    assert "csp_report_store_failed" in caplog.text
    assert "\nFAKE LINE" not in caplog.text


def test_sampling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client, db = receiver(tmp_path, report_limits={"sample": 0.5})
    draws = iter([0.9, 0.1])  # the first body is dropped, the second kept
    monkeypatch.setattr("headerware.csp_store.random.random", lambda: next(draws))
    post(client, level2("https://a.example/x"))
    post(client, level2("https://b.example/x"))
    assert [r[1] for r in rows(db)] == ["https://b.example"]


# -- hostile input ---------------------------------------------------------------------


def test_huge_body_is_413_and_stores_nothing(tmp_path: Path) -> None:
    client, db = receiver(tmp_path)
    response = post(client, "x" * (64 * 1024 + 1), status=413)
    assert "at most 65536" in response.text
    assert rows(db) == []


def test_malformed_json_is_400_and_stores_nothing(tmp_path: Path) -> None:
    client, db = receiver(tmp_path)
    post(client, "{not json", status=400)
    post(client, b"[" * 5000 + b"]" * 5000, status=400)
    post(client, '[{"type": "csp-violation", "body": 3}]', RJ, status=400)
    assert rows(db) == []


def test_flood_from_one_client_is_429_and_storage_unchanged(tmp_path: Path) -> None:
    client, db = receiver(tmp_path, report_limits={"per_minute": 5})
    for _ in range(5):
        post(client, level2("https://cdn.example/a.js"))
    before = rows(db)
    assert before[0][-1] == 5
    for _ in range(20):
        response = post(client, level2("https://other.example/a.js"), status=429)
        assert response.headers["Retry-After"] == "60"
    assert rows(db) == before  # nothing stored during the flood
    post(client, level2("https://other.example/a.js"), ip="2")  # another client still counts
    assert len(rows(db)) == 2


def test_rate_limiter_windows_and_bounded_clients() -> None:
    limiter = RateLimiter(per_minute=2, max_keys=2)
    assert limiter.allow("a", 0) and limiter.allow("a", 1)
    assert not limiter.allow("a", 2)
    assert limiter.allow("a", 61)  # a new minute
    assert limiter.allow("a", 62)
    assert not limiter.allow("a", 62)
    limiter.allow("b", 62)
    limiter.allow("c", 62)  # the table holds two clients: "a" is forgotten
    assert limiter.allow("a", 63)


def test_reports_per_body_capped(tmp_path: Path) -> None:
    client, db = receiver(tmp_path, report_limits={"max_reports": 10})
    many = [
        {"type": "csp-violation", "body": {"effectiveDirective": "img-src",
                                           "blockedURL": f"https://h{i}.example/"}}
        for i in range(500)
    ]  # fmt: skip
    post(client, json.dumps(many), RJ)
    assert len(rows(db)) == 10


def test_storage_bounded_oldest_evicted(tmp_path: Path) -> None:
    db = str(tmp_path / "s.sqlite3")
    store = SQLiteStore(db, max_rows=3)
    for i in range(6):
        store([Violation("img-src", f"https://h{i}.example", "/p", "enforce", 1, i, i)])
    assert sorted(v.blocked for v in store.violations()) == [
        "https://h3.example",
        "https://h4.example",
        "https://h5.example",
    ]


def test_log_injection_is_escaped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client, db = receiver(tmp_path)
    evil = "https://site/p\n2026-01-01 CRITICAL admin logged in\r\x1b[2J\u2028"
    body = json.dumps(
        {"csp-report": {"document-uri": evil, "blocked-uri": "bad\nuri",
                        "effective-directive": "img-src\nforged", "script-sample": "\x00\x07"}}
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="headerware"):
        post(client, body)
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message and "\x1b" not in message
        for value in record.hw_fields.values():  # type: ignore[attr-defined]
            assert str(value).isprintable()
    for v in read_violations(db):
        for value in (v.directive, v.blocked, v.document):
            assert value.isprintable()
    (stored,) = read_violations(db)
    assert stored.directive == "img-src"
    assert "\\x0a2026-01-01 CRITICAL" in stored.document


def test_log_sink_escapes(caplog: pytest.LogCaptureFixture) -> None:
    v = normalise({"violated_directive": "img-src", "document_uri": "/a\nb"}, 0)
    assert v is not None
    with caplog.at_level(logging.INFO, logger="headerware"):
        LogSink()([v])
    assert "\n" not in caplog.records[0].getMessage()


def test_collector_without_sink() -> None:
    collector = Collector("none")
    collector.collect([{"violated_directive": "img-src"}])  # nothing to do, no error
    assert collector.sink is None


# -- the other policies' reports (COOP, COEP, Integrity-Policy) --------------------------


def coep(
    blocked: str = "https://img.example/x.png", doc: str = "https://site/p?t=1"
) -> dict[str, Any]:
    return {"type": "coep", "url": doc, "body": {"type": "corp", "blockedURL": blocked,
                                                  "destination": "image",
                                                  "disposition": "reporting"}}  # fmt: skip


def kinds(db: str) -> list[tuple[str, str, str, str, str, int]]:
    return sorted(
        (v.kind, v.directive, v.blocked, v.document, v.disposition, v.count)
        for v in read_violations(db)
    )


def test_other_policies_stored_with_their_kind_and_deduplicated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, db = receiver(tmp_path)
    reports = [
        coep(),
        coep("https://img.example/y.png"),  # the same origin: one row, count 2
        {"type": "coep", "url": "https://site/w", "body": {"type": "worker initialization",
                                                          "blockedURL": "https://site/w.js",
                                                          "disposition": "enforce"}},
        {"type": "coop", "url": "https://site/a", "body": {
            "type": "navigation-from-response", "disposition": "reporting",
            "nextResponseURL": "https://pay.example/x?token=SECRET"}},
        {"type": "coop", "url": "https://site/a", "body": {
            "type": "access-from-coop-page-to-opener", "disposition": "reporting"}},
        {"type": "integrity-violation", "url": "https://site/app", "body": {
            "documentURL": "https://site/app?q=1", "blockedURL": "https://cdn.example/l.js",
            "destination": "script", "reportOnly": False}},
        {"type": "csp-violation", "body": {"documentURL": "https://site/p",
                                           "blockedURL": "inline",
                                           "effectiveDirective": "script-src-elem"}},
        {"type": "deprecation", "body": {"id": "x", "message": "old"}},  # not ours: skipped
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="headerware"):
        post(client, json.dumps(reports), RJ)
    assert kinds(db) == [
        ("coep", "corp", "https://img.example", "https://site/p", "report", 2),
        ("coep", "worker-initialization", "https://site", "https://site/w", "enforce", 1),
        ("coop", "access-from-coop-page-to-opener", "-", "https://site/a", "report", 1),
        ("coop", "navigation-from-response", "https://pay.example", "https://site/a", "report", 1),
        ("csp", "script-src-elem", "inline", "https://site/p", "enforce", 1),
        ("integrity", "script", "https://cdn.example", "https://site/app", "enforce", 1),
    ]
    events = sorted(getattr(r, "hw_event", "") for r in caplog.records)
    assert events.count("coep_violation") == 3 and events.count("coop_violation") == 2
    assert "integrity_violation" in events and "csp_violation" in events
    assert "SECRET" not in caplog.text  # queries never logged


def test_other_policies_hostile_input(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client, db = receiver(tmp_path, report_limits={"per_minute": 6})  # six bodies below
    post(client, '[{"type": "coep", "body": "corp"}]', RJ, status=400)  # body not an object
    post(client, '[{"type": "coop"}]', RJ, status=400)  # no body
    post(client, '[{"type": "integrity-violation", "body": {}} ', RJ, status=400)  # bad JSON
    response = post(client, json.dumps([coep("https://x.example/" + "a" * 70_000)]), RJ,
                    status=413)  # fmt: skip
    assert "at most 65536" in response.text
    # Wrong field types: accepted (204), nothing to learn, nothing stored.
    weird = [{"type": "coep", "body": {"type": 3, "blockedURL": ["x"]}},
             {"type": "coop", "url": 7, "body": {"type": None}}]  # fmt: skip
    post(client, json.dumps(weird), RJ)
    assert read_violations(db) == []
    evil = [{"type": "coop", "url": "https://site/a\nFORGED LINE\x1b[2J", "body": {
        "type": "navigation-to-response\nFORGED", "previousResponseURL": "https://e.example\r\n",
        "disposition": "reporting\u2028"}}]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="headerware"):
        post(client, json.dumps(evil), RJ)
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "\x1b" not in record.getMessage()
        for value in getattr(record, "hw_fields", {}).values():
            assert str(value).isprintable()
    ((kind, directive, blocked, document, disposition, _),) = kinds(db)
    assert (kind, directive, disposition) == ("coop", "navigation-to-response", "enforce")
    assert document.isprintable() and "\\x0aFORGED" in document and blocked.isprintable()
    # Every body above counted: a flood of COEP reports is 429 before its body is read.
    before = kinds(db)
    for _ in range(10):
        post(client, json.dumps([coep("https://flood.example/x")]), RJ, status=429)
    assert kinds(db) == before


def test_unknown_kind_is_never_stored() -> None:
    assert normalise({"kind": "nel", "violated_directive": "x"}, 0) is None
    v = normalise({"kind": "coep", "violated_directive": "corp"}, 0)
    assert v is not None and (v.kind, v.blocked) == ("coep", "-")


OLD_SCHEMA = """
CREATE TABLE violations (
    directive TEXT NOT NULL, blocked TEXT NOT NULL, document TEXT NOT NULL,
    disposition TEXT NOT NULL, count INTEGER NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    PRIMARY KEY (directive, blocked, document, disposition))
"""


def old_store(path: Path) -> str:
    """A store as the version without kinds wrote it."""
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(OLD_SCHEMA)
        connection.execute(
            "INSERT INTO violations VALUES ('img-src', 'data:', '/p', 'report', 4, 1.0, 2.0)"
        )
    connection.close()
    return str(path)


def test_a_store_of_the_previous_version_is_read_then_migrated(tmp_path: Path) -> None:
    db = old_store(tmp_path / "old.sqlite3")
    before = Path(db).read_bytes()
    assert read_violations(db) == [Violation("img-src", "data:", "/p", "report", 4, 1.0, 2.0)]
    assert Path(db).read_bytes() == before  # reading never migrates (read-only)
    first, second = SQLiteStore(db), SQLiteStore(db)  # two workers on one file
    first([Violation("img-src", "data:", "/p", "report", 1, 3.0, 3.0)])
    second([Violation("corp", "https://img.example", "/p", "report", 1, 3.0, 3.0, "coep")])
    second([Violation("img-src", "data:", "/p", "report", 1, 5.0, 5.0)])
    assert kinds(db) == [
        ("coep", "corp", "https://img.example", "/p", "report", 1),
        ("csp", "img-src", "data:", "/p", "report", 6),  # the old row, deduplicated into
    ]
    (old,) = [v for v in read_violations(db) if v.kind == "csp"]
    assert (old.first_seen, old.last_seen) == (1.0, 5.0)
    connection = sqlite3.connect(db)
    names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master")]
    connection.close()
    assert "violations_migrating" not in names


def test_a_csp_and_a_coep_row_with_the_same_fields_stay_apart(tmp_path: Path) -> None:
    db = old_store(tmp_path / "old.sqlite3")
    store = SQLiteStore(db)
    store([Violation("img-src", "data:", "/p", "report", 1, 3.0, 3.0, "coep")])
    assert [(k, c) for k, *_, c in kinds(db)] == [("coep", 1), ("csp", 4)]
