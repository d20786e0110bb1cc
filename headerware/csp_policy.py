"""Content-Security-Policy as Python data: validation, rendering and hashes.

A policy is a mapping of directive names to source lists::

    Policy({
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "img-src": ["'self'", "https://images.example.com"],
        "upgrade-insecure-requests": True,
    })

A source list may be a list/tuple of strings or one whitespace-separated string; a
flag directive (``upgrade-insecure-requests``, an empty ``sandbox``) takes ``True``;
``None`` or ``False`` leaves a directive out, so a copy of a default can drop one:
``{**DEFAULT_POLICY, "img-src": None}``.

Everything is checked when the policy is built, and each mistake is an
:class:`~headerware.options.OptionError` (a ``ValueError``) whose ``option`` is the
layer option holding the policy (``policy``, ``json_policy``, ...; ``option=``
names it) and whose message names the directive, the value and the fix:

- directive names must be known (a did-you-mean is offered; obsolete ones such as
  ``block-all-mixed-content`` are refused with what replaced them);
- keywords, nonces and hashes must be quoted (``self`` is a *host* named "self" to
  a browser; write ``'self'``); unknown quoted keywords are refused; hashes must
  decode to a digest of the right length;
- no whitespace, ``;``, ``,``, control or non-ASCII character inside a value (they
  would split the directive or the policy list);
- ``'none'`` must stand alone; ``frame-ancestors``, ``base-uri`` and ``form-action``
  take only ``'self'``, ``'none'``, hosts and schemes;
- ``'strict-dynamic'`` needs a nonce or hash source in the same directive (or the
  request nonce added by the CSP layer);
- script sources that defeat CSP are refused unless named in ``allow_unsafe``:
  ``'unsafe-inline'``, ``'unsafe-eval'``, ``data:``, ``*``, ``http:``, ``https:``,
  ``http://*``, ``https://*`` in ``script-src``/``script-src-elem``/``script-src-attr``
  (or in ``default-src`` when it is what scripts fall back to), in any spelling:
  the scheme's case, a port (``https://*:443``, ``*:*``) or a path
  (``https://*/``, ``https://*/js/``) do not make a wildcard host any safer, so
  each source is classified by its normalised form (``HTTPS://*:443/`` is
  ``https://*``; ``allow_unsafe`` names the normalised form too). As in browsers and
  in Mozilla's HTTP Observatory, ``'unsafe-inline'`` next to a nonce or hash is
  ignored and so allowed, and with ``'strict-dynamic'`` host and scheme sources are
  ignored and so allowed (the usual backwards-compatible strict policy).
  ``allow_unsafe=True`` accepts every one; ``allow_unsafe=["'unsafe-eval'"]`` only
  the sources named, which keeps the exception visible in the configuration.

:func:`csp_hash` returns the quoted ``'sha256-...'`` source for an inline block.

Amendments (one response's extra sources, from :func:`headerware.view.csp_amend`)
    :func:`check_amendment` validates a view's extra sources for one directive with
    the checks above, and refuses more: only hosts, safe schemes, ``'self'``,
    ``'report-sample'`` and hashes can be added. ``'unsafe-inline'``,
    ``'unsafe-eval'``, ``'unsafe-hashes'``, ``'wasm-unsafe-eval'``,
    ``'strict-dynamic'``, ``'none'``, a fixed nonce and the wildcard sources
    (``*``, ``data:``, ``http:``, ``https:``, ``https://*``) are a ``ValueError``
    in every directive: a view widens a policy by a name, never by a class of
    sources. :func:`amend_policy` returns the policy with the additions: a
    directive the policy lacks is first written out from the one it falls back to
    (``script-src-elem`` from ``script-src``, then ``default-src``; a ``'none'``
    is replaced), and one that falls back to nothing (``form-action`` when unset)
    allows everything already and is left alone.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from .options import OptionError

__all__ = [
    "DEFAULT_POLICY",
    "JSON_POLICY",
    "NONCE_SLOT",
    "Policy",
    "amend_policy",
    "check_allow_unsafe",
    "check_amendment",
    "check_layer_directives",
    "csp_hash",
    "freeze_amendments",
]

#: Marks where the layer splices the request nonce into a rendered policy.
NONCE_SLOT = "\x00"

#: The strict default for HTML documents (nonce added by the layer to script-src and
#: style-src). Earns the Observatory's top CSP result: ``default-src 'none'`` alone,
#: no unsafe sources, every directive it looks at explicit.
DEFAULT_POLICY: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "default-src": ("'none'",),
        "script-src": ("'self'",),
        "style-src": ("'self'",),
        "img-src": ("'self'",),
        "font-src": ("'self'",),
        "connect-src": ("'self'",),
        "manifest-src": ("'self'",),
        "form-action": ("'self'",),
        "base-uri": ("'none'",),
        "frame-ancestors": ("'none'",),
        "object-src": ("'none'",),
    }
)

#: The profile for JSON responses: nothing may load, frame it, or act as its base or
#: form target (the last two keep the Observatory's base-uri/form-action checks clean).
JSON_POLICY: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "default-src": ("'none'",),
        "frame-ancestors": ("'none'",),
        "base-uri": ("'none'",),
        "form-action": ("'none'",),
    }
)

_FETCH = frozenset(
    {
        "child-src",
        "connect-src",
        "default-src",
        "fenced-frame-src",
        "font-src",
        "frame-src",
        "img-src",
        "manifest-src",
        "media-src",
        "object-src",
        "script-src",
        "script-src-attr",
        "script-src-elem",
        "style-src",
        "style-src-attr",
        "style-src-elem",
        "worker-src",
    }
)
#: Navigation/document directives: no nonces, hashes or unsafe keywords mean anything.
_RESTRICTED = frozenset({"base-uri", "form-action", "frame-ancestors"})
_SCRIPT = ("script-src", "script-src-elem", "script-src-attr")
_SANDBOX_TOKENS = frozenset(
    {
        "allow-downloads",
        "allow-forms",
        "allow-modals",
        "allow-orientation-lock",
        "allow-pointer-lock",
        "allow-popups",
        "allow-popups-to-escape-sandbox",
        "allow-presentation",
        "allow-same-origin",
        "allow-scripts",
        "allow-storage-access-by-user-activation",
        "allow-top-navigation",
        "allow-top-navigation-by-user-activation",
        "allow-top-navigation-to-custom-protocols",
    }
)
_OTHER = frozenset(
    {
        "report-to",
        "report-uri",
        "require-trusted-types-for",
        "sandbox",
        "trusted-types",
        "upgrade-insecure-requests",
        "webrtc",
    }
)
KNOWN_DIRECTIVES = _FETCH | _RESTRICTED | _OTHER
_OBSOLETE = {
    "block-all-mixed-content": "it is obsolete; upgrade-insecure-requests covers mixed content",
    "disown-opener": "it was never shipped; use the Cross-Origin-Opener-Policy header",
    "navigate-to": "it was removed from CSP level 3; use form-action and frame-ancestors",
    "plugin-types": "it was removed from CSP; use object-src 'none'",
    "prefetch-src": "it was removed from CSP level 3; default-src no longer covers prefetch",
    "referrer": "it was removed from CSP; use the Referrer-Policy header",
    "reflected-xss": "it was removed from CSP; send X-XSS-Protection: 0 instead",
    "require-sri-for": "it was never shipped; use integrity attributes",
}
KEYWORDS = frozenset(
    {
        "'self'",
        "'none'",
        "'unsafe-inline'",
        "'unsafe-eval'",
        "'strict-dynamic'",
        "'unsafe-hashes'",
        "'report-sample'",
        "'wasm-unsafe-eval'",
        "'inline-speculation-rules'",
    }
)
_BARE_KEYWORDS = frozenset(keyword.strip("'") for keyword in KEYWORDS)
_HASH_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_BASE64 = re.compile(r"[A-Za-z0-9+/\-_]+={0,2}\Z")
_SCHEME_SOURCE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\Z")
_HOST_SOURCE = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9+.\-]*://)?"  # scheme
    r"(?:\*|(?:\*\.)?[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)"  # host, optional leading *.
    r"(?::(?:[0-9]+|\*))?"  # port
    r"(?:/[A-Za-z0-9\-._~%!$&'()*+=:@/]*)?\Z"  # path (no ';' or ',')
)
_TOKEN = re.compile(r"[A-Za-z0-9\-_]+\Z")
_TT_NAME = re.compile(r"[A-Za-z0-9\-#=_/@.%]+\Z")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f;,]|[^\x00-\x7f]")
#: Sources that let an attacker run script from an injection point or any host.
UNSAFE_SCRIPT_SOURCES = frozenset(
    {"'unsafe-inline'", "'unsafe-eval'", "data:", "*", "http:", "https:", "http://*", "https://*"}
)
_NEUTRALISED_BY_STRICT_DYNAMIC = frozenset(
    {"data:", "*", "http:", "https:", "http://*", "https://*"}
)
#: A host source split up: scheme, host, port and path (each may be absent).
_HOST_PARTS = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.\-]*)://)?([^:/]*)(?::([0-9]+|\*))?(/.*)?\Z")


def _unsafe_form(source: str) -> str | None:
    """The member of :data:`UNSAFE_SCRIPT_SOURCES` that ``source`` is spelled as, if any.

    Keywords and schemes compare case-insensitively; a host source whose host is
    ``*`` is a wildcard whatever its port or path (``https://*:443/js/`` lets any
    host serve ``/js/``), so it is classified by its scheme alone.
    """
    lowered = source.lower()
    if lowered in UNSAFE_SCRIPT_SOURCES:
        return lowered
    match = _HOST_PARTS.match(lowered)
    if match is None or match.group(2) != "*":
        return None
    scheme = match.group(1)
    if scheme is None:
        return "*"
    if scheme in ("http", "https"):
        return f"{scheme}://*"
    return None


def csp_hash(script_text: str | bytes, algorithm: str = "sha256") -> str:
    """The quoted hash source (``'sha256-...'``) allowing one exact inline block."""
    if algorithm not in _HASH_SIZES:
        raise ValueError(
            f"csp_hash: algorithm {algorithm!r} is not one CSP accepts; use 'sha256', "
            "'sha384' or 'sha512'"
        )
    data = script_text.encode("utf-8") if isinstance(script_text, str) else script_text
    digest = hashlib.new(algorithm, data).digest()
    return f"'{algorithm}-{base64.b64encode(digest).decode('ascii')}'"


class _Invalid(Exception):
    """A bad directive found while building a policy (it becomes an OptionError)."""

    def __init__(self, problem: str, value: object = None, *, option: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.value = value
        self.option = option


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Policy:
    """A validated CSP: normalised directives, rendered once.

    ``nonce_directives`` names the directives the CSP layer adds the request nonce
    to; the policy materialises an inherited one from ``default-src`` (without
    ``'none'``) and marks each place with :data:`NONCE_SLOT`, so the layer only
    joins precomputed parts around the nonce per request. ``without_nonce`` is the
    policy as given, with no nonce added: what a response that cannot use a nonce
    (a stylesheet, an image, a 304) gets.
    """

    __slots__ = ("allow_unsafe", "directives", "nonced", "parts", "without_nonce")

    def __init__(
        self,
        directives: Mapping[str, Any],
        *,
        allow_unsafe: bool | Iterable[str] = False,
        nonce_directives: Iterable[str] = (),
        option: str = "policy",
    ) -> None:
        if isinstance(directives, Policy):
            directives = directives.directives
        if isinstance(allow_unsafe, str):
            raise OptionError(
                "allow_unsafe",
                allow_unsafe,
                f"{allow_unsafe!r} must be true or a list of sources",
                f"write allow_unsafe=[{allow_unsafe!r}]",
            )
        self.allow_unsafe: bool | frozenset[str] = (
            allow_unsafe
            if isinstance(allow_unsafe, bool)
            else frozenset(_unsafe_form(source) or source for source in allow_unsafe)
        )
        try:
            self._build(directives, tuple(nonce_directives))
        except _Invalid as error:
            raise OptionError(error.option or option, error.value, error.problem) from None

    def _build(self, directives: object, nonce_directives: tuple[str, ...]) -> None:
        if not isinstance(directives, Mapping):
            raise _Invalid(
                "expected a mapping of directive names to source lists, got "
                f"{type(directives).__name__}; e.g. {{'default-src': [\"'none'\"]}}",
                directives,
            )
        normalised: dict[str, tuple[str, ...]] = {}
        for raw_name, value in directives.items():
            name = _check_name(raw_name)
            if name in normalised:
                raise _Invalid(
                    f"directive {name!r} is given twice (names are "
                    "case-insensitive); merge the two source lists",
                    raw_name,
                )
            sources = _check_value(name, value)
            if sources is not None:
                normalised[name] = sources
        if not normalised:
            raise _Invalid(
                "the policy has no directive; start from headerware.csp_policy.DEFAULT_POLICY",
                directives,
            )
        self.directives: Mapping[str, tuple[str, ...]] = MappingProxyType(normalised)
        effective, self.nonced = _add_nonce_slots(normalised, nonce_directives)
        _check_script_safety(effective, self.allow_unsafe)
        self.parts: tuple[str, ...] = tuple(_render(effective).split(NONCE_SLOT))
        self.without_nonce: str = _render(normalised)

    def render(self, nonce: str | None = None) -> str:
        """The header value; ``nonce`` fills the nonce slots (required when there are any)."""
        if len(self.parts) == 1:
            return self.parts[0]
        if nonce is None:
            raise ValueError("this policy carries a per-request nonce; pass nonce=...")
        return nonce.join(self.parts)

    def __repr__(self) -> str:
        return f"Policy({self.render('{nonce}')!r})"


def _render(directives: Mapping[str, tuple[str, ...]]) -> str:
    return "; ".join(
        f"{name} {' '.join(sources)}" if sources else name for name, sources in directives.items()
    )


def _check_name(raw_name: object) -> str:
    if not isinstance(raw_name, str):
        raise _Invalid(f"directive name {raw_name!r} must be a string")
    name = raw_name.strip().lower()
    if name in KNOWN_DIRECTIVES:
        return name
    if name in _OBSOLETE:
        raise _Invalid(f"directive {raw_name!r} is refused: {_OBSOLETE[name]}")
    hint = _did_you_mean(name.replace("_", "-"), KNOWN_DIRECTIVES)
    raise _Invalid(f"unknown CSP directive {raw_name!r}{hint}")


def _as_list(name: str, value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    if not isinstance(value, (list, tuple)):
        raise _Invalid(f"{name}: expected a list of sources, got {type(value).__name__} {value!r}")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _Invalid(f"{name}: source {item!r} must be a string")
        items.append(item)
    return items


def _check_value(name: str, value: object) -> tuple[str, ...] | None:
    """Validate one directive's value; ``None`` means "leave the directive out"."""
    if value is None or value is False:
        return None
    where = name
    if name == "upgrade-insecure-requests":
        if value is True or value == [] or value == ():
            return ()
        raise _Invalid(f"{where}: takes no sources; write True (or None to leave it out)")
    if value is True:
        if name == "sandbox":
            return ()
        raise _Invalid(f"{where}: needs a list of sources, not True")
    items = _as_list(name, value)
    for item in items:
        match = _FORBIDDEN.search(item)
        if match is not None:
            raise _Invalid(
                f"{where}: {item!r} contains {match.group()!r}; a value may not hold "
                "whitespace, ';', ',', control or non-ASCII characters (give one source "
                "per list item; percent-encode or punycode the rest)"
            )
    items = list(dict.fromkeys(items))  # drop repeats, keep order
    if "" in items:
        raise _Invalid(f"{where}: an empty string is not a source; remove it")
    if name == "sandbox":
        for token in items:
            if token.lower() not in _SANDBOX_TOKENS:
                hint = _did_you_mean(token.lower(), _SANDBOX_TOKENS)
                raise _Invalid(f"{where}: unknown sandbox flag {token!r}{hint}")
        return tuple(token.lower() for token in items)
    if not items:
        raise _Invalid(
            f"{where}: an empty list; write [\"'none'\"] to allow nothing, or None to "
            "leave the directive out"
        )
    if name == "report-uri":
        return tuple(items)
    if name in ("report-to", "webrtc"):
        if len(items) != 1 or _TOKEN.match(items[0]) is None:
            raise _Invalid(f"{where}: takes exactly one name (letters, digits, '-', '_')")
        if name == "webrtc" and items[0] not in ("'allow'", "'block'"):
            raise _Invalid(f"{where}: use \"'allow'\" or \"'block'\"")
        return tuple(items)
    if name == "require-trusted-types-for":
        if items != ["'script'"]:
            raise _Invalid(f"{where}: the only value is \"'script'\"")
        return ("'script'",)
    if name == "trusted-types":
        for item in items:
            if item not in ("'none'", "'allow-duplicates'", "*") and not _TT_NAME.match(item):
                raise _Invalid(f"{where}: {item!r} is not a Trusted Types policy name")
        return tuple(items)
    sources = tuple(dict.fromkeys(_check_source(name, item, where) for item in items))
    if "'none'" in sources and len(sources) > 1:
        raise _Invalid(
            f"{where}: \"'none'\" must stand alone (browsers ignore it next to other "
            "sources); remove it or the other sources"
        )
    return sources


