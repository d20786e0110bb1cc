"""Origins: strict parsing, normalisation and matching (used by CORS and CSRF).

An origin is ``scheme://host[:port]`` (RFC 6454). Browsers always send it in its
serialized form: lower-case scheme and host, the host in ASCII (IDN as punycode),
no default port, no path, no user info, no white space — or the literal ``null``.

*Configured* origins are normalised to that form at start-up: the host is compared
case-insensitively (``https://App.Example.com`` is ``https://app.example.com``),
default ports are dropped (``https://x:443`` is ``https://x``), a Unicode host is
converted to its ASCII (IDNA) form. A trailing dot is kept: ``https://x.com.`` is a
different origin from ``https://x.com``, as it is to a browser.

A *request* ``Origin`` must already be in serialized form, so the common decision
is one set lookup on the raw header. A value a browser never sends (upper case, an
explicit default port, Unicode, user info, a path, white space, CR/LF) matches
nothing: it is not a browser's origin, and refusing it costs real browsers nothing.

:class:`OriginMatcher` accepts:

- exact origins, and ``null`` only when literally listed;
- ``*`` (any origin; CORS refuses it together with credentials);
- subdomain patterns ``https://*.example.com[:port]``: any host ending in
  ``.example.com`` on a label boundary (any depth), same scheme and port; the bare
  apex ``https://example.com`` is not included unless listed;
- regular expressions, matched with ``fullmatch`` against the serialized origin;
  patterns that match arbitrary origins or contain an unescaped ``.`` between host
  characters are refused at start-up;
- a callable ``func(origin) -> bool`` for dynamic decisions (called with the
  serialized origin; an exception counts as a refusal and is logged).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._log import logger

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "OriginMatcher",
    "canonical_origin",
    "parse_origin",
    "request_origin",
]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

#: A serialized origin as browsers send it: lower-case, ASCII, no default port.
_SERIALIZED = re.compile(
    r"([a-z][a-z0-9+.\-]*)://"
    r"([a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*\.?|\[[0-9a-f:.]+\])"
    r"(?::([1-9][0-9]{0,4}))?\Z"
)
#: A configured origin, any case: checked piece by piece for a precise error.
_CONFIG = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)\Z", re.DOTALL)
_HOST_LABEL = re.compile(r"[a-z0-9_\-]+\Z")
#: An unescaped "." between host characters in a regex: ``app.example`` matches ``appXexample``.
_LOOSE_DOT = re.compile(r"(?<![\\\[])\.(?=[A-Za-z0-9])")
#: Origins no configured regex may match: a pattern matching them matches anything.
_CANARIES = (
    "null",
    "https://headerware-canary.invalid",
    "http://headerware-canary.invalid",
    "https://headerware-canary.invalid:8443",
)
_CACHE_LIMIT = 1024


def parse_origin(value: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of a serialized origin, or ``None`` if it is not one.

    ``port`` is ``None`` for the scheme's default port. ``null`` and anything not
    in the exact form a browser sends give ``None``.
    """
    match = _SERIALIZED.match(value)
    if match is None:
        return None
    scheme, host, port_text = match.groups()
    if host.startswith("["):
        if not _valid_ipv6(host):
            return None
    elif ".." in host or host.startswith("."):
        return None
    port: int | None = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535 or port == DEFAULT_PORTS.get(scheme):
            return None
    return scheme, host, port


