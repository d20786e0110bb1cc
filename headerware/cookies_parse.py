"""Strict parsing of the request's ``Cookie`` header.

The engine parses the header once per request (``ctx.cookies``) and every layer
shares the result. The rules, and why:

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

What the application sees is the cleaned header (:meth:`RequestCookies.to_header`:
well-formed pairs, first occurrence of each name, request order). Layers that change
the cookies call :func:`apply_cookies`, which rewrites ``environ["HTTP_COOKIE"]`` and
the shared parse together, so Flask's ``request.cookies``, Django's
``request.COOKIES`` and a bare app's own parse all agree with headerware. The
header as the client sent it is kept under ``headerware.cookies.orig``.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterator, KeysView, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Context

__all__ = ["ORIG_ENVIRON_KEY", "RequestCookies", "apply_cookies", "parse_request_cookies"]

#: The environ key holding the ``Cookie`` header as the client sent it.
ORIG_ENVIRON_KEY = "headerware.cookies.orig"

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
        values = self._values
        if len(values) == len(self.pairs):
            return "; ".join(f"{name}={value}" for name, value in self.pairs)
        return "; ".join(f"{name}={value}" for name, value in values.items())


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


def apply_cookies(ctx: Context, cookies: RequestCookies) -> None:
    """Make ``cookies`` what the application sees: ``HTTP_COOKIE`` and ``ctx.cookies``.

    The client's original header is kept once under ``headerware.cookies.orig``.
    """
    environ = ctx.environ
    if ORIG_ENVIRON_KEY not in environ:
        environ[ORIG_ENVIRON_KEY] = environ.get("HTTP_COOKIE", "")
    header = cookies.to_header()
    if header:
        environ["HTTP_COOKIE"] = header
    else:
        environ.pop("HTTP_COOKIE", None)
    ctx.set_cookies(cookies)
