"""Promoting a CSP from report-only to enforcing, and the check before you do.

The roll-out path (README, "Rolling out a CSP"):

1. try the policy in report-only mode -- ``[csp] report_only = true`` (the whole
   site), a ``[[routes]]`` entry with ``report_only = true`` or a ``[routes.csp]``
   table with ``report_only = true`` (one part of the site), or an enforced
   ``policy`` with the candidate in ``report_only_policy`` next to it;
2. collect the reports, run ``headerware csp suggest --write``;
3. promote: remove ``report_only`` (or move ``report_only_policy`` into
   ``policy``) and run ``headerware check-config FILE [--db PATH]`` first.

:func:`promotion_warnings` is what ``check-config`` adds: for every violation the
report-only policy saw within the window (default 7 days, by ``last_seen``), the
policy that WILL enforce after promotion -- ``report_only_policy`` when it is set,
else ``policy`` -- is checked; what it would still block is listed with the
directive, the blocked origin or keyword and the count. A violation's document
path picks its ``[[routes]]`` entry (the most specific pattern with a ``csp``
table), whose ``csp`` options -- and those of every route covering it -- override
the top-level ones (:class:`headerware.csp_suggest.Scopes`, the same lookup
``csp suggest`` edits by), so a route tried in report-only mode is checked against
its own policy. Reports of the other policies (COOP, COEP, Integrity-Policy) are
not CSP's and are left out. Only warnings: the exit code does not change.

Source matching is the usual subset of CSP 3: ``*`` (network schemes), a scheme
(``https:``), an origin, ``'self'`` (the document's origin), ``*.host`` and a bare
host; ``inline`` needs ``'unsafe-inline'`` with no nonce or hash beside it,
``eval`` needs ``'unsafe-eval'``.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .csp_store import DEFAULT_DB, Violation, escape, read_violations
from .csp_suggest import Scopes, _applied, _policy_of, csp_table

__all__ = ["WINDOW", "check_file", "promotion_warnings"]

WINDOW = 7 * 24 * 3600.0


def _origin_parts(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        if parts.scheme and parts.hostname:
            return parts.scheme.lower(), parts.hostname.lower(), parts.port
    except ValueError:
        pass
    return None


def _matches(source: str, blocked: str, document: str) -> bool:
    """Whether the CSP ``source`` allows the normalised ``blocked`` origin."""
    source = source.lower()
    if source == "'self'":
        doc = _origin_parts(document)
        return doc is not None and _origin_parts(blocked) == doc
    if source.endswith(":") and "/" not in source:
        return blocked.startswith(source) or (source == "http:" and blocked.startswith("https:"))
    target = _origin_parts(blocked)
    if target is None:
        return False
    scheme, host, port = target
    if source == "*":
        return scheme in ("http", "https", "ws", "wss")
    given_scheme, sep, rest = source.partition("://")
    if not sep:
        given_scheme, rest = "", source
    rest = rest.split("/", 1)[0]
    given_host, _, given_port = rest.partition(":")
    if (
        given_scheme
        and given_scheme != scheme
        and not (given_scheme == "http" and scheme == "https")
    ):
        return False
    if given_port not in ("", "*") and given_port != str(port):
        return False
    if given_port == "" and port is not None:
        return False
    if given_host.startswith("*."):
        return host.endswith(given_host[1:])
    return given_host == host


def _blocks(policy: Mapping[str, Any], v: Violation) -> bool:
    directive = _applied(policy, v.directive)
    if directive is None:
        return False
    sources = policy.get(directive)
    if not isinstance(sources, list):
        return False
    lowered = [s.lower() for s in sources]
    if v.blocked == "inline":
        strict = any(s.startswith(("'nonce-", "'sha", "'strict-dynamic'")) for s in lowered)
        return strict or "'unsafe-inline'" not in lowered
    if v.blocked in ("eval", "wasm-eval"):
        return "'unsafe-eval'" not in lowered and "'wasm-unsafe-eval'" not in lowered
    if v.blocked in ("'self'", "about:") or v.blocked.startswith("trusted-types"):
        return False
    return not any(_matches(s, v.blocked, v.document) for s in lowered)


def _enforcing(csp: Mapping[str, Any]) -> tuple[str, dict[str, list[str] | bool]]:
    option = "report_only_policy" if csp.get("report_only_policy") is not None else "policy"
    return option, _policy_of(csp, option)


def promotion_warnings(
    config: Mapping[str, Any],
    violations: Iterable[Violation],
    now: float | None = None,
    window: float = WINDOW,
) -> list[str]:
    """What the policy that will enforce after promotion would block (one line each)."""
    now = time.time() if now is None else now
    scopes = Scopes(config)
    totals: dict[tuple[str, str, str, str], int] = {}
    for v in violations:
        if v.kind != "csp" or v.disposition != "report" or v.last_seen < now - window:
            continue
        found = scopes.lookup(v.document)
        if found is None:
            continue  # no CSP is sent there
        _, pattern, csp = found
        where = "[csp]" if pattern is None else f"route {pattern}"
        option, policy = _enforcing(csp)
        if policy and _blocks(policy, v):
            key = (where, option, v.directive, v.blocked)
            totals[key] = totals.get(key, 0) + v.count
    days = f"{window / 86400:g} days"
    return [
        f"{where} {option} would block {escape(blocked)} under {escape(directive)} "
        f"({count} report-only report(s) in the last {days}); run `headerware csp suggest` "
        "before enforcing"
        for (where, option, directive, blocked), count in sorted(totals.items())
    ]


def check_file(path: str, db: str | None = None, now: float | None = None) -> list[str]:
    """:func:`promotion_warnings` for the TOML file ``path`` and its report store
    (``db``, else the file's ``[csp] report_db``, else ``headerware-csp.sqlite3``)."""
    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    if db is None:
        db = str(csp_table(config).get("report_db", DEFAULT_DB))
    return promotion_warnings(config, read_violations(db), now)
