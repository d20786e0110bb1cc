"""The ``headerware csp`` commands: read the collected reports, suggest the policy.

``headerware csp report [--db PATH] [--kind KIND] [--json]``
    What the browsers reported (the ``csp`` layer's receiver with
    ``report_store = "sqlite"``): how often, which policy (``KIND``: ``csp``,
    ``coop``, ``coep``, ``integrity``), which directive (for the other policies:
    the report's type or destination), what was blocked (an origin or
    ``inline``/``eval``/``data:``), on which page, enforced or report-only, first
    and last seen (UTC). ``--kind`` shows one policy; ``--json``: the same as a list.
``headerware csp suggest --config FILE [--db PATH] [--write]``
    The smallest change to the ``[csp]`` policies of FILE that would have allowed
    what was reported, as a unified diff of FILE (a route's own ``[routes.csp]``
    table for the documents under that route), then what is flagged instead of
    allowed (inline code: the nonce or ``hash_inline``; ``eval``: a refactor or an
    explicit ``allow_unsafe``), then advice for the COOP, COEP and Integrity-Policy
    reports (never a CSP change) -- :mod:`headerware.csp_suggest`. ``--write``
    applies the diff to FILE.

``--db`` defaults to the ``report_db`` of FILE's ``[csp]`` table, else
``headerware-csp.sqlite3`` (relative to the current directory, as the server's).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .csp_policy import Policy
from .csp_store import DEFAULT_DB, KINDS, Violation, escape, read_violations
from .csp_suggest import apply, check, csp_table, new_policies, suggest, unified_diff

__all__ = ["add_csp_commands", "render_report"]

_COLUMNS = ("COUNT", "KIND", "DIRECTIVE", "BLOCKED", "DOCUMENT", "MODE", "FIRST SEEN", "LAST SEEN")


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def render_report(violations: list[Violation]) -> str:
    """The violations as an aligned text table."""
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for v in violations:  # escaped again: the store may be older than the receiver
        cells = (str(v.count), v.kind, v.directive, v.blocked, v.document or "-", v.disposition)
        rows.append((*(escape(cell) for cell in cells), _when(v.first_seen), _when(v.last_seen)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def _fail(message: str) -> int:
    print(f"headerware: error: {message}", file=sys.stderr)
    return 1


def _cmd_report(args: argparse.Namespace) -> int:
    db = args.db or DEFAULT_DB
    violations = read_violations(db)
    if args.kind is not None:
        violations = [v for v in violations if v.kind == args.kind]
    if args.json:
        print(json.dumps([v.to_json() for v in violations], indent=2))
    elif not violations:
        print(f"no violations recorded in {db}")
    else:
        print(render_report(violations))
    return 0


def _cmd_suggest(args: argparse.Namespace) -> int:
    path = Path(args.config)
    try:
        text = path.read_text(encoding="utf-8")
        config = check(text)
    except (OSError, ValueError) as exc:
        return _fail(f"{path}: {exc}")
    csp = csp_table(config)
    db = args.db or str(csp.get("report_db", DEFAULT_DB))
    violations = read_violations(db)
    if not violations:
        print(f"no violations recorded in {db}: nothing to suggest")
        return 0
    try:
        suggestion = suggest(config, violations)
        for (scope, option), policy in new_policies(config, suggestion).items():
            allow_unsafe = suggestion.tables.get(scope, csp).get("allow_unsafe", False)
            Policy(policy, allow_unsafe=allow_unsafe, option=f"{scope}.{option}")
        new = apply(text, config, suggestion)
        check(new)
    except ValueError as exc:
        return _fail(f"{path}: cannot apply the suggestion: {exc}")
    diff = unified_diff(text, new, str(path))
    print(diff.rstrip("\n") if diff else "no policy change to suggest")
    if suggestion.flags:
        print("\nflagged, not applied:")
        for message in suggestion.flags:
            print(f"  - {message}")
    if suggestion.advice:
        print("\nother policies (COOP, COEP, Integrity-Policy; not a CSP change):")
        for message in suggestion.advice:
            print(f"  - {message}")
    if args.write and diff:
        path.write_text(new, encoding="utf-8")
        print(f"\nwrote {path}")
    return 0


def add_csp_commands(commands: Any) -> None:
    """Register ``csp report`` and ``csp suggest`` on the CLI's subparsers."""
    csp = commands.add_parser(
        "csp",
        help="read collected CSP reports and suggest the policy",
        description="Read the violations the csp layer's receiver collected and turn them "
        "into the smallest policy change.",
        epilog="examples:\n  headerware csp report --db headerware-csp.sqlite3\n"
        "  headerware csp suggest --config headerware.toml\n"
        "  headerware csp suggest --config headerware.toml --write",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = csp.add_subparsers(dest="csp_command", metavar="COMMAND", required=True)
    report = sub.add_parser("report", help="what was blocked, where, how often, since when")
    report.add_argument("--db", metavar="PATH", help=f"the report store (default {DEFAULT_DB})")
    report.add_argument("--kind", choices=KINDS, help="only this policy's reports")
    report.add_argument("--json", action="store_true", help="print the violations as JSON")
    report.set_defaults(handler=_cmd_report)
    suggest_cmd = sub.add_parser(
        "suggest", help="the smallest policy change that allows what was seen, as a diff"
    )
    suggest_cmd.add_argument("--config", metavar="FILE", required=True, help="TOML configuration")
    suggest_cmd.add_argument("--db", metavar="PATH", help="the report store (default: report_db)")
    suggest_cmd.add_argument("--write", action="store_true", help="apply the change to FILE")
    suggest_cmd.set_defaults(handler=_cmd_suggest)
