"""``headerware csp suggest``: the smallest policy change that allows what was seen.

From the violations collected by the receiver (:mod:`headerware.csp_store`) and
the ``[csp]`` table of a TOML configuration, :func:`suggest` works out, for each
policy option (``policy`` for enforced reports and under ``report_only = true``,
``report_only_policy`` for the report-only ones), the sources to add:

- an origin is added to the directive that blocked it (the one the browser
  actually applied: ``script-src-elem`` falls back to ``script-src``, then to
  ``default-src``); the document's own origin becomes ``'self'``; an origin is
  never widened to a wildcard or a scheme;
- a directive that was only inherited from ``default-src`` is written out with
  ``default-src``'s sources (without ``'none'``) plus the new ones, so nothing
  else is opened;
- ``data:``/``blob:`` are added to non-script directives (images, fonts, media,
  workers for ``blob:``); for scripts they are flagged, not added;
- inline code (``inline``) is never answered with ``'unsafe-inline'``: it is
  flagged with the fix (the nonce, ``csp_nonce(environ)``, or ``hash_inline =
  true`` for cacheable pages whose body holds no untrusted data); inline style
  attributes and event handlers are flagged as code to move;
- ``eval`` is flagged: refactor it, or add ``'unsafe-eval'`` together with an
  explicit ``allow_unsafe = ["'unsafe-eval'"]``; nothing is applied;
- browser-extension schemes (``chrome-extension:``, ``moz-extension:``, ...) are
  ignored: they are not the page's;
- reports of the other policies (``coop``, ``coep``, ``integrity``) never change
  the CSP: each gets a line of advice (CORP or CORS for COEP, the opener for COOP,
  ``integrity`` metadata for Integrity-Policy).

Routes
    A report whose document path falls under a ``[[routes]]`` entry with its own
    ``csp`` table (the most specific such pattern, as the stack picks it) changes
    that route's table, not ``[csp]``: the route's effective options are ``[csp]``
    with every covering route's ``csp`` table over it, least specific first (a
    route's ``policy`` replaces the whole top-level one, as in the stack), and a
    route without its own ``policy`` gets one written out from the effective policy
    plus the additions, so the rest of the site is not opened. Documents under a
    route with ``enabled = false`` are skipped. A scope is named by its table path:
    ``"csp"`` or ``"routes[2].csp"``.

:func:`apply` returns the new TOML text (a ``[csp.<option>]`` or
``[routes.csp.<option>]`` table is edited line by line, or created with the
complete policy when the option was inherited or the default); :func:`unified_diff`
shows it.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .csp_policy import DEFAULT_POLICY
from .csp_store import Violation
from .paths import PathRules, covers, pattern_key

__all__ = ["Scopes", "Suggestion", "apply", "csp_table", "new_policies", "suggest", "unified_diff"]

GLOBAL = "csp"

_EXTENSIONS = ("chrome-extension:", "moz-extension:", "safari-extension:", "safari-web-extension:")
_DATA_OK = frozenset({"img-src", "font-src", "media-src", "style-src", "style-src-elem"})
_BLOB_OK = frozenset({"img-src", "media-src", "worker-src", "connect-src", "frame-src"})
# Where the browser looks when a directive is absent (CSP 3, "directive fallback list").
_FALLBACK: dict[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "style-src-attr": ("style-src-attr", "style-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "child-src": ("child-src", "default-src"),
}
_NO_FALLBACK = frozenset({"base-uri", "form-action", "frame-ancestors", "sandbox"})


@dataclass
class Suggestion:
    """What to add, per scope (``"csp"``, ``"routes[i].csp"``) and policy option, and
    what is flagged instead; ``tables`` holds each scope's effective csp options."""

    additions: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, option: str, directive: str, source: str, scope: str = GLOBAL) -> None:
        options = self.additions.setdefault(scope, {})
        sources = options.setdefault(option, {}).setdefault(directive, [])
        if source not in sources:
            sources.append(source)

    def flag(self, message: str) -> None:
        if message not in self.flags:
            self.flags.append(message)

    def advise(self, message: str) -> None:
        if message not in self.advice:
            self.advice.append(message)