def _check_source(name: str, source: str, where: str) -> str:
    lowered = source.lower()
    if source.startswith("'"):
        if lowered in KEYWORDS:
            if name in _RESTRICTED and lowered not in ("'self'", "'none'"):
                raise _Invalid(
                    f"{where}: {source} has no effect in {name}; use 'self', 'none', hosts "
                    "or schemes"
                )
            return lowered
        inner = source[1:-1] if len(source) > 2 and source.endswith("'") else None
        prefix, _, data = (inner or "").partition("-")
        prefix = prefix.lower()
        if inner is not None and (prefix == "nonce" or prefix in _HASH_SIZES):
            if name in _RESTRICTED:
                raise _Invalid(f"{where}: nonces and hashes have no effect in {name}")
            _check_base64(prefix, data, source, where)
            return f"'{prefix}-{data}'"
        hint = _did_you_mean(lowered, KEYWORDS)
        raise _Invalid(f"{where}: unknown keyword {source!r}{hint}")
    if lowered in _BARE_KEYWORDS:
        raise _Invalid(
            f"{where}: {source!r} must be quoted: write \"'{lowered}'\" (unquoted, a "
            "browser reads it as a host name)"
        )
    prefix = lowered.partition("-")[0]
    if prefix == "nonce" or prefix in _HASH_SIZES:
        raise _Invalid(f"{where}: {source!r} must be quoted: write \"'{source}'\"")
    if source.endswith("'") or "'" in source.split("/", 1)[0]:
        raise _Invalid(f"{where}: {source!r} has unbalanced quotes")
    if _SCHEME_SOURCE.match(source):
        return lowered
    if _HOST_SOURCE.match(source):
        return source
    raise _Invalid(
        f"{where}: {source!r} is not a CSP source; use a quoted keyword, a scheme "
        "('https:'), or a host ('https://cdn.example.com', '*.example.com:443')"
    )


