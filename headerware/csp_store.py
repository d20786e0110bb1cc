"""Where the CSP report receiver puts violations: normalised, deduplicated, bounded.

:mod:`headerware.csp_reports` parses a report body into the logged fields; a
:class:`Collector` then decides what of it is kept and hands it to a sink.

Normalisation (:func:`normalise`)
    The blocked resource is reduced to its origin (``https://cdn.example:8443``) or
    keyword: ``inline``, ``eval``, ``wasm-eval``, ``trusted-types-sink``, ``data:``,
    ``blob:``, another scheme as ``scheme:``; the document URL loses its query and
    fragment. Every stored string has control characters escaped (``\\x1b``,
    ``\\u2028``) and is clipped, so nothing a client sends can forge a log line or a
    table row. A violation is ``(kind, directive, blocked, document, disposition)``.

Kinds (the ``kind`` field and column)
    ``csp`` (both report formats), and the other policies that share the
    ``Reporting-Endpoints`` receiver (``application/reports+json`` only): ``coop``
    (``Cross-Origin-Opener-Policy``; the directive is the report's type, e.g.
    ``navigation-to-response``, blocked the other document's origin), ``coep``
    (``Cross-Origin-Embedder-Policy``; the directive is ``corp``, ``navigation`` or
    ``worker-initialization``, blocked the resource's origin) and ``integrity``
    (``Integrity-Policy``, report type ``integrity-violation``; the directive is the
    request's destination, ``script`` or ``style``). A store written by a version
    without kinds is migrated in place on the first write (its rows are ``csp``);
    reading one never writes to it.

Sinks (the ``report_store`` option of the ``csp`` layer)
    ``"sqlite"`` (the default): :class:`SQLiteStore` at ``report_db``
    (``"headerware-csp.sqlite3"``, created on the first report): one row per
    violation with ``count``, ``first_seen`` and ``last_seen``; at most
    ``max_rows`` rows, the least recently seen evicted. ``"log"``:
    :class:`LogSink`, one ``csp_violation_seen`` security event per violation
    (without the store). ``"none"``: nothing beyond the ``csp_violation`` log
    event the receiver always writes. A callable: called with a list of
    :class:`Violation` (anything a user plugs in; its exceptions are logged, never
    answered to the client).

Limits (``report_limits``: a table of these keys, each optional)
    ``per_minute=60``: reports bodies accepted per client address per minute
    (then **429**, nothing stored); ``max_clients=4096``: the addresses
    remembered (the least recent forgotten); ``sample=1.0``: the share of
    accepted bodies kept (``0.1`` keeps one in ten); ``max_rows=10000``: the
    store's bound; ``max_reports=100``: the reports of one body looked at.
"""

from __future__ import annotations

import logging
import random
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from ._log import security_event
from .options import OptionError, positive_int, text

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_LIMITS",
    "KINDS",
    "Collector",
    "LogSink",
    "SQLiteStore",
    "Sink",
    "Violation",
    "escape",
    "normalise",
    "read_violations",
]

DEFAULT_DB = "headerware-csp.sqlite3"
#: The report kinds the receiver keeps (see the module docstring).
KINDS = ("csp", "coop", "coep", "integrity")
DEFAULT_LIMITS: dict[str, int | float] = {
    "per_minute": 60,
    "max_clients": 4096,
    "sample": 1.0,
    "max_rows": 10_000,
    "max_reports": 100,
}
_KEYWORDS = frozenset({"inline", "eval", "wasm-eval", "trusted-types-sink", "trusted-types-policy"})
_LIMIT = 256
_DIRECTIVE = re.compile(r"[a-z][a-z0-9-]{0,63}")


def escape(value: str, limit: int = _LIMIT) -> str:
    """``value`` clipped to ``limit`` characters, every control character escaped."""
    value = value[:limit]
    if value.isprintable():
        return value
    out = []
    for char in value:
        if char.isprintable():
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out)[: limit * 4]


