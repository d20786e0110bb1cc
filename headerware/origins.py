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

Subdomain-pattern and regex results are remembered per distinct ``Origin`` value
in a bounded :class:`~headerware.memo.Memo`; the callable is asked every time.
A configuration mistake raises :class:`~headerware.options.OptionError` naming
the option (``allow_origins`` unless the caller says otherwise).

:func:`request_origin` gives the serialized origin of the request itself (its
scheme and ``Host``), for same-origin checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ._log import logger
from .memo import Memo
from .options import OptionError

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
            raise OptionError(
                option,
                value,
                f"{value!r} has an invalid IPv6 literal",
                "write e.g. '[2001:db8::1]'",
            )
        return host.lower()
    trailing = host.endswith(".")
    labels = (host[:-1] if trailing else host).split(".")
    return ".".join(_ascii_label(label, option, value) for label in labels) + (
        "." if trailing else ""
    )


def _ascii_label(label: str, option: str, value: str) -> str:
    """One host label of a configured origin, lower-case ASCII."""
    if not label:
        raise OptionError(option, value, f"{value!r} has an empty host label", "check the dots")
    if label.isascii():
        ascii_label = label.lower()
    else:
        try:
            ascii_label = label.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise OptionError(
                option,
                value,
                f"{value!r} has a host label that is not valid IDNA ({exc})",
                "check the spelling of the host",
            ) from None
    if _HOST_LABEL.match(ascii_label) is None:
        raise OptionError(
            option,
            value,
            f"{value!r} has an invalid character in the host",
            "write the origin as scheme://host[:port]",
        )
    return ascii_label


def _split_host_port(rest: str, option: str, value: str) -> tuple[str, str | None]:
    """``(host, port)`` of the part after ``scheme://`` (port ``None`` when absent)."""
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise OptionError(
                option, value, f"{value!r} has an unclosed IPv6 literal", "close it with ']'"
            )
        host, tail = rest[: end + 1], rest[end + 1 :]
        if not tail:
            return host, None
        if not tail.startswith(":"):
            raise OptionError(
                option, value, f"{value!r} has text after the IPv6 literal", "remove it"
            )
        return host, tail[1:]
    if ":" in rest:
        host, port = rest.rsplit(":", 1)
        return host, port
    return rest, None


def _check_rest(rest: str, option: str, value: str) -> None:
    """Refuse a path, query, fragment or user info after ``scheme://``."""
    if rest.endswith("/") and "/" not in rest[:-1]:
        raise OptionError(
            option,
            value,
            f"{value!r} ends with a slash; an origin has no path",
            f"write {value.rstrip('/')!r}",
        )
    for char, what in (("/", "a path"), ("?", "a query"), ("#", "a fragment"), ("@", "user info")):
        if char in rest:
            raise OptionError(
                option, value, f"{value!r} has {what}", "an origin is scheme://host[:port] only"
            )


def canonical_origin(value: str, *, option: str = "allow_origins") -> str:
    """The serialized form of a configured origin; :class:`OptionError` naming the fix.

    ``null`` stays ``null``. Refused: no scheme, a path, query, fragment or
    trailing slash, user info, white space or control characters, a bad port.
    """
    if not isinstance(value, str):
        raise OptionError(
            option, value, f"{value!r} must be a string", "write e.g. 'https://app.example.com'"
        )
    if value == "null":
        return value
    if value != value.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise OptionError(
            option, value, f"{value!r} contains white space or a control character", "remove it"
        )
    match = _CONFIG.match(value)
    if match is None:
        raise OptionError(
            option,
            value,
            f"{value!r} has no scheme",
            f"write the full origin, e.g. 'https://{value}'",
        )
    scheme = match["scheme"].lower()
    rest = match["rest"]
    _check_rest(rest, option, value)
    host, port = _split_host_port(rest, option, value)
    if not host:
        raise OptionError(option, value, f"{value!r} has no host", "write scheme://host[:port]")
    ascii_host = _ascii_host(host, option, value)
    port_number: int | None = None
    if port is not None:
        if not port.isdigit() or not port.isascii() or not 0 < int(port) <= 65535:
            raise OptionError(
                option, value, f"{value!r} has an invalid port {port!r}", "use 1 to 65535"
            )
        port_number = int(port)
        if port_number == DEFAULT_PORTS.get(scheme):
            port_number = None
    return f"{scheme}://{ascii_host}" + (f":{port_number}" if port_number else "")