def _check_base64(prefix: str, data: str, source: str, where: str) -> None:
    if not _BASE64.match(data):
        raise _Invalid(f"{where}: {source} does not carry a base64 value")
    if prefix == "nonce":
        return
    try:
        padded = data.replace("-", "+").replace("_", "/")
        digest = base64.b64decode(padded + "=" * (-len(padded) % 4), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != _HASH_SIZES[prefix]:
        raise _Invalid(
            f"{where}: {source} is not a base64 {prefix} digest; compute it with "
            "headerware.csp_policy.csp_hash(text)"
        )


_NONCE_BASES = ("script-src", "style-src")
_NONCEABLE = frozenset({"script-src", "style-src", "script-src-elem", "style-src-elem"})


def _add_nonce_slots(
    directives: dict[str, tuple[str, ...]], nonce_directives: tuple[str, ...]
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Directives with a nonce slot added where the layer puts the request nonce."""
    slot = f"'nonce-{NONCE_SLOT}'"
    effective = dict(directives)
    nonced: list[str] = []
    targets: list[str] = []
    for raw in nonce_directives:
        name = raw.lower() if isinstance(raw, str) else raw
        if name not in _NONCEABLE:
            raise _Invalid(
                f"{raw!r} cannot carry a nonce; use script-src, "
                "style-src, script-src-elem or style-src-elem",
                raw,
                option="nonce_directives",
            )
        targets.append(name)
        # A nonce on script-src must also reach script-src-elem when that overrides it.
        if name in _NONCE_BASES and f"{name}-elem" in directives:
            targets.append(f"{name}-elem")
    for name in dict.fromkeys(targets):
        if name in directives:
            if directives[name] == ("'none'",):
                continue  # an explicit 'none' stays: no script/style at all
            effective[name] = (*directives[name], slot)
        elif name in _NONCE_BASES and "default-src" in directives:
            inherited = tuple(s for s in directives["default-src"] if s != "'none'")
            effective[name] = (*inherited, slot)
        else:
            continue  # not restricted at all: a nonce would change nothing
        nonced.append(name)
    if len(effective) != len(directives):
        # Keep materialised directives next to default-src, where a reader looks.
        ordered: dict[str, tuple[str, ...]] = {}
        for name in directives:
            ordered[name] = effective[name]
            if name == "default-src":
                ordered.update((n, effective[n]) for n in effective if n not in directives)
        effective = ordered
    return effective, tuple(nonced)


def _has_nonce_or_hash(sources: tuple[str, ...]) -> bool:
    return any(s.startswith(("'nonce-", "'sha256-", "'sha384-", "'sha512-")) for s in sources)


def _check_script_safety(
    effective: dict[str, tuple[str, ...]], allow_unsafe: bool | frozenset[str]
) -> None:
    for name, sources in effective.items():
        if "'strict-dynamic'" in sources and not _has_nonce_or_hash(sources):
            raise _Invalid(
                f"{name}: 'strict-dynamic' without a nonce or hash source "
                "blocks every script; add the request nonce (nonce_directives) or a "
                "csp_hash(...) source, or remove 'strict-dynamic'"
            )
    if allow_unsafe is True:
        return
    checked = [name for name in _SCRIPT if name in effective]
    if "script-src" not in effective and "default-src" in effective:
        checked.append("default-src")
    for name in checked:
        sources = effective[name]
        ignored: set[str] = set()
        if _has_nonce_or_hash(sources):
            ignored.add("'unsafe-inline'")
            if "'strict-dynamic'" in sources:
                ignored |= _NEUTRALISED_BY_STRICT_DYNAMIC
        for source in sources:
            unsafe = _unsafe_form(source)
            if unsafe is not None and unsafe not in ignored:
                if isinstance(allow_unsafe, frozenset) and unsafe in allow_unsafe:
                    continue
                why = (
                    "lets injected inline script run"
                    if unsafe == "'unsafe-inline'"
                    else "lets injected strings run as code"
                    if unsafe == "'unsafe-eval'"
                    else "lets script load from anywhere an attacker can put a file"
                )
                if unsafe != source:
                    source = f"{source} (that is {unsafe})"
                fallback = (
                    " (scripts fall back to default-src because script-src is not set)"
                    if name == "default-src"
                    else ""
                )
                raise _Invalid(
                    f"{name}: {source} {why}{fallback}, which defeats CSP; use the "
                    "request nonce (csp_nonce(environ)) or csp_hash(...) and named hosts, "
                    f"or accept the risk explicitly with allow_unsafe=[{unsafe!r}]"
                )


# -- options of the CSP layer -----------------------------------------------------


def check_allow_unsafe(value: object) -> bool | tuple[str, ...]:
    """The ``allow_unsafe`` option of the CSP layer: a boolean or a list of sources."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise OptionError(
            "allow_unsafe",
            value,
            f"{value!r} must be true or a list of sources",
            f"write allow_unsafe=[{value!r}]",
        )
    return tuple(value)


def check_layer_directives(
    option: str, source: object, reporting: Mapping[str, list[str]]
) -> Mapping[str, Any]:
    """The directives of one policy option, checked for what the layer adds itself."""
    if not isinstance(source, Mapping):
        raise OptionError(
            option,
            source,
            f"expected a mapping of directives or a Policy, got {type(source).__name__}",
            "e.g. {'default-src': [\"'none'\"]}",
        )
    names = {str(name).strip().lower() for name in source}
    for name in reporting:
        if name in names:
            raise OptionError(
                option,
                source,
                f"sets {name} itself and the layer's report_uri/report_to/report_path also does",
                "configure reporting in one place",
            )
    for name, value in source.items():
        values = value.split() if isinstance(value, str) else value
        if isinstance(values, list | tuple) and any(
            isinstance(v, str) and v.lower().startswith("'nonce-") for v in values
        ):
            raise OptionError(
                option,
                source,
                f"{name}: a fixed nonce is the same on every response and protects nothing",
                "remove it; the layer adds a fresh one per request (nonce_directives)",
            )
    return source


# -- amendments: one response's extra sources ------------------------------------------

#: Where a directive falls back to when the policy does not set it (CSP level 3).
_FALLBACK: Mapping[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src", "default-src"),
    "script-src-attr": ("script-src", "default-src"),
    "style-src-elem": ("style-src", "default-src"),
    "style-src-attr": ("style-src", "default-src"),
    "worker-src": ("child-src", "script-src", "default-src"),
    "frame-src": ("child-src", "default-src"),
}
#: The keywords a view may add; every other one changes what the directive means.
_AMEND_KEYWORDS = frozenset({"'self'", "'report-sample'"})
#: An amendment: (directive, sources), both normalised by :func:`check_amendment`.
Amendment = tuple[str, tuple[str, ...]]


def check_amendment(directive: object, sources: Iterable[object]) -> Amendment:
    """A view's extra sources for one directive, checked; ``ValueError`` if refused."""
    where = f"csp_amend({directive!r})"
    if not isinstance(directive, str) or directive.strip().lower() not in _FETCH | _RESTRICTED:
        hint = (
            _did_you_mean(directive.strip().lower(), _FETCH | _RESTRICTED)
            if isinstance(directive, str)
            else ""
        )
        raise ValueError(
            f"{where}: not a directive that takes sources (script-src, img-src, "
            f"connect-src, form-action, ...){hint}"
        )
    name = directive.strip().lower()
    checked: list[str] = []
    for source in sources:
        if not isinstance(source, str):
            raise ValueError(f"{where}: source {source!r} must be a string")
        bad = _FORBIDDEN.search(source)
        if bad is not None:
            raise ValueError(
                f"{where}: {source!r} contains {bad.group()!r}; give one source per "
                "argument, without whitespace, ';', ',', control or non-ASCII characters"
            )
        try:
            normalised = _check_source(name, source, where)
        except _Invalid as error:
            raise ValueError(error.problem) from None
        unsafe = _unsafe_form(normalised)
        refused = unsafe is not None or (
            normalised.startswith("'")
            and normalised not in _AMEND_KEYWORDS
            and not normalised.startswith(("'sha256-", "'sha384-", "'sha512-"))
        )
        if refused:
            raise ValueError(
                f"{where}: {source} is refused: a view may add hosts, schemes such as "
                "wss: or blob:, 'self' and hashes (csp_hash(...)), never a source that "
                "widens the policy to a class of content (the request nonce is already "
                "there: csp_nonce(environ)); change the layer's configuration instead"
            )
        checked.append(normalised)
    if not checked:
        raise ValueError(f"{where}: give at least one source")
    return name, tuple(dict.fromkeys(checked))


def freeze_amendments(value: object) -> tuple[Amendment, ...] | None:
    """A recorded list of amendments as a hashable key; ``None`` if not of that shape."""
    if not isinstance(value, list | tuple):
        return None
    frozen: list[Amendment] = []
    for item in value:
        if not isinstance(item, list | tuple) or len(item) != 2:
            return None
        name, sources = item
        if not isinstance(name, str) or not isinstance(sources, list | tuple):
            return None
        if not all(isinstance(source, str) for source in sources):
            return None
        frozen.append((name, tuple(sources)))
    return tuple(frozen)


def _amend_directives(
    directives: Mapping[str, tuple[str, ...]], amendments: Iterable[Amendment]
) -> dict[str, tuple[str, ...]]:
    result = dict(directives)
    for name, sources in amendments:
        current = result.get(name)
        if current is None:
            chain = _FALLBACK.get(name, ("default-src",) if name in _FETCH else ())
            current = next((result[base] for base in chain if base in result), None)
            if current is None:
                continue  # the directive restricts nothing: adding would only narrow it
        base = () if current == ("'none'",) else current
        result[name] = tuple(dict.fromkeys((*base, *sources)))
    return result


def amend_policy(policy: Policy, amendments: Iterable[Amendment], *, option: str) -> Policy:
    """``policy`` with a response's extra sources (checked again as a whole)."""
    return Policy(
        _amend_directives(policy.directives, amendments),
        allow_unsafe=policy.allow_unsafe,
        nonce_directives=policy.nonced,
        option=option,
    )
