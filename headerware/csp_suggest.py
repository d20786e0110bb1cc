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
  ignored: they are not the page's.

:func:`apply` returns the new TOML text (a ``[csp.<option>]`` table is edited
line by line, or created with the complete policy when the option was the
default); :func:`unified_diff` shows it.
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

__all__ = ["Suggestion", "apply", "suggest", "unified_diff"]

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
    """What to add to each policy option, and what is flagged instead."""

    additions: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def add(self, option: str, directive: str, source: str) -> None:
        sources = self.additions.setdefault(option, {}).setdefault(directive, [])
        if source not in sources:
            sources.append(source)

    def flag(self, message: str) -> None:
        if message not in self.flags:
            self.flags.append(message)


def csp_table(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[csp]`` table of a parsed configuration (``{}`` without one)."""
    table = config.get("csp", {})
    return dict(table) if isinstance(table, Mapping) else {}


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
    """The additions (per policy option and directive) that allow ``violations``."""
    csp = csp_table(config)
    result = Suggestion()
    policies: dict[str, dict[str, list[str] | bool]] = {}
    trial = "report_only_policy" if "report_only_policy" in csp else "policy"
    for v in violations:
        option = trial if v.disposition == "report" else "policy"
        policy = policies.setdefault(option, _policy_of(csp, option))
        if not policy:
            continue
        where = f"{v.directive} on {v.document or 'a page'} ({v.count}x)"
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
        result.add(option, directive, source)
    return result


def new_policies(
    config: Mapping[str, Any], suggestion: Suggestion
) -> dict[str, dict[str, list[str] | bool]]:
    """The complete new value of each option that changes."""
    csp = csp_table(config)
    changed: dict[str, dict[str, list[str] | bool]] = {}
    for option, additions in suggestion.additions.items():
        policy = _policy_of(csp, option)
        for directive, sources in additions.items():
            _, current = _target(policy, directive) if directive not in policy else (None, [])
            existing = policy.get(directive)
            base = list(existing) if isinstance(existing, list) else current
            base = [s for s in base if s != "'none'"]
            policy[directive] = base + [s for s in sources if s not in base]
        changed[option] = policy
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
    for option, policy in new_policies(config, suggestion).items():
        changed = suggestion.additions[option]
        lines = _apply_option(lines, option, policy, set(changed))
    return "".join(lines)


def _tables(lines: list[str]) -> list[tuple[str, int, int]]:
    """``(table name, first line, end line)`` of each ``[table]`` in the file."""
    found: list[tuple[str, int]] = []
    for number, line in enumerate(lines):
        match = _HEADER.match(line)
        if match and not line.lstrip().startswith("[["):
            found.append((match.group(1).replace(" ", "").replace('"', ""), number))
        elif line.lstrip().startswith("[["):
            found.append(("[[array]]", number))
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
    lines: list[str], option: str, policy: dict[str, list[str] | bool], changed: set[str]
) -> list[str]:
    tables = {name: (start, end) for name, start, end in _tables(lines)}
    sub = tables.get(f"csp.{option}")
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
    if "csp" not in tables:
        raise ValueError("the configuration has no [csp] table")
    start, end = tables["csp"]
    for number in range(start + 1, end):
        if _key_of(lines[number]) == option:
            if lines[number].count("{") != lines[number].count("}"):
                raise ValueError(f"[csp] {option} spans several lines: edit it by hand")
            body = ", ".join(f"{d} = {_value(s)}" for d, s in policy.items())
            lines[number] = f"{option} = {{ {body} }}\n"
            return lines
    at = _content_end(lines, start, end)
    block = ["\n", f"[csp.{option}]\n"] + [f"{d} = {_value(s)}\n" for d, s in policy.items()]
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
