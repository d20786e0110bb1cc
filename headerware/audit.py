"""Observatory-compatible audit of an application's headers and cookies.

``headerware audit`` grades responses the way the MDN HTTP Observatory's npm
package ``@mdn/mdn-http-observatory`` 1.4.8 does: the same ten tests (CSP,
cookies, CORS, redirection, Referrer-Policy, HSTS, subresource integrity,
X-Content-Type-Options, X-Frame-Options, Cross-Origin-Resource-Policy -- 1.4.8
has no COEP/COOP test), the same result codes and score modifiers, a base score
of 100, bonuses counted only when the score without them is at least 90, and the
same grade chart. The rules themselves live in :mod:`headerware.audit_rules`.

What cannot be known from this machine is reported as *not evaluated* and scores
0, never guessed: the HTTP->HTTPS redirection of the public site, the HSTS
preload list and the certificate chain. A response fetched over plain HTTP gets
no HSTS grade either.

Public API (what ``headerware audit`` calls):

``grade_response(url, status, headers, body, *, https, cors_headers=None) -> AuditResult``
    Pure function, no I/O. ``cors_headers`` are the headers of the answer to the
    preflight the Observatory sends (``OPTIONS`` with ``Origin:
    https://http-observatory.security.mozilla.org`` and
    ``Access-Control-Request-Method: GET``).
``audit_app(app, paths=("/",), *, https=True, host="localhost") -> list[AuditResult]``
    In-process through WebTest; HTTPS requests by default so HSTS and Secure
    cookies are graded as in production.
``audit_url(base_url, paths=("/",)) -> list[AuditResult]``
    Over HTTP(S) with :mod:`urllib.request` for a server on this machine;
    redirects are not followed.
``grade_at_least(grade, minimum) -> bool``
    ``--fail-under`` semantics: is ``grade`` as good as ``minimum``?

``AuditResult.render_table()`` gives a readable report with the headerware
setting that fixes each finding; ``AuditResult.to_json()`` a JSON-ready dict.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from .audit_rules import observe, run_tests

__all__ = [
    "CORS_ORIGIN",
    "GRADES",
    "MINIMUM_SCORE_FOR_EXTRA_CREDIT",
    "AuditResult",
    "TestResult",
    "audit_app",
    "audit_url",
    "grade_at_least",
    "grade_for_score",
    "grade_response",
]

#: Grades from best to worst.
GRADES = ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")
#: Bonuses only count when the score without them reaches this.
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
#: The Origin the Observatory sends in its CORS preflight.
CORS_ORIGIN = "https://http-observatory.security.mozilla.org"

#: Lower bound of each grade (score rounded down to a multiple of 5, capped at 100).
_GRADE_FLOORS = (
    (100, "A+"), (90, "A"), (85, "A-"), (80, "B+"), (70, "B"), (65, "B-"), (60, "C+"),
    (50, "C"), (45, "C-"), (40, "D+"), (30, "D"), (25, "D-"), (0, "F"),
)  # fmt: skip

_SCORE_ROWS = """
csp-implemented-with-no-unsafe-default-src-none 10
    CSP with default-src 'none' and nothing unsafe
csp-implemented-with-no-unsafe 5
    CSP without 'unsafe-inline' or 'unsafe-eval' in scripts
csp-implemented-with-unsafe-inline-in-style-src-only 0
    CSP allows unsafe sources in style-src only
csp-implemented-with-insecure-scheme-in-passive-content-only -10
    CSP lets images or media load over HTTP
csp-implemented-with-unsafe-eval -10
    CSP allows 'unsafe-eval'
csp-implemented-with-unsafe-inline -20
    CSP allows 'unsafe-inline', data: or broad sources for scripts or objects
csp-implemented-with-insecure-scheme -20
    CSP lets active content load over HTTP
csp-header-invalid -25
    CSP cannot be parsed (duplicate directive, too short, 'strict-dynamic' without nonce/hash)
csp-not-implemented -25
    no Content-Security-Policy
csp-not-implemented-but-reporting-enabled -25
    only a report-only CSP
csp-implemented-but-duplicate-directives 0
    CSP repeats report-uri or report-to
cookies-secure-with-httponly-sessions-and-samesite 5
    all cookies Secure, session cookies HttpOnly, all with SameSite
cookies-secure-with-httponly-sessions 0
    all cookies Secure, session cookies HttpOnly, some without SameSite
cookies-not-found 0
    no cookies set
cookies-without-secure-flag-but-protected-by-hsts -5
    cookies without Secure (HSTS protects them)
cookies-session-without-secure-flag-but-protected-by-hsts -10
    session cookie without Secure (HSTS protects it)