def request_origin(scheme: str, host: str) -> str | None:
    """The serialized origin of a request with this scheme and ``Host``, or ``None``.

    Give the request's own ``ctx.scheme`` and ``ctx.host`` (as the server, and
    proxy trust, set them); ``None`` when they do not form a valid origin.
    """
    try:
        return canonical_origin(f"{scheme.lower()}://{host}", option="Host")
    except OptionError:
        return None


class OriginMatcher:
    """A precomputed decision: is this request ``Origin`` allowed?

    ``allows(origin)`` is a set lookup for exact origins; subdomain patterns and
    regexes run only on a strictly parsed origin, and their results are
    remembered per distinct ``Origin`` string in a bounded memo.
    """

    __slots__ = (
        "_func",
        "_pattern_memo",
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
            raise OptionError(
                option, origins, "give a list of origins, not one string", f"write [{origins!r}]"
            )
        self.option = option
        self._split_origins(origins, option)
        sources = [regex] if isinstance(regex, str | re.Pattern) else regex
        self._regexes = tuple(_compile_regex(pattern, option) for pattern in sources)
        if func is not None and not callable(func):
            raise OptionError(
                option, func, f"the origin function {func!r} is not callable", "pass a function"
            )
        self._func = func
        self._pattern_memo: Memo[str, bool] = Memo(
            "origins.patterns", self._match_patterns, size=1024, max_key_length=512
        )

    def _split_origins(self, origins: Iterable[str], option: str) -> None:
        """Sort the configured entries into ``*``, exact origins and subdomain patterns."""
        exact: set[str] = set()
        wildcards: list[tuple[str, str, int | None]] = []
        patterns: list[str] = []
        allow_all = False
        for entry in origins:
            if entry == "*":
                allow_all = True
            elif isinstance(entry, str) and "*" in entry:
                wildcards.append(_parse_wildcard(entry, option))
                patterns.append(entry)
            else:
                exact.add(canonical_origin(entry, option=option))
        if allow_all and (exact or wildcards):
            raise OptionError(
                option,
                origins,
                "'*' allows every origin",
                "list '*' alone or only specific origins",
            )
        self.allow_all = allow_all
        self.exact = frozenset(exact)
        self.patterns = tuple(patterns)
        self._wildcards = tuple(wildcards)

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
        if (self._wildcards or self._regexes) and self._pattern_memo(origin):
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
        raise OptionError(
            option, entry, f"{entry!r} is not a subdomain pattern", "write 'https://*.example.com'"
        )
    if not rest.startswith("*.") or "*" in rest[2:]:
        raise OptionError(
            option,
            entry,
            f"{entry!r} cannot be anchored; '*' may only stand for whole leading labels",
            "write e.g. 'https://*.example.com' (use allow_origin_regex for anything else)",
        )
    # Normalise the fixed part through the exact-origin rules (case, IDNA, ports).
    base = canonical_origin(f"{scheme}://{rest[2:]}", option=option)
    parsed = parse_origin(base)
    if parsed is None:  # pragma: no cover - canonical_origin output always parses
        raise OptionError(option, entry, f"{entry!r} is not a valid origin pattern")
    b_scheme, host, port = parsed
    if host.startswith("[") or host.replace(".", "").isdigit():
        raise OptionError(
            option, entry, f"{entry!r}: an IP address has no subdomains", "list the address itself"
        )
    if host.count(".") < 1:
        raise OptionError(
            option,
            entry,
            f"{entry!r} covers a whole top-level domain",
            "name the registrable domain, e.g. 'https://*.example.com'",
        )
    return b_scheme, "." + host, port


def _compile_regex(pattern: str | re.Pattern[str], option: str) -> re.Pattern[str]:
    source = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
    if not isinstance(source, str):
        raise OptionError(option, pattern, f"regex {pattern!r} must be a str pattern", "quote it")
    try:
        compiled = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    except re.error as exc:
        raise OptionError(
            option, source, f"regex {source!r} does not compile: {exc}", "fix the pattern"
        ) from None
    loose = _LOOSE_DOT.search(source)
    if loose is not None:
        raise OptionError(
            option,
            source,
            f"regex {source!r} has an unescaped '.' (position {loose.start()}), which "
            "matches any character",
            "write '\\.' for a literal dot",
        )
    for canary in _CANARIES:
        if compiled.fullmatch(canary):
            raise OptionError(
                option,
                source,
                f"regex {source!r} matches arbitrary origins such as {canary!r}",
                "anchor the scheme and host, e.g. r'https://[a-z0-9-]+\\.example\\.com'",
            )
    return compiled
