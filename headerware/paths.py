"""Path patterns: which rule applies to a request path.

Several layers take per-route options (CORS rules, negotiation offers, caching
rules). They all use :class:`PathRules`, so a pattern means the same thing
everywhere:

``/data``
    exactly ``/data`` (``/data/`` and ``/data/x`` are other paths).
``/api/*``
    ``/api`` itself and everything below ``/api/`` — matched on a segment
    boundary, so never ``/apifoo``.
``/*`` (or ``*``)
    every path.

A ``*`` anywhere else is a configuration error. Patterns are case-sensitive (as
paths are) and matched against the request's ``PATH_INFO`` — the path the
application routes on, so a mount prefix in ``SCRIPT_NAME`` is not repeated —
after :func:`normalize_path` has collapsed repeated slashes and resolved ``.`` and
``..`` segments, so ``//api/x`` or ``/static/../api/x`` cannot slip past a rule.

The most specific pattern wins, deterministically: an exact pattern beats any
glob, and a longer glob prefix beats a shorter one. Two patterns can never tie
(a duplicate is refused at start-up).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["PathRules", "normalize_path", "request_path"]

T = TypeVar("T")

_CACHE_LIMIT = 2048


def normalize_path(path: str) -> str:
    """``path`` with repeated slashes collapsed and ``.``/``..`` segments resolved.

    A trailing slash is kept (``/a/`` and ``/a`` are different routes to most
    applications); ``..`` never climbs above the root.
    """
    if not path:
        return "/"
    if "//" not in path and "/." not in path and path[0] == "/":
        return path  # the common case: already normal
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
    last = parts[-1]
    if segments and (last in ("", ".", "..")):
        normal += "/"
    return normal


def request_path(environ: WSGIEnvironment) -> str:
    """The normalised ``PATH_INFO`` of a request, as path patterns see it."""
    return normalize_path(environ.get("PATH_INFO", "") or "/")


class PathRules(Generic[T]):
    """Patterns mapped to values; :meth:`match` finds the most specific one.

    Build once at start-up; lookups are a dict probe for exact patterns and a
    short scan of the glob prefixes, longest first.
    """

    __slots__ = ("_cache", "_exact", "_globs", "_option", "patterns")

    def __init__(
        self, rules: Mapping[str, T] | Iterable[tuple[str, T]], *, option: str = "rules"
    ) -> None:
        items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
        self._option = option
        exact: dict[str, T] = {}
        globs: dict[str, T] = {}
        seen: set[str] = set()
        for pattern, value in items:
            if not isinstance(pattern, str):
                raise ValueError(f"{option}: path pattern {pattern!r} must be a string")
            key = self._parse(pattern)
            if key in seen:
                raise ValueError(
                    f"{option}: path pattern {pattern!r} is listed twice (or as an equivalent "
                    "pattern); keep one"
                )
            seen.add(key)
            if key.endswith("/*"):
                globs[key[:-2]] = value
            else:
                exact[key] = value
        self._exact = exact
        # Longest prefix first: the most specific glob is tried first.
        self._globs = tuple(sorted(globs.items(), key=lambda item: len(item[0]), reverse=True))
        self.patterns: tuple[str, ...] = tuple(pattern for pattern, _ in items)
        # Raw PATH_INFO -> winning (pattern, value); bounded, so unique paths cannot grow it.
        self._cache: dict[str, tuple[str, T] | None] = {}

    def _parse(self, pattern: str) -> str:
        option = self._option
        if pattern in ("*", "/*"):
            return "/*"
        if not pattern.startswith("/"):
            raise ValueError(
                f"{option}: path pattern {pattern!r} must start with '/', e.g. '/{pattern}'"
            )
        body = pattern[:-2] if pattern.endswith("/*") else pattern
        if "*" in body:
            raise ValueError(
                f"{option}: path pattern {pattern!r} has a '*' that is not a final '/*'; "
                "use an exact path or a prefix such as '/api/*'"
            )
        if any(ord(char) < 0x21 or ord(char) == 0x7F for char in body):
            raise ValueError(
                f"{option}: path pattern {pattern!r} contains white space or a control "
                "character; remove it"
            )
        if normalize_path(body) != body:
            raise ValueError(
                f"{option}: path pattern {pattern!r} is not a normalised path (repeated '/', "
                f"'.' or '..'); write {normalize_path(body)!r}"
            )
        if pattern.endswith("/*"):
            # "/api/*": prefix "/api"; the trailing slash, if any, is not part of it.
            prefix = body.rstrip("/")
            return (prefix or "") + "/*"
        return body

    def lookup(self, path: str) -> tuple[str, T] | None:
        """The winning ``(pattern, value)`` for a normalised ``path``, or ``None``."""
        exact = self._exact
        if path in exact:
            return path, exact[path]
        for prefix, value in self._globs:
            if (
                not prefix
                or path == prefix
                or (path.startswith(prefix) and path[len(prefix)] == "/")
            ):
                return prefix + "/*", value
        return None

    def resolve(self, raw_path: str) -> tuple[str, T] | None:
        """:meth:`lookup` for a raw (not yet normalised) path, cached per distinct path."""
        cache = self._cache
        try:
            return cache[raw_path]
        except KeyError:
            pass
        found = self.lookup(normalize_path(raw_path))
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[raw_path] = found
        return found

    def match(self, path: str, default: T | None = None) -> T | None:
        """The value of the most specific pattern matching ``path``, else ``default``."""
        found = self.lookup(path)
        return default if found is None else found[1]

    def match_environ(self, environ: WSGIEnvironment, default: T | None = None) -> T | None:
        """:meth:`match` on the request's normalised ``PATH_INFO``."""
        found = self.resolve(environ.get("PATH_INFO") or "/")
        return default if found is None else found[1]

    def __bool__(self) -> bool:
        return bool(self._exact or self._globs)

    def __repr__(self) -> str:
        return f"PathRules({list(self.patterns)!r})"