def csp_table(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[csp]`` table of a parsed configuration (``{}`` without one)."""
    table = config.get("csp", {})
    return dict(table) if isinstance(table, Mapping) else {}


def _specificity(pattern: str) -> tuple[bool, int, int]:
    kind, key = pattern_key(pattern)  # the stack's order: exact, longer, "/x/" over "/x/*"
    return (kind is None, len(key), kind or 0)


class Scopes:
    """Which csp table a document's reports belong to: ``[csp]`` or a route's own."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.base = csp_table(config)
        self._tables: dict[str, tuple[str, dict[str, Any]]] = {}  # pattern -> (scope, table)
        routes = config.get("routes", [])
        for index, route in enumerate(routes if isinstance(routes, list) else []):
            if not isinstance(route, Mapping) or not isinstance(route.get("csp"), Mapping):
                continue
            paths = route.get("path", [])
            for pattern in [paths] if isinstance(paths, str) else paths:
                self._tables[str(pattern)] = (f"routes[{index}].csp", dict(route["csp"]))
        self._rules = PathRules(dict.fromkeys(self._tables, True), option="routes")

    def lookup(self, document: str) -> tuple[str, str | None, dict[str, Any]] | None:
        """``(scope, route pattern or None, effective csp options)`` for a document URL;
        ``None`` when the csp layer is off there."""
        try:
            path = urlsplit(document).path or "/"
        except ValueError:
            path = "/"
        hit = self._rules.lookup(path) if self._tables else None
        if hit is None:
            return GLOBAL, None, self.base
        pattern = hit[0]
        merged = dict(self.base)
        covering = [p for p in self._tables if covers(p, pattern)]
        for other in sorted(covering, key=_specificity):
            merged.update(self._tables[other][1])
        if merged.get("enabled", True) is False:
            return None
        return self._tables[pattern][0], pattern, merged


_ADVICE = {
    "coep": "COEP {directive} blocked {blocked}, {where}: serve it with "
    "Cross-Origin-Resource-Policy: cross-origin (or load it with crossorigin and CORS) "
    "before enforcing cross_origin_embedder_policy",
    "coop": "COOP {directive} with {blocked}, {where}: the enforced policy severs that "
    "window's opener; same-origin-allow-popups keeps popups this page opens",
    "integrity": "Integrity-Policy: a {directive} from {blocked} without integrity "
    'metadata, {where}: add integrity="sha384-..." (and crossorigin) to its tag before '
    "enforcing integrity_policy",
}


def _policy_of(csp: Mapping[str, Any], option: str) -> dict[str, list[str] | bool]:
    value = csp.get(option, DEFAULT_POLICY if option == "policy" else None)
    if not isinstance(value, Mapping):
        return {}
    policy: dict[str, list[str] | bool] = {}
    for name, sources in value.items():
        if isinstance(sources, str):
            policy[str(name).lower()] = sources.split()
        elif isinstance(sources, bool):
            policy[str(name).lower()] = sources
        else:
            policy[str(name).lower()] = [str(s) for s in sources]
    return policy


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        if parts.scheme and parts.hostname:
            port = f":{parts.port}" if parts.port is not None else ""
            return f"{parts.scheme}://{parts.hostname}{port}"
    except ValueError:
        pass
    return None


def _applied(policy: Mapping[str, Any], directive: str) -> str | None:
    """The directive the browser applied for ``directive`` (``None``: unrestricted)."""
    if directive in _NO_FALLBACK:
        return directive if directive in policy else None
    for name in _FALLBACK.get(directive, (directive, "default-src")):
        if name in policy:
            return name
    return None


def _target(policy: Mapping[str, Any], directive: str) -> tuple[str, list[str]]:
    """The directive to change and its current sources (written out from default-src)."""
    applied = _applied(policy, directive) or directive
    if applied == "default-src":  # do not widen every fetch: write the directive out
        base = re.sub(r"-(elem|attr)$", "", directive)
        inherited = policy.get("default-src")
        sources = [s for s in inherited if s != "'none'"] if isinstance(inherited, list) else []
        return base, sources
    current = policy.get(applied)
    return applied, list(current) if isinstance(current, list) else []


def suggest(config: Mapping[str, Any], violations: Iterable[Violation]) -> Suggestion:
    """The additions (per scope, policy option and directive) that allow ``violations``."""
    scopes = Scopes(config)
    result = Suggestion()
    policies: dict[tuple[str, str], dict[str, list[str] | bool]] = {}
    for v in violations:
        if v.kind != "csp":
            where = f"on {v.document or 'a page'} ({v.count}x)"
            template = _ADVICE.get(v.kind)
            if template is not None:
                result.advise(
                    template.format(directive=v.directive, blocked=v.blocked, where=where)
                )
            continue
        found = scopes.lookup(v.document)
        if found is None:
            continue  # the csp layer is off under that route
        scope, pattern, csp = found
        result.tables.setdefault(scope, csp)
        trial = "report_only_policy" if csp.get("report_only_policy") is not None else "policy"
        option = trial if v.disposition == "report" else "policy"
        policy = policies.setdefault((scope, option), _policy_of(csp, option))
        if not policy:
            continue
        page = v.document or "a page"
        where = f"{v.directive} on {page}" + (f" (route {pattern})" if pattern else "")
        where += f" ({v.count}x)"
        if v.blocked == "inline":
            if v.directive.endswith("-attr"):
                result.flag(
                    f"inline {'style' if 'style' in v.directive else 'event handler'} "
                    f"attribute, {where}: move it into a nonce'd block or a file "
                    "('unsafe-inline' is never suggested)"
                )
            else:
                result.flag(
                    f"inline code, {where}: give the block the nonce "
                    '(nonce="{{ csp_nonce(environ) }}") or, for a cacheable page whose body '
                    "holds no untrusted data, set hash_inline = true "
                    "('unsafe-inline' is never suggested)"
                )
            continue
        if v.blocked in ("eval", "wasm-eval"):
            result.flag(
                f"{v.blocked}, {where}: refactor it away (no eval, new Function, "
                "setTimeout(string)); if you must keep it, add \"'unsafe-eval'\" to "
                "script-src AND allow_unsafe = [\"'unsafe-eval'\"] yourself (not applied)"
            )
            continue
        if v.blocked.startswith("trusted-types"):
            result.flag(f"Trusted Types, {where}: fix the sink or the policy by hand")
            continue
        if v.blocked.startswith(_EXTENSIONS) or v.blocked in ("about:", "'self'"):
            continue  # a browser extension's own resource, or nothing to add
        directive, current = _target(policy, v.directive)
        source = v.blocked
        if source.endswith(":") and "//" not in source:
            allowed = _DATA_OK if source == "data:" else _BLOB_OK if source == "blob:" else ()
            if directive in allowed:
                result.add(option, directive, source)
            else:
                result.flag(f"{source} in {where}: not added (unsafe or unusual there)")
            continue
        if _origin(v.document) == source:
            source = "'self'"
        if source in current or source == "'none'":
            continue
        result.add(option, directive, source, scope)
    return result


def new_policies(
    config: Mapping[str, Any], suggestion: Suggestion
) -> dict[tuple[str, str], dict[str, list[str] | bool]]:
    """The complete new value of each ``(scope, option)`` that changes."""
    changed: dict[tuple[str, str], dict[str, list[str] | bool]] = {}
    for scope, options in suggestion.additions.items():
        csp = suggestion.tables.get(scope, csp_table(config))
        for option, additions in options.items():
            policy = _policy_of(csp, option)
            for directive, sources in additions.items():
                _, current = _target(policy, directive) if directive not in policy else (None, [])
                existing = policy.get(directive)
                base = list(existing) if isinstance(existing, list) else current
                base = [s for s in base if s != "'none'"]
                policy[directive] = base + [s for s in sources if s not in base]
            changed[(scope, option)] = policy
    return changed


def _value(sources: list[str] | bool) -> str:
    return "true" if sources is True else json.dumps(sources)


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


def _key_of(line: str) -> str | None:
    match = re.match(r'^\s*"?([A-Za-z0-9_.-]+)"?\s*=', line)
    return match.group(1).lower() if match else None


def apply(text: str, config: Mapping[str, Any], suggestion: Suggestion) -> str:
    """``text`` (the TOML file) with the suggested additions written in."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for (scope, option), policy in new_policies(config, suggestion).items():
        changed = suggestion.additions[scope][option]
        lines = _apply_option(lines, scope, option, policy, set(changed))
    return "".join(lines)


_ARRAY = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")


def _tables(lines: list[str]) -> list[tuple[str, int, int]]:
    """``(table name, first line, end line)`` of each table in the file; the tables of
    the i-th ``[[routes]]`` are named ``routes[i]``, ``routes[i].csp``, ..."""
    found: list[tuple[str, int]] = []
    route = -1
    for number, line in enumerate(lines):
        array = _ARRAY.match(line)
        match = _HEADER.match(line)
        if array:
            name = array.group(1).replace(" ", "").replace('"', "")
            if name == "routes":
                route += 1
            found.append((f"routes[{route}]" if name == "routes" else f"[[{name}]]", number))
        elif match:
            name = match.group(1).replace(" ", "").replace('"', "")
            if name.startswith("routes.") and route >= 0:
                name = f"routes[{route}]{name[len('routes') :]}"
            found.append((name, number))
    ends = [start for _, start in found[1:]] + [len(lines)]
    return [(name, start, end) for (name, start), end in zip(found, ends, strict=True)]


def _content_end(lines: list[str], start: int, end: int) -> int:
    """The line after the table's last key (trailing blank and comment lines excluded)."""
    last = start + 1
    for number in range(start + 1, end):
        stripped = lines[number].strip()
        if stripped and not stripped.startswith("#"):
            last = number + 1
    return last


def _apply_option(
    lines: list[str],
    scope: str,
    option: str,
    policy: dict[str, list[str] | bool],
    changed: set[str],
) -> list[str]:
    tables = {name: (start, end) for name, start, end in _tables(lines)}
    sub = tables.get(f"{scope}.{option}")
    if sub is not None:
        start, end = sub
        for directive in sorted(changed):
            new = f"{directive} = {_value(policy[directive])}\n"
            for number in range(start + 1, end):
                if _key_of(lines[number]) == directive:
                    lines[number] = new
                    break
            else:
                at = _content_end(lines, start, end)
                lines.insert(at, new)
                end += 1
        return lines
    header = "csp" if scope == GLOBAL else "routes.csp"
    if scope not in tables:
        if scope == GLOBAL:
            raise ValueError("the configuration has no [csp] table")
        raise ValueError(
            f"{scope} is not written as a [routes.csp] table (an inline table or dotted "
            "keys): edit it by hand"
        )
    start, end = tables[scope]
    for number in range(start + 1, end):
        if _key_of(lines[number]) == option:
            if lines[number].count("{") != lines[number].count("}"):
                raise ValueError(f"{scope} {option} spans several lines: edit it by hand")
            body = ", ".join(f"{d} = {_value(s)}" for d, s in policy.items())
            lines[number] = f"{option} = {{ {body} }}\n"
            return lines
    at = _content_end(lines, start, end)
    block = ["\n", f"[{header}.{option}]\n"] + [f"{d} = {_value(s)}\n" for d, s in policy.items()]
    if at < len(lines) and lines[at].strip():
        block.append("\n")
    return lines[:at] + block + lines[at:]


def unified_diff(old: str, new: str, path: str) -> str:
    """The change as a unified diff of the file."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )


def check(text: str) -> dict[str, Any]:
    """Parse the TOML text (a ``ValueError`` with the reason when it does not parse)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
