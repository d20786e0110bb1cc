"""The one ``Set-Cookie`` model: parse, rewrite and render a header value faithfully.

werkzeug's ``dump_cookie`` builds a header from options but nothing in werkzeug
parses one back; layers that rewrite what an application (or a framework) already
wrote need a faithful round trip: the attributes keep their order and spelling,
unknown ones (``Priority``, ``SameParty``, ...) are kept verbatim, and only the
attributes a layer touches change. Attribute names compare case-insensitively, as
browsers do (RFC 6265bis section 5.6); only space and horizontal tab are trimmed.

Every part of headerware that reads or writes a ``Set-Cookie`` uses
:class:`SetCookie`: the cookie policy and signing layers, sessions, and the
testing kit's browser jar (which adds only the browser's storage rules on top)::

    cookie = SetCookie.parse("sid=abc; Path=/; HttpOnly")
    cookie.set("SameSite", "Lax")
    cookie.render()            # 'sid=abc; Path=/; HttpOnly; SameSite=Lax'
    SetCookie.build("sid", "abc", max_age=3600, path="/", httponly=True).render()
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from werkzeug.http import parse_date

if TYPE_CHECKING:
    from .core.layer import ResponseHead

__all__ = ["SetCookie", "replace_set_cookies"]

_WS = " \t"
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}

Attributes = list[tuple[str, "str | None"]]


def _split(header: str) -> tuple[str, str, str]:
    """``(name, value, tail)``; ``tail`` is everything from the first ``;`` on.

    ``name`` is ``""`` when the pair has no ``=`` (a nameless cookie).
    """
    head, semi, rest = header.partition(";")
    tail = semi + rest
    name, eq, value = head.partition("=")
    if not eq:
        return "", head.strip(_WS), tail
    return name.strip(_WS), value.strip(_WS), tail


def _attributes(tail: str) -> Attributes:
    """The attributes of a ``Set-Cookie`` tail (``"; Path=/; Secure"``), in order."""
    attrs: Attributes = []
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


def replace_set_cookies(response: ResponseHead, values: Sequence[str | None]) -> None:
    """Put ``values`` in place of the response's ``Set-Cookie`` headers, one for one
    and in order (``None`` drops that header); every other header stays where it is.

    ``values`` lines up with ``response.get_all("set-cookie")``.
    """
    pending = iter(values)
    rebuilt: list[tuple[str, str]] = []
    for key, value in response.headers:
        if len(key) == 10 and key.lower() == "set-cookie":
            new = next(pending)
            if new is not None:
                rebuilt.append((key, new))
        else:
            rebuilt.append((key, value))
    response.replace_all(rebuilt)


class SetCookie:
    """One ``Set-Cookie`` header: ``name``, ``value`` and its attribute list.

    ``attrs`` holds ``(name as written, value or None for a flag)`` in order.
    """

    __slots__ = ("attrs", "name", "value")

    def __init__(self, name: str, value: str, attrs: Attributes | None = None) -> None:
        self.name = name
        self.value = value
        self.attrs: Attributes = attrs if attrs is not None else []

    @classmethod
    def parse(cls, header: str) -> SetCookie:
        """Parse a header value; never raises (``name`` is ``""`` for a nameless pair)."""
        name, value, tail = _split(header)
        return cls(name, value, _attributes(tail))

    @staticmethod
    def split(header: str) -> tuple[str, str, str]:
        """``(name, value, tail)`` of a header value, the attributes left unparsed:
        ``tail`` is everything from the first ``;`` on, verbatim (``""`` when none).

        For layers that look at the name first and parse the attributes only for the
        cookies they change (:meth:`from_parts`); ``name`` is ``""`` when the pair has
        no ``=`` (a nameless cookie), only space and tab are trimmed.
        """
        return _split(header)

    @classmethod
    def from_parts(cls, name: str, value: str, tail: str) -> SetCookie:
        """The cookie of a :meth:`split` header: ``tail``'s attributes parsed, in order."""
        return cls(name, value, _attributes(tail))

    @classmethod
    def build(
        cls,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        expires: str | None = None,
        path: str | None = None,
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        partitioned: bool = False,
    ) -> SetCookie:
        """A new cookie with the given attributes, in the conventional order.

        ``expires`` is an HTTP date (``werkzeug.http.http_date``); values are not
        quoted or checked: callers pass cookie-safe strings.
        """
        attrs: Attributes = []
        if max_age is not None:
            attrs.append(("Max-Age", str(max_age)))
        if expires is not None:
            attrs.append(("Expires", expires))
        if path is not None:
            attrs.append(("Path", path))
        if domain is not None:
            attrs.append(("Domain", domain))
        if secure:
            attrs.append(("Secure", None))
        if httponly:
            attrs.append(("HttpOnly", None))
        if samesite is not None:
            attrs.append(("SameSite", samesite))
        if partitioned:
            attrs.append(("Partitioned", None))
        return cls(name, value, attrs)

    # --- attributes ----------------------------------------------------------------

    def has(self, key: str) -> bool:
        """True when the attribute ``key`` is present (any case)."""
        key = key.lower()
        return any(name.lower() == key for name, _ in self.attrs)

    def get(self, key: str) -> str | None:
        """The value of the last ``key`` attribute (browsers use the last), or ``None``.

        A flag (``Secure``) reads as ``""``.
        """
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
        kept: Attributes = []
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

    # --- what the attributes mean ----------------------------------------------------

    @property
    def secure(self) -> bool:
        """True when ``Secure`` is present."""
        return self.has("secure")

    @property
    def httponly(self) -> bool:
        """True when ``HttpOnly`` is present."""
        return self.has("httponly")

    @property
    def partitioned(self) -> bool:
        """True when ``Partitioned`` (CHIPS) is present."""
        return self.has("partitioned")

    @property
    def samesite(self) -> str | None:
        """``"Strict"``, ``"Lax"`` or ``"None"`` (any case written), another value as
        written, or ``None`` when absent or empty."""
        value = self.get("samesite")
        if not value:
            return None
        return _SAMESITE.get(value.lower(), value)

    @property
    def path(self) -> str | None:
        """The ``Path`` attribute as written, or ``None``."""
        return self.get("path")

    @property
    def domain(self) -> str | None:
        """The ``Domain`` attribute as written, or ``None``."""
        return self.get("domain")

    @property
    def max_age(self) -> int | None:
        """``Max-Age`` in seconds, or ``None`` when absent or not a number."""
        value = self.get("max-age")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None

    @property
    def expires(self) -> float | None:
        """``Expires`` as a POSIX timestamp, or ``None`` when absent or not a date."""
        value = self.get("expires")
        if not value:
            return None
        date = parse_date(value)
        return None if date is None else date.timestamp()

    def is_deletion(self, now: float | None = None) -> bool:
        """True when the header deletes the cookie (``Max-Age<=0`` or a past ``Expires``).

        ``Max-Age`` wins over ``Expires``, as in browsers.
        """
        max_age = self.max_age
        if max_age is not None:
            return max_age <= 0
        expires = self.expires
        if expires is not None:
            return expires <= (time.time() if now is None else now)
        return False

    # --- rendering -------------------------------------------------------------------

    def tail(self) -> str:
        """The attributes as written after the pair: ``"; Path=/; Secure"`` (or ``""``)."""
        return "".join(
            f"; {name}" if value is None else f"; {name}={value}" for name, value in self.attrs
        )

    def render(self) -> str:
        """The header value: ``name=value`` then ``; attr[=value]`` for each attribute."""
        return f"{self.name}={self.value}{self.tail()}"

    def __repr__(self) -> str:
        return f"SetCookie({self.name!r}, attrs={self.attrs!r})"