def _valid_ipv6(bracketed: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(bracketed[1:-1])
    except ValueError:
        return False
    return True


def _ascii_host(host: str, option: str, value: str) -> str:
    """The lower-case ASCII form of a configured host (IDNA for Unicode labels)."""
    if host.startswith("["):
        if not _valid_ipv6(host.lower()):
            raise ValueError(f"{option}: {value!r} has an invalid IPv6 literal")
        return host.lower()
    trailing = host.endswith(".")
    labels = (host[:-1] if trailing else host).split(".")
    out: list[str] = []
    for label in labels:
        if not label:
            raise ValueError(f"{option}: {value!r} has an empty host label; check the dots")
        if label.isascii():
            ascii_label = label.lower()
        else:
            try:
                ascii_label = label.encode("idna").decode("ascii").lower()
            except UnicodeError as exc:
                raise ValueError(
                    f"{option}: {value!r} has a host label that is not valid IDNA ({exc})"
                ) from None
        if _HOST_LABEL.match(ascii_label) is None:
            raise ValueError(
                f"{option}: {value!r} has an invalid character in the host; write the "
                "origin as scheme://host[:port]"
            )
        out.append(ascii_label)
    return ".".join(out) + ("." if trailing else "")


def canonical_origin(value: str, *, option: str = "allow_origins") -> str:
    """The serialized form of a configured origin; ``ValueError`` naming the fix.

    ``null`` stays ``null``. Refused: no scheme, a path, query, fragment or
    trailing slash, user info, white space or control characters, a bad port.
    """
    if not isinstance(value, str):
        raise ValueError(f"{option}: {value!r} must be a string such as 'https://app.example.com'")
    if value == "null":
        return value
    if value != value.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise ValueError(f"{option}: {value!r} contains white space or a control character")
    match = _CONFIG.match(value)
    if match is None:
        raise ValueError(
            f"{option}: {value!r} has no scheme; write the full origin, e.g. 'https://{value}'"
        )
    scheme = match["scheme"].lower()
    rest = match["rest"]
    if rest.endswith("/") and "/" not in rest[:-1]:
        raise ValueError(
            f"{option}: {value!r} ends with a slash; an origin has no path, write "
            f"{value.rstrip('/')!r}"
        )
    for char, what in (("/", "a path"), ("?", "a query"), ("#", "a fragment"), ("@", "user info")):
        if char in rest:
            raise ValueError(
                f"{option}: {value!r} has {what}; an origin is scheme://host[:port] only"
            )
    host, port = rest, None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ValueError(f"{option}: {value!r} has an unclosed IPv6 literal")
        host, tail = rest[: end + 1], rest[end + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise ValueError(f"{option}: {value!r} has text after the IPv6 literal")
            port = tail[1:]
    elif ":" in rest:
        host, port = rest.rsplit(":", 1)
    if not host:
        raise ValueError(f"{option}: {value!r} has no host")
    ascii_host = _ascii_host(host, option, value)
    port_number: int | None = None
    if port is not None:
        if not port.isdigit() or not port.isascii() or not 0 < int(port) <= 65535:
            raise ValueError(f"{option}: {value!r} has an invalid port {port!r}")
        port_number = int(port)
        if port_number == DEFAULT_PORTS.get(scheme):
            port_number = None
    serialized = f"{scheme}://{ascii_host}" + (f":{port_number}" if port_number else "")
    return serialized


def request_origin(environ: WSGIEnvironment) -> str | None:
    """The serialized origin of the request itself (scheme and Host), or ``None``.

    Uses ``wsgi.url_scheme`` and ``HTTP_HOST`` (or ``SERVER_NAME``/``SERVER_PORT``)
    as the server, and proxy trust, set them.
    """
    scheme = str(environ.get("wsgi.url_scheme", "http")).lower()
    host = environ.get("HTTP_HOST")
    if not host:
        name = environ.get("SERVER_NAME", "")
        port = environ.get("SERVER_PORT", "")
        host = f"{name}:{port}" if port else name
    try:
        return canonical_origin(f"{scheme}://{host}", option="Host")
    except ValueError:
        return None


class OriginMatcher:
    """A precomputed decision: is this request ``Origin`` allowed?

    ``allows(origin)`` is a set lookup for exact origins; subdomain patterns and
    regexes run only on a strictly parsed origin, and their results are cached in
    a bounded dict per distinct ``Origin`` string.
    """

    __slots__ = (
        "_cache",
        "_func",
        "_regexes",
        "_wildcards",
        "allow_all",
        "exact",
        "option",
        "patterns",
    )

    def __init__(
        self,
        origins: Iterable[str] = (),
        *,
        regex: Iterable[str | re.Pattern[str]] = (),
        func: Callable[[str], bool] | None = None,
        option: str = "allow_origins",
    ) -> None:
        if isinstance(origins, str):
            raise ValueError(f"{option}: give a list of origins, not one string: [{origins!r}]")
        self.option = option
        exact: set[str] = set()
        wildcards: list[tuple[str, str, int | None]] = []
        patterns: list[str] = []
        allow_all = False
        for entry in origins:
            if entry == "*":
                allow_all = True
                continue
            if isinstance(entry, str) and "*" in entry:
                wildcards.append(_parse_wildcard(entry, option))
                patterns.append(entry)
                continue
            exact.add(canonical_origin(entry, option=option))
        if allow_all and (exact or wildcards):
            raise ValueError(
                f"{option}: '*' allows every origin; list '*' alone or only specific origins"
            )
        compiled: list[re.Pattern[str]] = []
        for pattern in [regex] if isinstance(regex, (str, re.Pattern)) else regex:
            compiled.append(_compile_regex(pattern, option))
        if func is not None and not callable(func):
            raise ValueError(f"{option}: the origin function {func!r} is not callable")
        self.allow_all = allow_all
        self.exact = frozenset(exact)
        self.patterns = tuple(patterns)
        self._wildcards = tuple(wildcards)
        self._regexes = tuple(compiled)
        self._func = func
        self._cache: dict[str, bool] = {}

    @property
    def dynamic(self) -> bool:
        """True when matching needs more than the exact set (patterns, regex, callable)."""
        return bool(self._wildcards or self._regexes or self._func)

    def allows(self, origin: str) -> bool:
        """True when the request ``Origin`` value is allowed (``*`` allows all)."""
        if origin in self.exact or self.allow_all:
            return True
        if origin == "null":
            return False
        if self._wildcards or self._regexes:
            cached = self._cache.get(origin)
            if cached is None:
                cached = self._match_patterns(origin)
                cache = self._cache
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[origin] = cached
            if cached:
                return True
        func = self._func
        if func is not None and parse_origin(origin) is not None:
            try:
                return bool(func(origin))
            except Exception:
                logger.exception("%s: the origin function raised; origin refused", self.option)
                return False
        return False

    def _match_patterns(self, origin: str) -> bool:
        parsed = parse_origin(origin)
        if parsed is None:
            return False
        scheme, host, port = parsed
        for w_scheme, suffix, w_port in self._wildcards:
            if scheme == w_scheme and port == w_port and host.endswith(suffix):
                return True
        return any(regex.fullmatch(origin) for regex in self._regexes)

    def describe(self) -> dict[str, Any]:
        """The effective configuration."""
        return {
            "origins": ["*"] if self.allow_all else sorted(self.exact),
            "patterns": list(self.patterns),
            "regex": [regex.pattern for regex in self._regexes],
            "func": getattr(self._func, "__qualname__", repr(self._func)) if self._func else None,
        }


def _parse_wildcard(entry: str, option: str) -> tuple[str, str, int | None]:
    """``https://*.example.com[:port]`` -> ``("https", ".example.com", port)``."""
    scheme, sep, rest = entry.partition("://")
    if not sep or "*" in scheme:
        raise ValueError(
            f"{option}: {entry!r} is not a subdomain pattern; write 'https://*.example.com'"
        )
    if not rest.startswith("*.") or "*" in rest[2:]:
        raise ValueError(
            f"{option}: {entry!r} cannot be anchored; '*' may only stand for whole leading "
            "labels, as in 'https://*.example.com' (use allow_origin_regex for anything else)"
        )
    # Normalise the fixed part through the exact-origin rules (case, IDNA, ports).
    base = canonical_origin(f"{scheme}://{rest[2:]}", option=option)
    parsed = parse_origin(base)
    if parsed is None:  # pragma: no cover - canonical_origin output always parses
        raise ValueError(f"{option}: {entry!r} is not a valid origin pattern")
    b_scheme, host, port = parsed
    if host.startswith("[") or host.replace(".", "").isdigit():
        raise ValueError(f"{option}: {entry!r}: an IP address has no subdomains")
    if host.count(".") < 1:
        raise ValueError(
            f"{option}: {entry!r} covers a whole top-level domain; name the registrable "
            "domain, e.g. 'https://*.example.com'"
        )
    return b_scheme, "." + host, port


def _compile_regex(pattern: str | re.Pattern[str], option: str) -> re.Pattern[str]:
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if not isinstance(source, str):
        raise ValueError(f"{option}: regex {pattern!r} must be a str pattern")
    try:
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{option}: regex {source!r} does not compile: {exc}") from None
    loose = _LOOSE_DOT.search(source)
    if loose is not None:
        raise ValueError(
            f"{option}: regex {source!r} has an unescaped '.' (position {loose.start()}), which "
            "matches any character; write '\\.' for a literal dot"
        )
    for canary in _CANARIES:
        if compiled.fullmatch(canary):
            raise ValueError(
                f"{option}: regex {source!r} matches arbitrary origins such as {canary!r}; "
                "anchor the scheme and host, e.g. r'https://[a-z0-9-]+\\.example\\.com'"
            )
    return compiled