cookies-without-secure-flag -20
    cookies without Secure
cookies-samesite-flag-invalid -20
    SameSite with an invalid value, or SameSite=None without Secure
cookies-anticsrf-without-samesite-flag -20
    anti-CSRF cookie without SameSite
cookies-session-without-httponly-flag -30
    session cookie without HttpOnly
cookies-session-without-secure-flag -40
    session cookie without Secure
cross-origin-resource-sharing-not-implemented 0
    no CORS access granted
cross-origin-resource-sharing-implemented-with-public-access 0
    public CORS access (Access-Control-Allow-Origin: *)
cross-origin-resource-sharing-implemented-with-restricted-access 0
    CORS access restricted to specific origins
cross-origin-resource-sharing-implemented-with-universal-access -50
    any origin may read with credentials
referrer-policy-private 5
    Referrer-Policy keeps URLs private
referrer-policy-not-implemented 0
    no Referrer-Policy
referrer-policy-unsafe -5
    Referrer-Policy leaks URLs
referrer-policy-header-invalid -5
    Referrer-Policy not recognised
hsts-preloaded 5
    preloaded in browsers' HSTS list
hsts-implemented-max-age-at-least-six-months 0
    HSTS with max-age of six months or more
hsts-implemented-max-age-less-than-six-months -10
    HSTS max-age under six months
hsts-not-implemented -20
    no Strict-Transport-Security
hsts-header-invalid -20
    Strict-Transport-Security not recognised (or sent twice)
hsts-not-implemented-no-https -20
    site not available over HTTPS
hsts-invalid-cert -20
    invalid certificate chain
sri-implemented-and-all-scripts-loaded-securely 5
    SRI used and all scripts from the same site
sri-implemented-and-external-scripts-loaded-securely 5
    SRI used and external scripts over HTTPS
sri-not-implemented-response-not-html 0
    not HTML: SRI not needed
sri-not-implemented-but-no-scripts-loaded 0
    no scripts: SRI not needed
sri-not-implemented-but-all-scripts-loaded-from-secure-origin 0
    all scripts from the same site, no SRI
sri-not-implemented-but-external-scripts-loaded-securely -5
    external scripts over HTTPS without SRI
sri-implemented-but-external-scripts-not-loaded-securely -20
    SRI used but external scripts over HTTP or //
sri-not-implemented-and-external-scripts-not-loaded-securely -50
    external scripts over HTTP or // without SRI
x-content-type-options-nosniff 0
    X-Content-Type-Options: nosniff
x-content-type-options-not-implemented -5
    no X-Content-Type-Options
x-content-type-options-header-invalid -5
    X-Content-Type-Options not recognised (or sent twice)
x-frame-options-implemented-via-csp 5
    framing controlled by CSP frame-ancestors
x-frame-options-sameorigin-or-deny 0
    X-Frame-Options DENY or SAMEORIGIN
x-frame-options-allow-from-origin 0
    X-Frame-Options ALLOW-FROM
x-frame-options-not-implemented -20
    no X-Frame-Options or frame-ancestors
x-frame-options-header-invalid -20
    X-Frame-Options not recognised (or sent twice)
corp-header-invalid -5
    Cross-Origin-Resource-Policy not recognised
corp-implemented-with-cross-origin 0
    CORP cross-origin
corp-implemented-with-same-origin 10
    CORP same-origin
corp-implemented-with-same-site 10
    CORP same-site
corp-not-implemented 0
    no Cross-Origin-Resource-Policy
html-not-parseable -20
    claims to be HTML but cannot be parsed