@dataclass(frozen=True)
class Violation:
    """One normalised violation: what was blocked, by which directive, where."""

    directive: str
    blocked: str
    document: str
    disposition: str = "enforce"
    count: int = 1
    first_seen: float = 0.0
    last_seen: float = 0.0
    kind: str = "csp"

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What deduplicates two violations."""
        return (self.kind, self.directive, self.blocked, self.document, self.disposition)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def blocked_source(blocked: str) -> str:
    """The origin or keyword of a blocked-uri / blockedURL."""
    blocked = blocked.strip()
    lowered = blocked.lower()
    if not blocked or lowered in ("inline", "self"):
        return "inline" if lowered != "self" else "'self'"
    if lowered in _KEYWORDS:
        return lowered
    scheme, sep, _ = lowered.partition(":")
    if not sep or not scheme.isascii() or not scheme.replace("+", "").replace("-", "").isalnum():
        return escape(blocked.partition("?")[0], 64)
    if scheme not in ("http", "https", "ws", "wss"):
        return f"{scheme}:"
    try:
        parts = urlsplit(blocked)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"{scheme}:"
    if not host:
        return f"{scheme}:"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def normalise(fields: Mapping[str, Any], now: float) -> Violation | None:
    """A :class:`Violation` from the receiver's fields; ``None`` without a directive."""
    given = fields.get("violated_directive")
    # The name only: CSP2 sends "script-src 'self' ...", and nothing else is a name.
    match = _DIRECTIVE.match(given.strip().lower()) if isinstance(given, str) else None
    if match is None:
        return None
    directive = match.group()
    kind = fields.get("kind", "csp")
    if kind not in KINDS:
        return None
    document = str(fields.get("document_uri") or "")
    document = document.partition("#")[0].partition("?")[0]
    disposition = str(fields.get("disposition") or "enforce").lower()
    if disposition == "reporting":  # COOP and COEP say "reporting" for report-only
        disposition = "report"
    if disposition not in ("enforce", "report"):
        disposition = "enforce"
    blocked = str(fields.get("blocked_uri") or "")
    # An empty blockedURL is inline code in a CSP report; elsewhere it is nothing.
    source = blocked_source(blocked) if blocked or kind == "csp" else "-"
    return Violation(
        directive=directive,
        blocked=escape(source, 128),
        document=escape(document),
        disposition=disposition,
        first_seen=now,
        last_seen=now,
        kind=kind,
    )


# -- sinks -----------------------------------------------------------------------------


class Sink(Protocol):
    """Where violations go: ``sink(violations)``."""

    def __call__(self, violations: list[Violation]) -> None: ...


class LogSink:
    """One ``csp_violation_seen`` security event (INFO) per violation."""

    def __call__(self, violations: list[Violation]) -> None:
        for v in violations:
            security_event(
                "csp_violation_seen",
                level=logging.INFO,
                directive=v.directive,
                blocked=v.blocked,
                document=v.document,
                disposition=v.disposition,
                count=v.count,
                kind=v.kind,
            )


_COLUMNS = "directive, blocked, document, disposition, count, first_seen, last_seen"
_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    directive TEXT NOT NULL, blocked TEXT NOT NULL, document TEXT NOT NULL,
    disposition TEXT NOT NULL, count INTEGER NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL, kind TEXT NOT NULL DEFAULT 'csp',
    PRIMARY KEY (kind, directive, blocked, document, disposition))
"""
_SCHEMA = _TABLE.format(name="violations")
_UPSERT = f"""
INSERT INTO violations ({_COLUMNS}, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, directive, blocked, document, disposition) DO UPDATE SET
    count = count + excluded.count,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen)
"""
_EVICT = """
DELETE FROM violations WHERE rowid IN (
    SELECT rowid FROM violations ORDER BY last_seen ASC, rowid ASC
    LIMIT max(0, (SELECT count(*) FROM violations) - ?))
