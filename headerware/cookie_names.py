"""Cookie names and ``fnmatch`` patterns from configuration (``cookies=["pref_*"]``)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

__all__ = ["NameMatcher"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CACHE_SIZE = 1024


class NameMatcher:
    """Cookie names and ``fnmatch`` patterns, matched case-sensitively.

    ``match(name)`` returns the configured entry that matched (the exact name first,
    then the first pattern in order), or ``None``. Pattern results are cached.
    """

    __slots__ = ("_cache", "_exact", "_patterns", "entries")

    def __init__(self, entries: Iterable[str], *, option: str) -> None:
        self.entries: tuple[str, ...] = tuple(entries)
        exact: set[str] = set()
        patterns: list[tuple[str, re.Pattern[str]]] = []
        for entry in self.entries:
            if not isinstance(entry, str) or not entry:
                raise ValueError(
                    f"{option}: {entry!r} is not a cookie name or pattern; use strings "
                    "such as 'session' or 'pref_*'"
                )
            if any(char in entry for char in "*?["):
                patterns.append((entry, re.compile(fnmatch.translate(entry))))
            elif _TOKEN.match(entry) is None:
                raise ValueError(
                    f"{option}: {entry!r} is not a valid cookie name; use letters, "
                    "digits and !#$%&'*+-.^_`|~ only"
                )
            else:
                exact.add(entry)
        self._exact = frozenset(exact)
        self._patterns = tuple(patterns)
        self._cache: dict[str, str | None] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def match(self, name: str) -> str | None:
        """The entry matching ``name``, or ``None``."""
        if name in self._exact:
            return name
        if not self._patterns:
            return None
        cache = self._cache
        try:
            return cache[name]
        except KeyError:
            pass
        found = None
        for entry, regex in self._patterns:
            if regex.match(name):
                found = entry
                break
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[name] = found
        return found
