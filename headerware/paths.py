"""The path model: what a path pattern means, in every layer and in the route table.

Patterns
    ``/data``
        exactly ``/data`` (``/data/`` and ``/data/x`` are other paths).
    ``/api/*``
        ``/api`` itself and everything below ``/api/``, on a segment boundary
        (never ``/apifoo``).
    ``/api/``
        the subtree without its root: ``/api/`` and everything below it, but not
        ``/api`` (as a pattern ending in ``/`` means in Go's ``ServeMux``). ``/``
        alone is the exact root path.
    ``/*`` (or ``*``)
        every path.

    A ``*`` anywhere else is a configuration error. Patterns are case-sensitive, as
    paths are. The most specific pattern wins, deterministically: an exact pattern
    beats every subtree pattern, a longer prefix beats a shorter one, and ``/api/``
    beats ``/api/*`` below ``/api/``. The same pattern written twice is refused at
    start-up.

Raw and resolved paths
    Servers percent-decode ``PATH_INFO`` (``%2f`` becomes ``/``) and frameworks route
    on that raw value (werkzeug's ``<path:>`` accepts ``../x``), while a rule about
    ``/admin/*`` is about the resource the path resolves to. A request therefore has
    two paths: the *raw* one (``PATH_INFO`` with repeated slashes merged) and the
    *resolved* one (``.`` and ``..`` segments resolved as well, see
    :func:`normalize_path`). Every layer decides with one of two questions:

    :meth:`PathRules.either` — for a guard (bearer auth, CSRF, a host check):
        it applies when the raw **or** the resolved path matches.
    :meth:`PathRules.agreed` — for anything that makes a request laxer (an
        exemption, a grant, a route with other options, ``report_only``): it
        applies only when raw and resolved path pick the **same** rule.

    Browsers never send dot segments, so for them the two paths are the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Generic, Protocol, TypeVar

from .memo import Memo
from .options import OptionError

__all__ = ["HasPaths", "PathRules", "PathSet", "normalize_path", "raw_view"]

T = TypeVar("T")

_REPEATED_SLASHES = re.compile(r"/{2,}")


class HasPaths(Protocol):
    """What the path model reads of a request (the context has both)."""

    @property
    def raw_path(self) -> str: ...

    @property
    def path(self) -> str: ...


def _normalize(path: str) -> str:
    segments: list[str] = []
    parts = path.split("/")
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if segments:
                segments.pop()
            continue
        segments.append(part)
    normal = "/" + "/".join(segments)
    if segments and parts[-1] in ("", ".", ".."):
        normal += "/"
    return normal


_normalized: Memo[str, str] = Memo("paths.normalize", _normalize, size=2048)


def normalize_path(path: str) -> str:
    """``path`` with repeated slashes merged and ``.``/``..`` segments resolved.

    A trailing slash is kept (``/a/`` and ``/a`` are different routes to most
    applications); ``..`` never climbs above the root.
    """
    if not path:
        return "/"
    if "//" not in path and "/." not in path and path[0] == "/":
        return path  # the common case: already normal
    return _normalized(path)


def raw_view(path: str) -> str:
    """The raw path as patterns see it: repeated slashes merged, nothing resolved."""
    if not path:
        return "/"
    if "//" in path:
        path = _REPEATED_SLASHES.sub("/", path)
    return path if path[0] == "/" else "/" + path


#: Pattern kinds, also their rank among patterns of one prefix length.
_GLOB, _SUBTREE = 0, 1


class PathRules(Generic[T]):
    """Patterns mapped to values; the most specific matching pattern wins.

    Built once at start-up; a lookup is a dict probe for exact patterns and a short
    scan of the prefixes, most specific first.
    """

    __slots__ = ("_exact", "_prefixes", "option", "patterns")

    def __init__(
        self, rules: Mapping[str, T] | Iterable[tuple[str, T]], *, option: str = "paths"
    ) -> None:
        if isinstance(rules, str):
            raise OptionError(option, rules, "give a list of path patterns", f"[{rules!r}]")
        items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
        self.option = option
        exact: dict[str, T] = {}
        prefixes: dict[tuple[str, int], tuple[str, T]] = {}
        for pattern, value in items:
            kind, key = _parse(pattern, option)
            if (key in exact) if kind is None else ((key, kind) in prefixes):
                raise OptionError(
                    option, pattern, f"path pattern {pattern!r} is listed twice", "keep one"
                )
            if kind is None:
                exact[key] = value
            else:
                prefixes[(key, kind)] = (pattern, value)
        self._exact = exact
        ordered = sorted(prefixes.items(), key=lambda item: (len(item[0][0]), item[0][1]))
        self._prefixes = tuple(
            (prefix, kind, pattern, value) for (prefix, kind), (pattern, value) in reversed(ordered)
        )
        self.patterns: tuple[str, ...] = tuple(pattern for pattern, _ in items)

    def lookup(self, path: str) -> tuple[str, T] | None:
        """The winning ``(pattern, value)`` for one path taken as it is, or ``None``."""
        exact = self._exact
        if path in exact:
            return path, exact[path]
        for prefix, kind, pattern, value in self._prefixes:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                if kind == _SUBTREE:
                    # prefix is "/api/": "/api/" and below.
                    return pattern, value
                if not rest or rest[0] == "/" or not prefix:
                    return pattern, value
        return None

    def match(self, path: str, default: T | None = None) -> T | None:
        """The value of the most specific pattern matching one path, else ``default``."""
        found = self.lookup(path)
        return default if found is None else found[1]

    def either(self, request: HasPaths) -> tuple[str, T] | None:
        """For guards: the rule of the resolved path, else of the raw path, else ``None``."""
        found = self.lookup(request.path)
        if found is None:
            found = self.lookup(raw_view(request.raw_path))
        return found

    def agreed(self, request: HasPaths) -> tuple[str, T] | None:
        """For anything laxer: the rule both paths pick, or ``None`` when they differ."""
        resolved = self.lookup(request.path)
        raw = raw_view(request.raw_path)
        if raw == request.path:
            return resolved
        found = self.lookup(raw)
        if found is None or resolved is None or found[0] != resolved[0]:
            return None
        return resolved

    def __bool__(self) -> bool:
        return bool(self._exact or self._prefixes)

    def __repr__(self) -> str:
        return f"PathRules({list(self.patterns)!r})"


class PathSet:
    """A set of patterns, for guards (:meth:`either`) and exemptions (:meth:`both`)."""

    __slots__ = ("_rules", "patterns")

    def __init__(self, patterns: Iterable[str], *, option: str = "paths") -> None:
        if isinstance(patterns, str):
            raise OptionError(
                option, patterns, "give a list of path patterns, not a string", f"[{patterns!r}]"
            )
        self._rules: PathRules[bool] = PathRules([(p, True) for p in patterns], option=option)
        self.patterns = self._rules.patterns

    def matches(self, path: str) -> bool:
        """True when one path, taken as it is, matches a pattern."""
        return self._rules.lookup(path) is not None

    def either(self, request: HasPaths) -> bool:
        """True when the raw or the resolved path matches (a guard applies)."""
        return self._rules.either(request) is not None

    def both(self, request: HasPaths) -> bool:
        """True when the raw and the resolved path both match (an exemption applies)."""
        rules = self._rules
        if rules.lookup(request.path) is None:
            return False
        return rules.lookup(raw_view(request.raw_path)) is not None

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __repr__(self) -> str:
        return f"PathSet({list(self.patterns)!r})"


def _parse(pattern: object, option: str) -> tuple[int | None, str]:
    """``(kind, key)``: kind ``None`` for an exact path, else ``_GLOB``/``_SUBTREE``."""
    if not isinstance(pattern, str):
        raise OptionError(option, pattern, f"path pattern {pattern!r} must be a string", "quote it")
    if pattern in ("*", "/*"):
        return _GLOB, ""
    if not pattern.startswith("/"):
        raise OptionError(
            option, pattern, f"path pattern {pattern!r} must start with '/'", f"write '/{pattern}'"
        )
    body = pattern[:-2] if pattern.endswith("/*") else pattern
    if "*" in body:
        raise OptionError(
            option,
            pattern,
            f"path pattern {pattern!r} has a '*' that is not a final '/*'",
            "use an exact path, '/prefix/*' or '/prefix/'",
        )
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in body):
        raise OptionError(
            option,
            pattern,
            f"path pattern {pattern!r} contains white space or a control character",
            "remove it",
        )
    if normalize_path(body) != body:
        raise OptionError(
            option,
            pattern,
            f"path pattern {pattern!r} is not a normalised path (repeated '/', '.' or '..')",
            f"write {normalize_path(body)!r}",
        )
    if pattern.endswith("/*"):
        return _GLOB, body.rstrip("/")
    if pattern.endswith("/") and pattern != "/":
        return _SUBTREE, pattern
    return None, pattern


def check_pattern(pattern: object, *, option: str = "path") -> str:
    """``pattern`` when it is a valid path pattern; raise :class:`OptionError` if not."""
    _parse(pattern, option)
    assert isinstance(pattern, str)
    return pattern


def pattern_key(pattern: str) -> tuple[int | None, str]:
    """What ``pattern`` matches, so that equivalent spellings (``*``, ``/*``) compare equal."""
    return _parse(pattern, "path")


def covers(outer: str, inner: str) -> bool:
    """True when every path ``inner`` matches is also matched by ``outer``."""
    outer_kind, outer_key = _parse(outer, "path")
    inner_kind, inner_key = _parse(inner, "path")
    if inner_kind is None:
        return PathRules([(outer, True)]).lookup(inner_key) is not None
    if outer_kind is None:
        return False
    # Every path ``inner`` matches starts with ``start`` (its root is ``inner_key``).
    start = inner_key if inner_kind == _SUBTREE else inner_key + "/"
    if outer_kind == _GLOB:
        return not outer_key or start.startswith(outer_key + "/")
    return (inner_kind == _SUBTREE or inner_key != "") and (
        start.startswith(outer_key) and (inner_kind == _SUBTREE or inner_key.startswith(outer_key))
    )