"""
#: result code -> (score modifier, what it means). Modifiers are the Observatory's.
SCORE_TABLE: dict[str, tuple[int, str]] = {
    head.split()[0]: (int(head.split()[1]), text.strip())
    for head, text in zip(*[iter(_SCORE_ROWS.strip().splitlines())] * 2, strict=True)
}

#: test name -> how to reach its best result with headerware's configuration.
FIXES: dict[str, str] = {
    "content-security-policy": (
        "SecurityHeaders/CSP: keep the default policy (default-src 'none' or 'self', scripts"
        " by per-request nonce, object-src 'none', base-uri 'none', form-action 'self',"
        " frame-ancestors 'none'); never add 'unsafe-inline'/'unsafe-eval' or http: sources."
    ),
    "cookies": (
        "CookiePolicy: keep secure='auto' behind HTTPS (or secure=True), httponly=True and"
        " samesite='Lax'; don't put session/login cookies in the HttpOnly allow-list."
    ),
    "cross-origin-resource-sharing": (
        "CORS: list exact allow_origins; never reflect arbitrary origins with allow_credentials."
    ),
    "redirection": "SecurityHeaders: https_redirect=True (exempt health checks if needed).",
    "referrer-policy": (
        "SecurityHeaders: referrer_policy='strict-origin-when-cross-origin' or 'no-referrer'."
    ),
    "strict-transport-security": (
        "SecurityHeaders: hsts_max_age >= 15552000 (one year: 31536000) with"
        " include_subdomains; serve over HTTPS or trust the proxy (proxy hops) so it is sent."
    ),
    "subresource-integrity": (
        "Add integrity='sha384-...' and crossorigin='anonymous' to external <script> tags and"
        " load them over https: (the CSP hash helper computes the digest)."
    ),
    "x-content-type-options": "SecurityHeaders: x_content_type_options='nosniff' (on by default).",
    "x-frame-options": (
        "SecurityHeaders/CSP: frame-ancestors 'none' (or 'self') earns the bonus;"
        " x_frame_options='DENY' covers old browsers."
    ),
    "cross-origin-resource-policy": (
        "SecurityHeaders: cross_origin_resource_policy='same-origin' (or 'same-site')."
    ),
}


#: Bonuses a configuration change can earn (HSTS preload and SRI depend on more than config).
_REACHABLE_BONUS = {
    "content-security-policy": 10,
    "cookies": 5,
    "referrer-policy": 5,
    "x-frame-options": 5,
    "cross-origin-resource-policy": 10,
}


def _is_finding(test: TestResult) -> bool:
    if not test.evaluated:
        return False
    if not test.passed:
        return True
    if test.result == "cookies-not-found":
        return False
    return test.score_modifier < _REACHABLE_BONUS.get(test.name, 0)


@dataclass(frozen=True)
class TestResult:
    """One Observatory test: result code, pass, modifier, meaning and the headerware fix."""

    __test__ = False  # not a pytest test class

    name: str
    result: str | None
    passed: bool | None
    score_modifier: int
    description: str
    fix: str
    evaluated: bool = True
    note: str = ""
    data: Any = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "evaluated": self.evaluated,
            "result": self.result,
            "pass": self.passed,
            "score_modifier": self.score_modifier,
            "description": self.description,
            "fix": self.fix,
            "note": self.note,
            "data": self.data,
        }


@dataclass(frozen=True)
class AuditResult:
    """The Observatory grade of one response."""

    url: str
    status: int
    score: int
    grade: str
    tests: list[TestResult] = field(default_factory=list)

    def test(self, name: str) -> TestResult:
        """The result of the test called ``name`` (e.g. ``"cookies"``)."""
        for t in self.tests:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def not_evaluated(self) -> list[str]:
        """Names of the tests that could not be evaluated from here."""
        return [t.name for t in self.tests if not t.evaluated]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict (``json.dumps(result.to_json())``)."""
        evaluated = [t for t in self.tests if t.evaluated]
        return {
            "url": self.url,
            "status": self.status,
            "score": self.score,
            "grade": self.grade,
            "algorithm": "mdn-http-observatory 1.4.8",
            "tests_passed": sum(1 for t in evaluated if t.passed),
            "tests_failed": sum(1 for t in evaluated if not t.passed),
            "not_evaluated": self.not_evaluated,
            "tests": {t.name: t.to_json() for t in self.tests},
        }

    def render_table(self) -> str:
        """A readable report: one row per test, then how to fix each finding."""
        lines = [f"{self.url}  [{self.status}]  score {self.score}  grade {self.grade}"]
        width = max(len(t.name) for t in self.tests) if self.tests else 10
        for t in self.tests:
            if not t.evaluated:
                mark, mod = " -- ", "   "
            else:
                mark = "pass" if t.passed else "FAIL"
                mod = f"{t.score_modifier:+d}" if t.score_modifier else " 0"
            lines.append(f"  {mark}  {mod:>4}  {t.name:<{width}}  {t.description}")
        findings = [t for t in self.tests if _is_finding(t)]
        if findings:
            lines.append("  To improve:")
            for t in findings:
                lines.append(f"    {t.name}: {t.fix}")
        skipped = [t for t in self.tests if not t.evaluated]
        if skipped:
            lines.append("  Not evaluated:")
            for t in skipped:
                lines.append(f"    {t.name}: {t.note}")
        notes = [t for t in self.tests if t.evaluated and t.note]
        for t in notes:
            lines.append(f"  Note ({t.name}): {t.note}")
        return "\n".join(lines)


def grade_for_score(score: int) -> str:
    """The Observatory's grade for a final score."""
    key = min(max(score, 0) - max(score, 0) % 5, 100)
    for floor, grade in _GRADE_FLOORS:
        if key >= floor:
            return grade
    return "F"


