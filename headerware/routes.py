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

Patterns (the same everywhere in headerware: :mod:`headerware.paths`)
    ``/data`` matches exactly that path. ``/api/*`` matches ``/api`` itself and every
    path below ``/api/`` (on a segment boundary: never ``/apifoo``). ``/*`` matches
    everything. ``*`` anywhere else is an error. Matching is case-sensitive, on the
    request's ``PATH_INFO`` (the path the application routes on) after normalisation
    (``//`` collapsed, ``.`` and ``..`` segments resolved), so ``/public/../admin/x``
    gets the ``/admin/*`` rules.

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
prefix test per ``*`` pattern. Layer instances whose effective options a route does
not change are shared with the global stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from .paths import PathRules, normalize_path

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["PathPattern", "PathRouter", "normalize_path"]

T = TypeVar("T")


class PathPattern:
    """One route pattern, as :class:`headerware.paths.PathRules` reads it."""

    __slots__ = ("exact", "prefix", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise ValueError(f"path pattern {text!r} must be a string, e.g. '/api/*'")
        PathRules([(text, None)], option="path")  # the one place patterns are validated
        self.text = text
        self.exact: str | None = None
        #: For ``/api/*``: ``/api`` (``""`` for ``/*``), matched on a segment boundary.
        self.prefix: str | None = None
        if text in ("*", "/*"):
            self.prefix = ""
        elif text.endswith("/*"):
            self.prefix = text[:-2].rstrip("/")
        else:
            self.exact = text

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: exact patterns above every glob, then longer literal prefixes."""
        if self.exact is not None:
            return (1, len(self.exact))
        assert self.prefix is not None
        return (0, len(self.prefix))

    def matches(self, path: str) -> bool:
        """True when the normalised ``path`` is matched by this pattern."""
        if self.exact is not None:
            return path == self.exact
        prefix = self.prefix
        assert prefix is not None
        return not prefix or path == prefix or path.startswith(prefix + "/")

    def covers(self, other: PathPattern) -> bool:
        """True when every path ``other`` matches is also matched by this pattern."""
        if other.exact is not None:
            return self.matches(other.exact)
        if self.exact is not None:
            return False
        assert other.prefix is not None
        return self.matches(other.prefix) if other.prefix else not self.prefix

    def __repr__(self) -> str:
        return f"PathPattern({self.text!r})"


class PathRouter(Generic[T]):
    """Selects the value of the most specific route for a request (engine helper)."""

    __slots__ = ("_rules",)

    def __init__(self, entries: Sequence[tuple[str, T]]) -> None:
        self._rules: PathRules[T] = PathRules(list(entries), option="routes")

    def match(self, path: str) -> T | None:
        """The value of the most specific pattern matching ``path``, or ``None``."""
        return self._rules.match(normalize_path(path))

    def match_environ(self, environ: WSGIEnvironment) -> T | None:
        """:meth:`match` on the request's normalised ``PATH_INFO``."""
        return self._rules.match_environ(environ)
