r"""Origins: strict parsing, normalisation and matching (used by CORS and CSRF).

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
- regular expressions, matched with ``fullmatch`` against the serialized origin.
  Refused at start-up: patterns that match arbitrary origins, that contain an
  unescaped ``.`` between host characters, or that can match *past the end of
  their host* other than an optional port — ``https://(www\.)?example\.com.*``
  also matches ``https://example.com.evil.example``. The last check reads the
  pattern itself (no test strings, no private ``re`` internals): every
  alternative must end with a fixed host end — written out literally, starting on
  a label boundary and naming a whole domain (``example\.com``, not ``\.com``, not
  ``[a-z]*example\.com``), or the whole host — followed by nothing that can match
  more than ``:`` and digits (``(:\d+)?``, ``:8443``). Anchors, ``\b`` and
  lookarounds are ignored, which can only widen what the check assumes the pattern
  matches, so an accepted pattern is safe; back-references, conditionals and
  verbose mode are refused as not checkable. Write subdomains as a prefix
  (``https://([a-z0-9-]+\.)?example\.com``);
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
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

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
        """The configuration in the shape the constructor takes: ``origins`` (exact
        origins normalised, then the subdomain patterns as given), ``regex`` (the
        sources) and ``func`` (the callable itself, or ``None``)."""
        return {
            "origins": ["*"] if self.allow_all else sorted(self.exact) + list(self.patterns),
            "regex": [regex.pattern for regex in self._regexes],
            "func": self._func,
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
    problem = _host_end_problem(source, compiled.flags)
    if problem is not None:
        raise OptionError(
            option,
            source,
            f"regex {source!r} may match origins past the end of its host ({problem}); "
            "e.g. '.*' after the host also matches 'https://example.com.evil.example'",
            "end the pattern with the escaped host name, optionally followed by a port: "
            "r'https://([a-z0-9-]+\\.)?example\\.com(:\\d+)?'",
        )
    return compiled


# -- regexes: the host must end where the pattern says --------------------------------
#
# A pattern is read into a small tree: _Chars (one character out of a set; ``None``
# for a set too large to list: ``.``, ``\w``, ``\S``, a negated class), _Alt
# (alternatives, each a sequence) and _Rep (a repetition). Anchors, ``\b`` and
# lookarounds are dropped: that only widens what the tree matches, so a pattern the
# check accepts is safe. Constructs it cannot reason about are refused.


class _Chars(NamedTuple):
    chars: frozenset[str] | None


class _Alt(NamedTuple):
    branches: tuple[tuple[_Node, ...], ...]


class _Rep(NamedTuple):
    item: _Node
    low: int
    high: int | None


_Node = _Chars | _Alt | _Rep

_DIGITS = frozenset("0123456789")
_COLON = frozenset(":")
#: What may stand right before a fixed host end for it to start on a label boundary.
_BOUNDARY = frozenset("./")
_BRACES = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class _Unverifiable(Exception):
    """A construct the host-end check cannot reason about (the message names it)."""


class _RegexReader:
    """A reader of the ``re`` syntax (the pattern already compiled) into the tree."""

    def __init__(self, source: str) -> None:
        self.text = source
        self.pos = 0

    def parse(self) -> _Alt:
        tree = self._alternation()
        if self.pos != len(self.text):  # pragma: no cover - re.compile refused it already
            raise _Unverifiable("an unbalanced ')'")
        return tree

    def _peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def _next(self) -> str:
        char = self._peek()
        self.pos += 1
        return char

    def _alternation(self) -> _Alt:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._sequence())
        return _Alt(tuple(branches))

    def _sequence(self) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self._peek() not in ("", "|", ")"):
            atom = self._atom()
            repeated = self._quantified(atom if atom is not None else _Alt(((),)))
            if atom is not None:
                items.append(repeated)
        return tuple(items)

    def _atom(self) -> _Node | None:
        char = self._next()
        if char == "(":
            return self._group()
        if char == "[":
            return _Chars(self._class())
        if char == ".":
            return _Chars(None)
        if char in "^$":
            return None
        if char == "\\":
            return self._escape()
        return _Chars(frozenset(char))

    def _escape(self) -> _Chars | None:
        char = self._next()
        if char in "AZbB":
            return None
        if char == "d":
            return _Chars(_DIGITS)
        if char in "DwWsS":
            return _Chars(None)
        return _Chars(frozenset(self._escaped(char)))

    def _escaped(self, char: str) -> str:
        """The character an escape (``\\x41``, ``\\n``, ``\\.``) stands for."""
        if char.isdigit() or char in "gN":
            raise _Unverifiable("a back-reference or named character")
        if char in _HEX_ESCAPES:
            width = _HEX_ESCAPES[char]
            digits = self.text[self.pos : self.pos + width]
            self.pos += width
            return chr(int(digits, 16))
        return _CONTROL_ESCAPES.get(char, char)

    def _class(self) -> frozenset[str] | None:
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        chars: set[str] = set()
        wide = negated
        first = True
        while True:
            char = self._next()
            if not char:  # pragma: no cover - re.compile refused it already
                raise _Unverifiable("an unclosed '['")
            if char == "]" and not first:
                break
            first = False
            if char == "\\":
                escape = self._next()
                if escape == "d":
                    chars |= _DIGITS
                    continue
                if escape in "DwWsS":
                    wide = True
                    continue
                char = self._escaped(escape)
            if self._peek() == "-" and self._peek(1) not in ("]", ""):
                self.pos += 1
                high = self._next()
                if high == "\\":
                    high = self._escaped(self._next())
                if ord(high) - ord(char) > 256:
                    wide = True
                else:
                    chars.update(chr(code) for code in range(ord(char), ord(high) + 1))
            else:
                chars.add(char)
        return None if wide else frozenset(chars)

    def _group(self) -> _Node | None:
        zero_width = False
        if self._peek() == "?":
            self.pos += 1
            kind = self._next()
            if kind in "=!" or (kind == "<" and self._peek() in "=!"):
                zero_width = True  # a lookaround: dropped (only widens the match)
                self.pos += kind == "<"
            elif kind in "P<" and self._peek() != "=":
                self.pos = self.text.index(">", self.pos) + 1  # a named group
            elif kind == "#":
                self.pos = self.text.index(")", self.pos) + 1
                return None
            elif kind in "P(":
                raise _Unverifiable("a back-reference or conditional")
            elif kind not in ":>":  # inline flags: (?i) for the pattern, (?i:...) a group
                ends = [i for i in (self.text.find(":", self.pos), self.text.find(")", self.pos))]
                end = min(i for i in ends if i >= 0)
                flags, self.pos = self.text[self.pos - 1 : end], end + 1
                if "x" in flags:
                    raise _Unverifiable("verbose mode")
                if self.text[end] == ")":
                    return None
        tree = self._alternation()
        self.pos += 1  # the closing ")"
        return None if zero_width else tree

    def _quantified(self, atom: _Node) -> _Node:
        char = self._peek()
        if char in ("*", "+", "?"):
            self.pos += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        else:
            braces = _BRACES.match(self.text, self.pos) if char == "{" else None
            if braces is None or not (braces[1] or braces[2]):
                return atom
            self.pos = braces.end()
            low = int(braces[1] or 0)
            high = int(braces[1]) if not braces[2] else int(braces[3]) if braces[3] else None
        if self._peek() in ("?", "+"):
            self.pos += 1  # lazy or possessive: the same strings
        return _Rep(atom, low, high)


def _flatten(items: Sequence[_Node]) -> list[_Node]:
    """The sequence with single-branch groups opened up."""
    flat: list[_Node] = []
    for item in items:
        if isinstance(item, _Alt) and len(item.branches) == 1:
            flat.extend(_flatten(item.branches[0]))
        else:
            flat.append(item)
    return flat


def _port_states(items: Sequence[_Node], states: frozenset[int]) -> frozenset[int] | None:
    """Run ``items`` over the automaton of ``(:[0-9]+)?`` (state 0: nothing yet, 1:
    after the colon); ``None`` if some string they match leaves it."""
    for item in items:
        reached: set[int] = set()
        if isinstance(item, _Chars):
            for state in states:
                allowed = _COLON if state == 0 else _DIGITS
                if item.chars is None or not item.chars <= allowed:
                    return None
                reached.add(1)
        elif isinstance(item, _Alt):
            for branch in item.branches:
                ends = _port_states(branch, states)
                if ends is None:
                    return None
                reached |= ends
        else:
            # Two states settle after two rounds, so four rounds cover every count.
            low, high = min(item.low, 3), 4 if item.high is None else min(item.high, 4)
            current = states
            reached = set(states) if low == 0 else set()
            for count in range(1, high + 1):
                ends = _port_states((item.item,), current)
                if ends is None:
                    return None
                current = ends
                if count >= low:
                    reached |= current
        states = frozenset(reached)
    return states


def _last_chars(items: Sequence[_Node]) -> tuple[frozenset[str] | None, bool]:
    """The characters a match of ``items`` can end with (``None``: any) and whether
    it can be empty."""
    chars: set[str] = set()
    for item in reversed(items):
        if isinstance(item, _Chars):
            if item.chars is None:
                return None, False
            ends, nullable = item.chars, False
        elif isinstance(item, _Alt):
            nullable = False
            found: set[str] = set()
            for branch in item.branches:
                branch_ends, branch_nullable = _last_chars(branch)
                if branch_ends is None:
                    return None, False
                found |= branch_ends
                nullable = nullable or branch_nullable
            ends = frozenset(found)
        else:
            item_ends, item_nullable = _last_chars((item.item,))
            if item_ends is None:
                return None, False
            ends, nullable = item_ends, item_nullable or item.low == 0
        chars |= ends
        if not nullable:
            return frozenset(chars), False
    return frozenset(chars), True


def _literal(item: _Node) -> str | None:
    """The one character ``item`` matches, or ``None``."""
    if isinstance(item, _Chars) and item.chars is not None and len(item.chars) == 1:
        return next(iter(item.chars))
    return None


def _branch_problem(items: list[_Node], budget: list[int]) -> str | None:
    """Why this sequence may match past its host (``None``: its host end is fixed)."""
    tail = next(
        j for j in range(len(items) + 1) if _port_states(items[j:], frozenset({0})) is not None
    )
    start = tail
    fixed = ""
    while start and (char := _literal(items[start - 1])) is not None:
        fixed = char + fixed
        start -= 1
    before = items[:start]
    if before and isinstance(before[-1], _Alt):  # alternatives right before: each in turn
        budget[0] -= len(before[-1].branches)
        if budget[0] < 0:
            return "it has too many alternatives to check"
        for branch in before[-1].branches:
            problem = _branch_problem(_flatten([*before[:-1], *branch, *items[start:]]), budget)
            if problem is not None:
                return problem
        return None
    if not fixed:
        return "its host has no fixed end: what follows the host name can match more than a port"
    host = fixed.rpartition("://")[2]
    if "://" in fixed:
        return None  # the whole host is fixed
    if not fixed.startswith("."):
        ends, _ = _last_chars(before)
        if ends is None or not ends <= _BOUNDARY:
            host = host.partition(".")[2]  # the first label may be longer: not a limit
    labels = host.lstrip(".").removesuffix(".").split(".")
    if len(labels) < 2 or not all(labels):
        return f"its host ends in {fixed!r}, which does not fix a whole domain"
    return None


def _host_end_problem(source: str, flags: int) -> str | None:
    """Why ``source`` may match an origin past the end of its host, ``None`` if not.

    Sound by construction: every branch must end with a fixed host end — after
    ``://``, after a ``.``, or after a part that can only end in ``.`` or ``/``, and
    with at least two labels unless the whole host is fixed — followed by nothing
    that can match more than ``:`` and digits (an optional port).
    """
    if flags & re.VERBOSE:
        return "it is in verbose mode, which cannot be checked"
    try:
        tree = _RegexReader(source).parse()
    except _Unverifiable as exc:
        return f"it uses {exc}, which cannot be checked"
    budget = [64]
    for branch in tree.branches:
        problem = _branch_problem(_flatten(branch), budget)
        if problem is not None:
            return problem
    return None
