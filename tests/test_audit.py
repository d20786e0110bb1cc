"""Tests for headerware.audit: Observatory 1.4.8 parity on a golden corpus, scoring, I/O."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from headerware.audit import (
    GRADES,
    AuditResult,
    audit_app,
    audit_url,
    grade_at_least,
    grade_for_score,
    grade_response,
    results_to_json,
)
from headerware.audit_rules import CspInvalid, collect_cookies, node_headers, parse_csp

FIXTURES = Path(__file__).parent / "fixtures" / "audit"
CORPUS: list[dict[str, Any]] = json.loads((FIXTURES / "corpus.json").read_text())
GOLDEN: dict[str, dict[str, Any]] = {
    g["id"]: g for g in json.loads((FIXTURES / "golden.json").read_text())
}
#: Where .ci/run installs the package (npm --prefix), unless OBSERVATORY_DIR says otherwise.
_OBSERVATORY_PREFIX = Path(
    os.environ.get("HEADERWARE_OBSERVATORY_PREFIX")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "headerware"
    / "observatory"
)
OBSERVATORY_DIR = Path(
    os.environ.get("OBSERVATORY_DIR")
    or _OBSERVATORY_PREFIX / "node_modules" / "@mdn" / "mdn-http-observatory"
)


def _grade_case(case: dict[str, Any]) -> AuditResult:
    https = case.get("https", True)
    cors = case["cors_headers"]
    return grade_response(
        f"{'https' if https else 'http'}://headerware.test{case.get('path', '/')}",
        case.get("status", 200),
        [(k, v) for k, v in case["headers"]],
        case["body"].encode(),
        https=https,
        cors_headers=None if cors is None else [(k, v) for k, v in cors],
        # the golden http case models a site without HTTPS, as the Observatory sees it
        https_available=None if https else False,
    )


def _assert_matches(result: AuditResult, golden: dict[str, Any]) -> None:
    assert (result.score, result.grade) == (golden["score"], golden["grade"])
    for test in result.tests:
        if not test.evaluated:
            assert test.name == "redirection"
            continue
        expected = golden["tests"][test.name]
        assert (test.result, test.passed, test.score_modifier) == (
            expected["result"],
            expected["pass"],
            expected["score_modifier"],
        ), test.name
    assert {t.name for t in result.tests} == set(golden["tests"])


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CORPUS])
def test_same_results_as_the_observatory(case: dict[str, Any]) -> None:
    _assert_matches(_grade_case(case), GOLDEN[case["id"]])


def test_corpus_and_golden_cover_each_other() -> None:
    assert len(CORPUS) >= 30
    assert {c["id"] for c in CORPUS} == set(GOLDEN)
    seen = {t["result"] for g in GOLDEN.values() for t in g["tests"].values()}
    # the corpus reaches most result codes, including every CSP and cookie branch
    assert len(seen) >= 45


def _require_observatory() -> None:
    """Skip locally without node or the package; in CI (``CI`` set) fail instead, so
    the agreement claim is never passed by skipping (.ci/run installs the package and
    sets ``OBSERVATORY_DIR``)."""
    missing = []
    if shutil.which("node") is None:
        missing.append("node")
    if not (OBSERVATORY_DIR / "package.json").exists():
        missing.append(f"@mdn/mdn-http-observatory@1.4.8 in OBSERVATORY_DIR={OBSERVATORY_DIR}")
    if not missing:
        return
    why = f"needs {' and '.join(missing)} (see .ci/run and observatory_reference.mjs)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must install the Observatory: {why}")
    pytest.skip(why)


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        pytest.param("1", pytest.fail.Exception, id="ci-fails"),
        pytest.param("", pytest.skip.Exception, id="local-skips"),
    ],
)
def test_a_missing_observatory_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "OBSERVATORY_DIR", tmp_path / "nothing")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"mdn-http-observatory@1\.4\.8"):
        _require_observatory()


def test_golden_regenerated_live_from_the_package() -> None:
    _require_observatory()
    version = json.loads((OBSERVATORY_DIR / "package.json").read_text())["version"]
    assert version == "1.4.8"
    out = subprocess.run(
        ["node", str(FIXTURES / "observatory_reference.mjs"), str(FIXTURES / "corpus.json")],
        env={**os.environ, "OBSERVATORY_DIR": str(OBSERVATORY_DIR)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    live = {g["id"]: g for g in json.loads(out.stdout)}
    assert live == GOLDEN
    for case in CORPUS:
        _assert_matches(_grade_case(case), live[case["id"]])


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        pytest.param(135, "A+", id="above-100"),
        pytest.param(100, "A+", id="100"),
        pytest.param(99, "A", id="99"),
        pytest.param(90, "A", id="90"),
        pytest.param(89, "A-", id="89"),
        pytest.param(85, "A-", id="85"),
        pytest.param(80, "B+", id="80"),
        pytest.param(70, "B", id="70"),
        pytest.param(65, "B-", id="65"),
        pytest.param(60, "C+", id="60"),
        pytest.param(50, "C", id="50"),
        pytest.param(45, "C-", id="45"),
        pytest.param(40, "D+", id="40"),
        pytest.param(30, "D", id="30"),
        pytest.param(25, "D-", id="25"),
        pytest.param(24, "F", id="24"),
        pytest.param(0, "F", id="0"),
        pytest.param(-30, "F", id="negative"),
    ],
)
def test_grade_chart(score: int, grade: str) -> None:
    assert grade_for_score(score) == grade


NO_FRAMES = [("Content-Type", "text/html"), ("X-Content-Type-Options", "nosniff")]
CSP_NONE = ("Content-Security-Policy", "default-src 'none'; form-action 'self'")
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def test_extra_credit_only_counts_from_90_without_bonuses() -> None:
    # -20 (no X-Frame-Options) leaves 80 before bonuses: the +10 CSP and +10 CORP don't count
    low = grade_response(
        "https://a.test/",
        200,
        [*NO_FRAMES, CSP_NONE, HSTS, ("Cross-Origin-Resource-Policy", "same-origin")],
        b"",
        https=True,
    )
    assert low.score == 80
    assert low.grade == "B+"
    # -5 (no nosniff) leaves 95: now the bonuses count
    high = grade_response(
        "https://a.test/",
        200,
        [
            ("Content-Type", "text/html"),
            ("X-Frame-Options", "DENY"),
            CSP_NONE,
            HSTS,
            ("Cross-Origin-Resource-Policy", "same-origin"),
        ],
        b"",
        https=True,
    )
    assert high.score == 95 + 10 + 10
    assert high.grade == "A+"


def test_network_tests_are_not_evaluated_never_guessed() -> None:
    result = grade_response("https://a.test/", 200, [], b"", https=True)
    redirection = result.test("redirection")
    assert not redirection.evaluated
    assert redirection.result is None
    assert redirection.score_modifier == 0
    assert "public" in redirection.note
    hsts = result.test("strict-transport-security")
    assert hsts.result == "hsts-not-implemented"
    assert "preload" in hsts.note
    assert result.not_evaluated == ["redirection"]


def test_plain_http_audit_leaves_hsts_not_evaluated() -> None:
    result = grade_response("http://127.0.0.1:8000/", 200, [HSTS], b"", https=False)
    hsts = result.test("strict-transport-security")
    assert not hsts.evaluated
    assert result.not_evaluated == ["redirection", "strict-transport-security"]
    # declaring the site has no HTTPS at all gives the Observatory's verdict
    declared = grade_response(
        "http://127.0.0.1:8000/", 200, [], b"", https=False, https_available=False
    )
    assert declared.test("strict-transport-security").result == "hsts-not-implemented-no-https"


@pytest.mark.parametrize(
    ("grade", "minimum", "ok"),
    [
        pytest.param("A+", "A", True, id="better"),
        pytest.param("A", "A", True, id="equal"),
        pytest.param("A-", "A", False, id="worse"),
        pytest.param("F", "D-", False, id="f"),
        pytest.param("B", "F", True, id="anything-beats-f"),
    ],
)
def test_grade_at_least(grade: str, minimum: str, ok: bool) -> None:
    assert grade_at_least(grade, minimum) is ok


def test_grade_at_least_rejects_unknown_grades_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"minimum='E'.*A\+, A, A-"):
        grade_at_least("A", "E")
    assert GRADES[0] == "A+"
    assert GRADES[-1] == "F"


# --------------------------------------------------------------------------- rules


def test_node_joins_repeated_headers_like_the_observatory_sees_them() -> None:
    joined = node_headers(
        [
            ("X-Frame-Options", "DENY"),
            ("x-frame-options", "DENY"),
            ("Content-Type", "text/html"),
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ]
    )
    assert joined == {
        "x-frame-options": "DENY, DENY",
        "content-type": "text/html",
        "set-cookie": ["a=1", "b=2"],
    }


def test_cookie_jar_rules() -> None:
    jar = collect_cookies(
        [
            "a=1; Path=/",
            "a=2; Path=/",  # replaces the first
            "=nameless",  # unparseable
            "__Secure-x=1",  # prefix without Secure: dropped
            "__Host-y=1; Secure; Path=/; Domain=a.test",  # __Host- with Domain: dropped
            "other=1; Domain=evil.test",  # another site's domain: dropped
            "sub=1; Domain=a.test; SameSite=Strict",
        ],
        "www.a.test",
        "/x/y",
    )
    assert [(c.key, c.value, c.path, c.samesite) for c in jar] == [
        ("a", "2", "/", None),
        ("sub", "1", "/x", "strict"),
    ]


def test_csp_parser_errors_and_merging() -> None:
    with pytest.raises(CspInvalid):
        parse_csp(["a"])  # shorter than any directive
    with pytest.raises(CspInvalid):
        parse_csp(["script-src 'self'; SCRIPT-SRC 'none'"])
    merged = parse_csp(["default-src 'self' https://a.test", "default-src https://a.test"])
    assert merged.directives == {"default-src": {"https://a.test"}}
    assert parse_csp(["img-src"]).directives == {"img-src": {"'none'"}}


# --------------------------------------------------------------------------- output


def test_table_names_each_finding_and_its_headerware_fix() -> None:
    result = grade_response(
        "https://a.test/", 200, [("Content-Type", "text/html")], b"", https=True
    )
    table = result.render_table()
    assert table.splitlines()[0] == "https://a.test/  [200]  score 30  grade D"
    assert "FAIL   -25  content-security-policy" in table
    assert "To improve:" in table
    assert "x-frame-options: SecurityHeaders/CSP: frame-ancestors" in table
    assert "Not evaluated:" in table


def test_json_output() -> None:
    result = grade_response("https://a.test/", 200, [CSP_NONE, HSTS], b"", https=True)
    data = json.loads(results_to_json([result]))[0]
    assert data["score"] == result.score
    assert data["grade"] == result.grade
    assert data["not_evaluated"] == ["redirection"]
    assert data["tests"]["content-security-policy"]["result"] == (
        "csp-implemented-with-no-unsafe-default-src-none"
    )
    assert data["tests"]["redirection"]["evaluated"] is False
    assert data["tests_passed"] + data["tests_failed"] == 9


# --------------------------------------------------------------------------- app / URL


FULL_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'"


def _secure_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Security-Policy", FULL_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Set-Cookie", "session=1; Path=/; HttpOnly; SameSite=Lax"
         + ("; Secure" if environ["wsgi.url_scheme"] == "https" else "")),
    ]  # fmt: skip
    if environ["wsgi.url_scheme"] == "https":
        headers.append(HSTS)
    if environ["REQUEST_METHOD"] == "OPTIONS":
        headers.append(("Access-Control-Allow-Origin", environ.get("HTTP_ORIGIN", "")))
    start_response("200 OK", headers)
    return [b"<p>ok</p>"]


def test_audit_app_sends_https_requests_and_the_preflight() -> None:
    (result,) = audit_app(_secure_app)
    assert result.url == "https://localhost/"
    assert result.status == 200
    assert result.test("strict-transport-security").passed
    assert result.test("cookies").result == "cookies-secure-with-httponly-sessions-and-samesite"
    assert result.test("cross-origin-resource-sharing").result == (
        "cross-origin-resource-sharing-implemented-with-restricted-access"
    )
    assert (result.score, result.grade) == (135, "A+")


def test_audit_app_over_http_grades_the_insecure_cookie() -> None:
    results = audit_app(_secure_app, ["/", "/other"], https=False)
    assert [r.url for r in results] == ["http://localhost/", "http://localhost/other"]
    assert results[0].test("cookies").result == "cookies-session-without-secure-flag"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/moved":
            start_response("302 Found", [("Location", "http://elsewhere.test/")])
            return [b""]
        return _secure_app(environ, start_response)

    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_audit_url_over_http_without_following_redirects(local_server: str) -> None:
    ok, moved = audit_url(local_server, ["/", "/moved"])
    assert ok.status == 200
    assert ok.test("content-security-policy").result == (
        "csp-implemented-with-no-unsafe-default-src-none"
    )
    assert not ok.test("strict-transport-security").evaluated
    assert moved.status == 302
    assert moved.url == f"{local_server}/moved"


def test_audit_url_refuses_a_non_http_url() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        audit_url("ftp://127.0.0.1/")