"""


class SQLiteStore:
    """Violations in an SQLite file, deduplicated, at most ``max_rows`` rows."""

    def __init__(self, path: str, max_rows: int = 10_000) -> None:
        self.path = path
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._migrated = False

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=5)
        connection.execute(_SCHEMA)
        if not self._migrated:
            _migrate(connection)
            self._migrated = True
        return connection

    def __call__(self, violations: list[Violation]) -> None:
        rows = [
            (v.directive, v.blocked, v.document, v.disposition, v.count, v.first_seen, v.last_seen,
             v.kind)
            for v in violations
        ]  # fmt: skip
        with self._lock:
            connection = self._connect()
            try:
                with connection:
                    connection.executemany(_UPSERT, rows)
                    connection.execute(_EVICT, (self.max_rows,))
            finally:
                connection.close()

    def violations(self) -> list[Violation]:
        return read_violations(self.path)


def _columns(connection: sqlite3.Connection) -> set[str]:
    return {row[1] for row in connection.execute("PRAGMA table_info(violations)")}


def _migrate(connection: sqlite3.Connection) -> None:
    """Give a store of the version without kinds its ``kind`` column (rows: ``csp``).

    The key gains the kind, which SQLite cannot add to a table in place: the rows
    are copied into a new table in one ``IMMEDIATE`` transaction (another worker
    migrating at the same time waits, then finds the column and does nothing).
    """
    if "kind" in _columns(connection):
        return
    connection.commit()
    previous = connection.isolation_level
    connection.isolation_level = None  # the transaction below is explicit
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            if "kind" not in _columns(connection):
                connection.execute(_TABLE.format(name="violations_migrating"))
                connection.execute(
                    f"INSERT INTO violations_migrating ({_COLUMNS}, kind) "
                    f"SELECT {_COLUMNS}, 'csp' FROM violations"
                )
                connection.execute("DROP TABLE violations")
                connection.execute("ALTER TABLE violations_migrating RENAME TO violations")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    finally:
        connection.isolation_level = previous


def read_violations(path: str) -> list[Violation]:
    """Every stored violation, most frequent first (``[]`` when there is no file).

    Read-only: a store of the version without kinds is read as it is (all ``csp``).
    """
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    try:
        kind = "kind" if "kind" in _columns(connection) else "'csp'"
        rows = connection.execute(
            f"SELECT {_COLUMNS}, {kind} FROM violations ORDER BY count DESC, last_seen DESC"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()
    return [Violation(*row) for row in rows]


# -- the collector ---------------------------------------------------------------------


class RateLimiter:
    """At most ``per_minute`` hits per key per minute; at most ``max_keys`` keys."""

    def __init__(self, per_minute: int, max_keys: int) -> None:
        self.per_minute = per_minute
        self.max_keys = max_keys
        self._hits: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> bool:
        with self._lock:
            start, count = self._hits.pop(key, (now, 0))
            if now - start >= 60:
                start, count = now, 0
            self._hits[key] = (start, count + 1)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return count < self.per_minute


def _check_limits(value: object) -> dict[str, int | float]:
    if value is None:
        return dict(DEFAULT_LIMITS)
    if not isinstance(value, Mapping) or any(key not in DEFAULT_LIMITS for key in value):
        raise OptionError(
            "report_limits",
            value,
            "must be a table of " + ", ".join(DEFAULT_LIMITS),
            "e.g. { per_minute = 60, sample = 0.5 }",
        )
    limits = {**DEFAULT_LIMITS, **value}
    for key in DEFAULT_LIMITS:
        if key != "sample":
            limits[key] = positive_int("report_limits", limits[key], example="100")
    sample = limits["sample"]
    if isinstance(sample, bool) or not isinstance(sample, int | float) or not 0 < sample <= 1:
        raise OptionError(
            "report_limits", value, f"sample={sample!r} is not a share in (0, 1]", "e.g. 0.1"
        )
    return limits


class Collector:
    """The receiver's policy: rate limit, sampling, normalisation, then the sink."""

    def __init__(
        self, store: object = "sqlite", db: object = DEFAULT_DB, limits: object = None
    ) -> None:
        self.limits = _check_limits(limits)
        self.db = text("report_db", db)
        self.store = store
        self.sink: Sink | None
        if callable(store):
            self.sink = store
        elif store == "sqlite":
            self.sink = SQLiteStore(self.db, int(self.limits["max_rows"]))
        elif store == "log":
            self.sink = LogSink()
        elif store == "none":
            self.sink = None
        else:
            raise OptionError(
                "report_store",
                store,
                f"{store!r} is not a report store",
                'use "sqlite", "log", "none" or a callable taking a list of violations',
            )
        self.max_reports = int(self.limits["max_reports"])
        self._limiter = RateLimiter(int(self.limits["per_minute"]), int(self.limits["max_clients"]))

    def describe(self) -> dict[str, Any]:
        return {"report_store": self.store, "report_db": self.db, "report_limits": self.limits}

    def allow(self, client: str | None, now: float | None = None) -> bool:
        """Whether this client may send another report body now."""
        return self._limiter.allow(client or "-", time.time() if now is None else now)

    def collect(self, reports: Iterable[Mapping[str, Any]], now: float | None = None) -> None:
        """Normalise, deduplicate and store one body's reports (sampled)."""
        if self.sink is None:
            return
        sample = float(self.limits["sample"])
        if sample < 1 and random.random() >= sample:
            return
        now = time.time() if now is None else now
        merged: dict[tuple[str, str, str, str, str], Violation] = {}
        for fields in list(reports)[: self.max_reports]:
            v = normalise(fields, now)
            if v is None:
                continue
            old = merged.get(v.key)
            merged[v.key] = v if old is None else replace(old, count=old.count + 1)
        if not merged:
            return
        try:
            self.sink(list(merged.values()))
        except Exception as exc:  # a broken sink must not answer 500 to browsers
            security_event("csp_report_store_failed", error=escape(repr(exc), 200))
