"""Observatory-compatible audit of an application's headers and cookies.

``headerware audit`` grades responses the way the MDN HTTP Observatory's npm
package ``@mdn/mdn-http-observatory`` 1.4.8 does: the same tests, result codes,
score modifiers, base score 100, extra credit only when the score without
bonuses is at least 90, and the same grade chart. Tests that need the public
network (HTTP->HTTPS redirection, the HSTS preload list, certificates) are
reported as "not evaluated", never guessed.

Public API (used by ``headerware.cli``):

``grade_response(url, status, headers, body, *, https, ...) -> AuditResult``
    Pure function, no I/O.
``audit_app(app, paths=("/",), *, https=True) -> list[AuditResult]``
    In-process through WebTest.
``audit_url(base_url, paths=("/",)) -> list[AuditResult]``
    Over HTTP for a URL on this machine.
``grade_at_least(grade, minimum) -> bool``
    ``--fail-under`` semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GRADES",
    "AuditResult",
    "TestResult",
    "audit_app",
    "audit_url",
    "grade_at_least",
    "grade_response",
]

#: Grades from best to worst.
GRADES = ("A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F")


@dataclass(frozen=True)
class TestResult:
    """One Observatory test: its result code, modifier and the headerware fix."""

    name: str
    result: str
    passed: bool | None
    score_modifier: int
    description: str
    fix: str
    evaluated: bool = True
    data: Any = None


@dataclass(frozen=True)
class AuditResult:
    """The grade of one response."""

    url: str
    status: int
    score: int
    grade: str
    tests: list[TestResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def render_table(self) -> str:
        raise NotImplementedError


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
    """Grade one response (no I/O)."""
    raise NotImplementedError


def audit_app(app: Any, paths: Sequence[str] = ("/",), *, https: bool = True) -> list[AuditResult]:
    """Request ``paths`` from the WSGI ``app`` in-process and grade each response."""
    raise NotImplementedError


def audit_url(base_url: str, paths: Sequence[str] = ("/",)) -> list[AuditResult]:
    """Request ``paths`` under ``base_url`` over HTTP and grade each response."""
    raise NotImplementedError


def grade_at_least(grade: str, minimum: str) -> bool:
    """True when ``grade`` is as good as ``minimum`` or better (``--fail-under``)."""
    raise NotImplementedError
