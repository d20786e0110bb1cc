"""Parse and render one ``Set-Cookie`` header value without losing anything.

werkzeug's ``dump_cookie`` builds a header from options but nothing in werkzeug
parses one back; layers that rewrite what an application (or a framework) already
wrote need a faithful round trip: the attributes keep their order and spelling,
unknown ones (``Priority``, ``SameParty``, ...) are kept verbatim, and only the
attributes a layer touches change. Attribute names compare case-insensitively, as
browsers do (RFC 6265bis section 5.6).
"""

from __future__ import annotations

import time

from werkzeug.http import parse_date

__all__ = ["SetCookie", "split_set_cookie"]

_WS = " \t"


def split_set_cookie(header: str) -> tuple[str, str, str]:
    """``(name, value, tail)``; ``tail`` is everything from the first ``;`` on.

    ``name`` is ``""`` when the pair has no ``=`` (a nameless cookie).
    """
    head, _, rest = header.partition(";")
    tail = ";" + rest if _ else ""
    name, eq, value = head.partition("=")
    if not eq:
        return "", head.strip(_WS), tail
    return name.strip(_WS), value.strip(_WS), tail


class SetCookie:
    """One ``Set-Cookie`` header: ``name``, ``value`` and its attribute list.

    ``attrs`` holds ``(name as written, value or None for a flag)`` in order.
    """

    __slots__ = ("attrs", "name", "value")

    def __init__(self, name: str, value: str, attrs: list[tuple[str, str | None]]) -> None:
        self.name = name
        self.value = value
        self.attrs = attrs

    @classmethod
    def parse(cls, header: str) -> SetCookie:
        """Parse a header value; never raises (``name`` is ``""`` for a nameless pair)."""
        name, value, tail = split_set_cookie(header)
        return cls(name, value, parse_attributes(tail))

    def _index(self, key: str) -> int:
        key = key.lower()
        for index, (name, _) in enumerate(self.attrs):
            if name.lower() == key:
                return index
        return -1

    def has(self, key: str) -> bool:
        """True when the attribute ``key`` is present (any case)."""
        return self._index(key) >= 0

    def get(self, key: str) -> str | None:
        """The value of the last ``key`` attribute (browsers use the last), or ``None``."""
        key = key.lower()
        found: str | None = None
        for name, value in self.attrs:
            if name.lower() == key:
                found = value if value is not None else ""
        return found

    def set(self, key: str, value: str | None = None) -> None:
        """Set ``key`` (a flag when ``value`` is ``None``) in place of the first one
        present, dropping any later repeats; append it when absent."""
        lower = key.lower()
        kept: list[tuple[str, str | None]] = []
        placed = False
        for name, old in self.attrs:
            if name.lower() == lower:
                if not placed:
                    kept.append((name, value))
                    placed = True
            else:
                kept.append((name, old))
        if not placed:
            kept.append((key, value))
        self.attrs = kept

    def remove(self, key: str) -> bool:
        """Remove every ``key`` attribute; True when there was one."""
        lower = key.lower()
        kept = [(name, value) for name, value in self.attrs if name.lower() != lower]
        removed = len(kept) != len(self.attrs)
        self.attrs = kept
        return removed

    def is_deletion(self, now: float | None = None) -> bool:
        """True when the header deletes the cookie (``Max-Age<=0`` or a past ``Expires``).

        ``Max-Age`` wins over ``Expires``, as in browsers.
        """
        max_age = self.get("max-age")
        if max_age is not None:
            try:
                return int(max_age) <= 0
            except ValueError:
                pass
        expires = self.get("expires")
        if expires is not None:
            date = parse_date(expires)
            if date is not None:
                return date.timestamp() <= (time.time() if now is None else now)
        return False

    def render(self) -> str:
        """The header value: ``name=value`` then ``; attr[=value]`` for each attribute."""
        parts = [f"{self.name}={self.value}"]
        for name, value in self.attrs:
            parts.append(name if value is None else f"{name}={value}")
        return "; ".join(parts)


def parse_attributes(tail: str) -> list[tuple[str, str | None]]:
    """The attributes of a ``Set-Cookie`` tail (``"; Path=/; Secure"``), in order."""
    attrs: list[tuple[str, str | None]] = []
    for part in tail.split(";"):
        part = part.strip(_WS)
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.rstrip(_WS)
        if not name:
            continue
        attrs.append((name, value.lstrip(_WS) if eq else None))
    return attrs