def grade_at_least(grade: str, minimum: str) -> bool:
    """True when ``grade`` is as good as ``minimum`` or better (``--fail-under``)."""
    for value, option in ((grade, "grade"), (minimum, "minimum")):
        if value not in GRADES:
            raise ValueError(f"{option}={value!r} is not a grade; use one of {', '.join(GRADES)}")
    return GRADES.index(grade) <= GRADES.index(minimum)


def grade_response(
    url: str,
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    https: bool,
    cors_headers: Sequence[tuple[str, str]] | None = None,
    https_available: bool | None = None,
) -> AuditResult:
    """Grade one response like the Observatory (pure, no I/O).

    ``https``: the response was fetched over HTTPS. ``cors_headers``: headers of
    the answer to the Observatory's CORS preflight (None: no answer).
    ``https_available=False`` declares that the site has no HTTPS at all (graded
    ``hsts-not-implemented-no-https`` as the Observatory would); by default an
    HTTP-only audit leaves HSTS not evaluated.
    """
    parts = urlsplit(url)
    observation = observe(
        https=https,
        hostname=(parts.hostname or "localhost").lower(),
        path=parts.path or "/",
        headers=headers,
        body=body,
        cors_headers=cors_headers,
        https_available=https_available,
    )
    tests: list[TestResult] = []
    with_bonus = uncurved = 100
    for outcome in run_tests(observation):
        if outcome.result is None:
            tests.append(
                TestResult(
                    outcome.name, None, None, 0, "not evaluated", FIXES[outcome.name],
                    evaluated=False, note=outcome.note,
                )
            )  # fmt: skip
            continue
        modifier, description = SCORE_TABLE[outcome.result]
        with_bonus += modifier
        if modifier < 0:
            uncurved += modifier
        tests.append(
            TestResult(
                outcome.name, outcome.result, outcome.passed, modifier, description,
                FIXES[outcome.name], note=outcome.note, data=outcome.data,
            )
        )  # fmt: skip
    score = with_bonus if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved
    score = max(score, 0)
    return AuditResult(url, status, score, grade_for_score(score), tests)


def _status_code(status: str) -> int:
    return int(status.split(" ", 1)[0])


def audit_app(
    app: Any,
    paths: Sequence[str] = ("/",),
    *,
    https: bool = True,
    host: str = "localhost",
) -> list[AuditResult]:
    """Request ``paths`` from the WSGI ``app`` in-process (WebTest) and grade each.

    Like the Observatory: a GET with a browser Accept header, then the CORS
    preflight to the same path. ``https=True`` sends the requests as HTTPS.
    """
    import webtest  # type: ignore[import-untyped]  # dev dependency: only needed for in-process audits

    scheme = "https" if https else "http"
    client = webtest.TestApp(
        app, extra_environ={"wsgi.url_scheme": scheme, "HTTP_HOST": host}, lint=False
    )
    results = []
    for path in paths:
        url = f"{scheme}://{host}{path}"
        response = client.get(
            path,
            headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
            expect_errors=True,
        )
        preflight = client.options(
            path,
            headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
            expect_errors=True,
        )
        results.append(
            grade_response(
                url,
                _status_code(response.status),
                list(response.headerlist),
                response.body,
                https=https,
                cors_headers=list(preflight.headerlist),
            )
        )
    return results


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _fetch(
    url: str, method: str, headers: dict[str, str], timeout: float
) -> tuple[int, list[tuple[str, str]], bytes]:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, list(response.getheaders()), response.read()
    except urllib.error.HTTPError as error:  # 3xx/4xx/5xx still carry headers
        with error:
            return error.code, list(error.headers.items()), error.read()


def audit_url(
    base_url: str, paths: Sequence[str] = ("/",), *, timeout: float = 10.0
) -> list[AuditResult]:
    """Request ``paths`` under ``base_url`` (a server on this machine) and grade each."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url={base_url!r}: give an http:// or https:// URL with a host")
    results = []
    for path in paths:
        url = urljoin(base_url, path)
        status, headers, body = _fetch(
            url,
            "GET",
            {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
            timeout,
        )
        try:
            _, cors, _ = _fetch(
                url,
                "OPTIONS",
                {"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
                timeout,
            )
            cors_headers: list[tuple[str, str]] | None = cors
        except OSError:
            cors_headers = None
        results.append(
            grade_response(
                url, status, headers, body, https=parts.scheme == "https", cors_headers=cors_headers
            )
        )
    return results


def results_to_json(results: Sequence[AuditResult]) -> str:
    """Several results as one JSON document (``--json``)."""
    return json.dumps([r.to_json() for r in results], indent=2, sort_keys=False)
