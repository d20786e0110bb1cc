"""Per-route rules: path patterns that override, extend or disable layers.

A route is a path pattern plus per-layer settings. In a configuration::

    [[routes]]
    path = "/api/*"                    # or a list of patterns
    [routes.csp]                       # override options of a layer for these paths
    directives = { default-src = ["'none'"], frame-ancestors = ["'none'"] }
    [routes.cors]                      # extend: a layer only these paths get
    allow_origins = ["https://app.example.com"]

    [[routes]]
    path = "/legacy/*"
    report_only = true                 # every enforcing layer only logs here
    csp = { enabled = false }          # disable a layer for these paths

Patterns
    ``/data`` matches exactly that path. A pattern ending in ``*`` matches every path
    starting with what comes before the star; ``/api/*`` also matches ``/api`` itself.
    ``/*`` matches everything. ``*`` anywhere else is an error. Matching is
    case-sensitive, on the request's full path (``SCRIPT_NAME`` + ``PATH_INFO``) after
    normalisation (``//`` collapsed, ``.`` and ``..`` segments resolved), so
    ``/public/../admin/x`` gets the ``/admin/*`` rules.

Precedence (deterministic, independent of the order routes are written in)
    An exact pattern beats every ``*`` pattern; among ``*`` patterns the longer literal
    prefix wins. All patterns matching one path are nested, so a request takes the
    settings of every matching route applied from the least to the most specific: an
    option set by both ``/api/*`` and ``/api/admin/*`` takes the latter's value, an
    option only ``/api/*`` sets still applies under ``/api/admin/``. The same pattern
    written twice is a start-up error.

Report-only precedence, most specific first: ``report_only`` in a route's layer table,
the route's own ``report_only``, ``report_only`` in the global layer table, the global
``[headerware] report_only``.

Everything is resolved at start-up: one engine chain (tuple of hooks) is precomputed
per route, and a request costs one dict lookup plus, when no exact pattern matches, one
``startswith`` per ``*`` pattern. Layer instances whose effective options a route does
not change are shared with the global stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["PathPattern", "PathRouter", "normalize_path"]

T = TypeVar("T")


def normalize_path(path: str) -> str:
    """``path`` with ``//`` collapsed and ``.``/``..`` segments resolved (never above ``/``)."""
    if not path:
        return "/"
    if "//" not in path and "/." not in path:
        return path
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    out = "/" + "/".join(segments)
    if out != "/" and (path.endswith("/") or path.endswith("/.") or path.endswith("/..")):
        out += "/"
    return out


class PathPattern:
    """One route pattern: exact (``/data``) or prefix (``/api/*``)."""

    __slots__ = ("base", "exact", "prefix", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.startswith("/"):
            raise ValueError(f"path pattern {text!r} must start with '/', e.g. '/api/*'")
        if "*" in text[:-1]:
            raise ValueError(
                f"path pattern {text!r}: '*' is only allowed at the end, e.g. '/api/*'"
            )
        if any(char in text for char in "?#") or any(ord(char) < 0x21 for char in text):
            raise ValueError(
                f"path pattern {text!r} contains a query, fragment, space or control "
                "character; give the path only"
            )
        if normalize_path(text.rstrip("*") or "/") != (text.rstrip("*") or "/"):
            raise ValueError(
                f"path pattern {text!r} is not normalised (no '//', '.' or '..' segments); "
                "requests are matched on the normalised path"
            )
        self.text = text
        self.exact: str | None = None
        self.prefix: str | None = None
        #: For ``/api/*``: ``/api``, the directory itself, which the pattern also matches.
        self.base: str | None = None
        if text.endswith("*"):
            self.prefix = text[:-1]
            if len(self.prefix) > 1 and self.prefix.endswith("/"):
                self.base = self.prefix[:-1]
        else:
            self.exact = text

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: exact patterns first, then longer literal prefixes."""
        if self.exact is not None:
            return (1, len(self.exact))
        assert self.prefix is not None
        return (0, len(self.prefix))

    def matches(self, path: str) -> bool:
        """True when the (normalised) ``path`` is matched by this pattern."""
        if self.exact is not None:
            return path == self.exact
        assert self.prefix is not None
        return path.startswith(self.prefix) or path == self.base

    def covers(self, other: PathPattern) -> bool:
        """True when every path ``other`` matches is also matched by this pattern."""
        if other.exact is not None:
            return self.matches(other.exact)
        if self.exact is not None:
            return False
        assert self.prefix is not None and other.prefix is not None
        if not other.prefix.startswith(self.prefix):
            return False
        return other.base is None or self.matches(other.base)

    def __repr__(self) -> str:
        return f"PathPattern({self.text!r})"


class PathRouter(Generic[T]):
    """Selects the value of the most specific pattern matching a path."""

    __slots__ = ("_exact", "_prefixes", "patterns")

    def __init__(self, entries: Sequence[tuple[str, T]]) -> None:
        exact: dict[str, T] = {}
        bases: dict[str, tuple[int, T]] = {}
        prefixes: list[tuple[str, T]] = []
        seen: set[str] = set()
        patterns: list[PathPattern] = []
        for text, value in entries:
            pattern = PathPattern(text)
            if text in seen:
                raise ValueError(f"path pattern {text!r} is given twice; merge the two routes")
            seen.add(text)
            patterns.append(pattern)
            if pattern.exact is not None:
                exact[pattern.exact] = value
            else:
                assert pattern.prefix is not None
                prefixes.append((pattern.prefix, value))
                if pattern.base is not None:
                    bases[pattern.base] = (len(pattern.prefix), value)
        for base, (_, value) in bases.items():
            exact.setdefault(base, value)
        prefixes.sort(key=lambda item: len(item[0]), reverse=True)
        self._exact = exact
        self._prefixes = tuple(prefixes)
        self.patterns = tuple(patterns)

    def match(self, path: str) -> T | None:
        """The value of the most specific pattern matching ``path``, or ``None``."""
        path = normalize_path(path)
        value = self._exact.get(path)
        if value is not None:
            return value
        for prefix, candidate in self._prefixes:
            if path.startswith(prefix):
                return candidate
        return None
