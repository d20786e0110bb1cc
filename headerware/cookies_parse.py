"""Strict parsing of the request's ``Cookie`` header.

The request context parses the header once per request (``ctx.cookies``) and
every layer shares the result. The rules, and why:

- One pass over the header, linear time; never raises, whatever the client sends.
- A malformed pair is dropped on its own and the rest kept: one bad cookie must not
  log the user out of everything else. Malformed means: no ``=``, an empty name
  (``=__Host-x``: browsers would treat the value as a nameless cookie), a name that
  is not an RFC 6265 token, or a value with a control character.
- Only space and horizontal tab are trimmed, never Unicode white space, so
  ``\\xa0__Host-x`` is not ``__Host-x`` (it is dropped: ``\\xa0`` is not a token
  character) and cannot shadow a prefixed cookie.
- When a name repeats, the first occurrence wins - browsers send the cookie with the
  longest path, then the oldest, first - and the name is recorded in ``duplicates``.
  Layers that guard signed or security cookies treat a *conflicting* duplicate
  (:meth:`RequestCookies.conflicting`) as tampering.

The cleaned header is :meth:`RequestCookies.to_header` (well-formed pairs, first
occurrence of each name, request order). Layers that change the cookies, or that
must make sure the application parses only what this parser accepted, call
``ctx.set_cookies(cookies)`` on the request context: it rebuilds the ``Cookie``
header from ``cookies``, so Flask's ``request.cookies``, Django's
``request.COOKIES`` and a bare app's own parse all agree with headerware, and
keeps the header as the client sent it under ``headerware.cookies.orig``.

Parses are shared: a client sends the same header on every request until a cookie
changes, so results are remembered (:class:`headerware.memo.Memo`, bounded; long
headers are parsed every time) and are read-only.

This module knows nothing of contexts or servers (the context imports it).
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterator, KeysView, Mapping
from typing import cast

from .memo import Memo

__all__ = ["RequestCookies", "parse_request_cookies"]

_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f;]")
#: A header every pair of which is well formed and needs no trimming (the usual case):
#: token names, values without white space, control characters or ``;``, "; " between.
_PAIR_SOURCE = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[^\x00-\x20\x7f;]*"
_CLEAN_HEADER = re.compile(rf"{_PAIR_SOURCE}(?:; {_PAIR_SOURCE})*\Z")
_PAIR = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=([^\x00-\x20\x7f;]*)")


class RequestCookies(Mapping[str, str]):
    """The request's cookies: first value per name, plus what was dropped or repeated.

    Read-only: parses are cached and shared between requests (see
    :func:`parse_request_cookies`), so layers build a new object (:meth:`rewrite`)
    rather than change one.
    """

    __slots__ = ("_values", "dropped", "duplicates", "header", "pairs")

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
        #: When known: the header these cookies were parsed from, which is then exactly
        #: :meth:`to_header` (no pair dropped or repeated, nothing trimmed).
        self.header: str | None = None
        values = dict(pairs)
        if len(values) != len(pairs):  # a repeated name: the first occurrence wins
            values = {}
            for name, value in pairs:
                values.setdefault(name, value)
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    # Direct dict views: Mapping's generic versions call __getitem__ per name.
    def __contains__(self, name: object) -> bool:
        return name in self._values

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """The first value of ``name``, or ``default``."""
        return self._values.get(name, default)

    def items(self) -> ItemsView[str, str]:
        """``(name, first value)`` pairs in request order."""
        return self._values.items()

    def keys(self) -> KeysView[str]:
        """The cookie names in request order."""
        return self._values.keys()

    def __repr__(self) -> str:
        return f"<RequestCookies names={list(self._values)!r} dropped={self.dropped}>"

    @property
    def is_clean(self) -> bool:
        """True when the client sent nothing malformed and no name twice."""
        return not self.dropped and not self.duplicates

    def conflicting(self, name: str) -> bool:
        """True when ``name`` was sent more than once with different values."""
        if name not in self.duplicates:
            return False
        return len({value for key, value in self.pairs if key == name}) > 1

    def rewrite(self, changes: Mapping[str, str | None]) -> RequestCookies:
        """A copy with the cookies in ``changes`` replaced (``str``) or removed (``None``).

        A replaced name keeps the position of its first occurrence and loses its
        duplicates; every other pair is kept as it was.
        """
        header = self.header
        if header is not None and all(
            value is not None and ";" not in value for value in changes.values()
        ):
            # Values only: splice them into the known header instead of rebuilding it.
            replaced = cast("Mapping[str, str]", changes)
            spliced = [(name, replaced.get(name, value)) for name, value in self.pairs]
            for name, value in replaced.items():
                header = _splice(header, name, value)
            cookies = RequestCookies(spliced)
            cookies.header = header
            return cookies
        pairs: list[tuple[str, str]] = []
        done: set[str] = set()
        for name, value in self.pairs:
            if name in changes:
                new = changes[name]
                if new is not None and name not in done:
                    pairs.append((name, new))
                done.add(name)
            else:
                pairs.append((name, value))
        return RequestCookies(pairs, self.dropped, self.duplicates - changes.keys())

    def to_header(self) -> str:
        """The cleaned ``Cookie`` header: the first pair of each name, in request order."""
        if self.header is not None:
            return self.header
        values = self._values
        if len(values) == len(self.pairs):
            return "; ".join(f"{name}={value}" for name, value in self.pairs)
        return "; ".join(f"{name}={value}" for name, value in values.items())


def _splice(header: str, name: str, value: str) -> str:
    """``header`` (canonical: pairs joined by "; ", names unique) with ``name``'s value
    replaced. Values hold no ``;`` and names are tokens, so "; name=" only occurs at
    the start of that pair."""
    if header.startswith(name + "="):
        start = len(name) + 1
    else:
        found = header.find("; " + name + "=")
        if found < 0:  # not in the header (never happens for a name of these cookies)
            return header
        start = found + len(name) + 3
    end = header.find(";", start)
    return header[:start] + value + ("" if end < 0 else header[end:])


def parse_request_cookies(header: str) -> RequestCookies:
    """Parse a ``Cookie`` header (a WSGI latin-1 string) strictly; never raises.

    The result is shared by every request that sends the same header: read-only.
    """
    if not header:
        return RequestCookies([])
    return _parsed(header)


def _parse(header: str) -> RequestCookies:
    if _CLEAN_HEADER.match(header) is not None:
        # What browsers send: ``name=value`` pairs joined by "; ", nothing to trim or
        # drop. Two C-level regex passes instead of a Python loop over the pairs.
        pairs: list[tuple[str, str]] = _PAIR.findall(header)
        cookies = RequestCookies(pairs)
        if len(cookies._values) == len(pairs):
            cookies.header = header
            return cookies
    return _parse_pairs(header)


def _parse_pairs(header: str) -> RequestCookies:
    """The general parser: trims, drops malformed pairs, records repeated names."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    duplicates: set[str] = set()
    dropped = 0
    for part in header.split(";"):
        part = part.strip(" \t")
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.rstrip(" \t")
        value = value.lstrip(" \t")
        if not sep or not name or _NAME.match(name) is None or _BAD_VALUE.search(value):
            dropped += 1
            continue
        if name in seen:
            duplicates.add(name)
        else:
            seen.add(name)
        pairs.append((name, value))
    return RequestCookies(pairs, dropped, frozenset(duplicates))


#: Parses by raw header value (a parse is deterministic: a hit is exactly a parse).
_parsed: Memo[str, RequestCookies] = Memo("cookie_parse", _parse, size=512, max_key_length=4096)
