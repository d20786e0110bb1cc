"""Strict parsing of the request's ``Cookie`` header.

One pass, linear time. A malformed pair is dropped on its own and the rest kept;
only space and horizontal tab are trimmed (never Unicode white space, so
``\\xa0__Host-x`` is not ``__Host-x``); a pair without a name (``=__Host-x``) is
dropped. When a name repeats, the first occurrence wins — browsers send the cookie
with the longest path first — and the name is recorded in ``duplicates`` so layers
that guard signed or security cookies can treat a conflicting duplicate as
tampering.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f;]")


class RequestCookies(Mapping[str, str]):
    """The request's cookies: first value per name, plus what was dropped or repeated."""

    __slots__ = ("_values", "dropped", "duplicates", "pairs")

    def __init__(
        self,
        pairs: list[tuple[str, str]],
        dropped: int = 0,
        duplicates: frozenset[str] = frozenset(),
    ) -> None:
        #: Every well-formed pair, in request order (duplicates included).
        self.pairs = pairs
        #: How many malformed pairs were dropped.
        self.dropped = dropped
        #: Names that occurred more than once.
        self.duplicates = duplicates
        values: dict[str, str] = {}
        for name, value in pairs:
            values.setdefault(name, value)
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def conflicting(self, name: str) -> bool:
        """True when ``name`` was sent more than once with different values."""
        if name not in self.duplicates:
            return False
        return len({value for key, value in self.pairs if key == name}) > 1

    def to_header(self) -> str:
        """The cleaned ``Cookie`` header: every kept pair, in order."""
        return "; ".join(f"{name}={value}" for name, value in self.pairs)


def parse_request_cookies(header: str) -> RequestCookies:
    """Parse a ``Cookie`` header (a WSGI latin-1 string) strictly; never raises."""
    if not header:
        return RequestCookies([])
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    duplicates: set[str] = set()
    dropped = 0
    for part in header.split(";"):
        part = part.strip(" \t")
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip(" \t")
        value = value.strip(" \t")
        if not sep or not name or _NAME.match(name) is None or _BAD_VALUE.search(value):
            dropped += 1
            continue
        if name in seen:
            duplicates.add(name)
        else:
            seen.add(name)
        pairs.append((name, value))
    return RequestCookies(pairs, dropped, frozenset(duplicates))
