"""Cookie names and ``fnmatch`` patterns from configuration (``cookies=["pref_*"]``)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from .options import OptionError

__all__ = ["NameMatcher", "is_pattern"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def is_pattern(entry: str) -> bool:
    """True when ``entry`` is an ``fnmatch`` pattern rather than an exact name."""
    return any(char in entry for char in "*?[")


class NameMatcher:
    """Cookie names and ``fnmatch`` patterns, matched case-sensitively.

    ``match(name)`` returns the configured entry that matched (the exact name first,
    then the first pattern in order), or ``None``. Every pattern is compiled into one
    regular expression, so a name costs a set probe and at most one regex match.
    """

    __slots__ = ("_exact", "_patterns", "_regex", "entries", "exact")

    def __init__(self, entries: Iterable[str], *, option: str) -> None:
        self.entries: tuple[str, ...] = tuple(entries)
        exact: set[str] = set()
        patterns: list[str] = []
        for entry in self.entries:
            if not isinstance(entry, str) or not entry:
                raise OptionError(
                    option,
                    entry,
                    f"{entry!r} is not a cookie name or pattern",
                    "use strings such as 'session' or 'pref_*'",
                )
            if is_pattern(entry):
                patterns.append(entry)
            elif _TOKEN.match(entry) is None:
                raise OptionError(
                    option,
                    entry,
                    f"{entry!r} is not a valid cookie name",
                    "use letters, digits and !#$%&'*+-.^_`|~ only",
                )
            else:
                exact.add(entry)
        #: The exact (non-pattern) names.
        self.exact: frozenset[str] = frozenset(exact)
        self._patterns = tuple(patterns)
        self._regex = (
            re.compile(
                "|".join(
                    f"(?P<p{index}>{fnmatch.translate(entry)})"
                    for index, entry in enumerate(patterns)
                )
            )
            if patterns
            else None
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def has_patterns(self) -> bool:
        """True when at least one entry is a pattern."""
        return self._regex is not None

    def match(self, name: str) -> str | None:
        """The entry matching ``name``, or ``None``."""
        if name in self.exact:
            return name
        regex = self._regex
        if regex is None:
            return None
        found = regex.match(name)
        if found is None or found.lastgroup is None:
            return None
        return self._patterns[int(found.lastgroup[1:])]
