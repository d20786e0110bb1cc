"""The options of a CORS rule, validated and rendered once (used by :mod:`headerware.layers.cors`).

A :class:`CorsPolicy` is one rule's options — or the top-level options when
``CORS`` has no ``rules`` — checked at start-up and turned into the header
values the layer sends, so the per-request work is lookups. :func:`compile_rules`
builds the policy of each ``rules`` entry from the top-level defaults under the
rule's overrides. :meth:`CorsPolicy.describe` gives the options back in the shape
``CORS`` accepts them (what ``headerware check-config`` prints).

Configuration mistakes raise :class:`~headerware.options.OptionError` naming the
option, prefixed inside a rule: ``rules['/api/*'].allow_origins``.

A :class:`CorsGrant` is what a view allowed for its own response at run time
(:func:`headerware.layers.cors.cors_allow` records one under :data:`ALLOW_KEY`):
extra serialized origins and extra exposed headers, validated when it is made —
a :class:`ValueError`, the application's programming error, not configuration.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from ._headers import HeaderList, is_token
from .core.layer import HeaderBlock
from .options import OptionError, boolean, seconds
from .origins import OriginMatcher, canonical_origin, parse_origin

__all__ = [
    "ALLOW_KEY",
    "POLICY_OPTIONS",
    "CorsGrant",
    "CorsPolicy",
    "compile_rules",
    "option_names",
]

#: The environ key where a view's :class:`CorsGrant` is recorded.
ALLOW_KEY = "headerware.cors.allow"

_VARY_PREFLIGHT = (
    "Origin",
    "Access-Control-Request-Method",
    "Access-Control-Request-Headers",
)
_VARY_PNA = "Access-Control-Request-Private-Network"

#: The options of one rule (every ``CORS`` keyword but ``rules`` and ``report_only``).
POLICY_OPTIONS = (
    "allow_origins",
    "allow_origin_regex",
    "allow_origin_func",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "allow_credentials",
    "max_age",
    "allow_private_network",
)


class CorsPolicy:
    """One rule's options, validated and rendered into header values.

    ``where`` is the option prefix of the rule (``""`` for the top-level options,
    ``"rules['/api/*']."`` inside a rule).
    """

    __slots__ = (
        "actual_block",
        "actual_headers",
        "allow_all",
        "credentials",
        "expose",
        "header_list",
        "header_names",
        "headers_any",
        "headers_value",
        "matcher",
        "max_age",
        "method_list",
        "methods",
        "methods_any",
        "methods_value",
        "pna",
        "preflight_fixed",
        "preflight_vary",
    )

    def __init__(self, options: Mapping[str, Any], where: str) -> None:
        unknown = set(options) - set(POLICY_OPTIONS)
        if unknown:
            raise OptionError(
                where.rstrip(".") or "rules",
                sorted(unknown),
                f"unknown option(s) {sorted(unknown)}",
                f"use {list(POLICY_OPTIONS)}",
            )
        self.credentials = boolean(
            f"{where}allow_credentials", options.get("allow_credentials", False)
        )
        self._origins(options, where)
        self._methods_and_headers(options, where)
        self.expose = option_names(options.get("expose_headers", ()), f"{where}expose_headers")
        if "*" in self.expose and self.credentials:
            raise OptionError(
                f"{where}expose_headers",
                self.expose,
                "'*' is read literally by browsers on credentialed requests",
                "list the response headers to expose by name",
            )
        max_age = options.get("max_age", 600)
        self.max_age = None if max_age is None else seconds(f"{where}max_age", max_age)
        self.pna = boolean(
            f"{where}allow_private_network", options.get("allow_private_network", False)
        )
        self._render()

    def _origins(self, options: Mapping[str, Any], where: str) -> None:
        self.matcher = OriginMatcher(
            options.get("allow_origins", ()),
            regex=options.get("allow_origin_regex", ()),
            func=options.get("allow_origin_func"),
            option=f"{where}allow_origins",
        )
        self.allow_all = self.matcher.allow_all
        if self.allow_all and self.credentials:
            raise OptionError(
                f"{where}allow_origins",
                ["*"],
                "'*' together with allow_credentials=True is refused by browsers and "
                "would expose credentialed responses to every site",
                "list the trusted origins explicitly, or set allow_credentials=False",
            )

    def _methods_and_headers(self, options: Mapping[str, Any], where: str) -> None:
        methods = option_names(
            options.get("allow_methods", ("GET", "HEAD")), f"{where}allow_methods"
        )
        self.method_list = methods
        self.methods_any = "*" in methods
        self.methods = frozenset(methods) - {"*"}
        self.methods_value = ", ".join(m for m in methods if m != "*")
        headers = option_names(options.get("allow_headers", ()), f"{where}allow_headers")
        self.header_list = headers
        self.headers_any = "*" in headers
        self.header_names = frozenset(h.lower() for h in headers) - {"*"}
        self.headers_value = ", ".join(h for h in headers if h != "*")

    def _render(self) -> None:
        """The header values of actual responses and preflights, computed once."""
        actual: HeaderList = []
        if self.credentials:
            actual.append(("Access-Control-Allow-Credentials", "true"))
        if self.expose:
            actual.append(("Access-Control-Expose-Headers", ", ".join(self.expose)))
        self.actual_headers = tuple(actual)
        self.actual_block = HeaderBlock(actual)
        fixed: HeaderList = []
        if not self.methods_any:
            fixed.append(("Access-Control-Allow-Methods", self.methods_value))
        if self.max_age is not None:
            fixed.append(("Access-Control-Max-Age", str(self.max_age)))
        if self.credentials:
            fixed.append(("Access-Control-Allow-Credentials", "true"))
        self.preflight_fixed = tuple(fixed)
        vary = list(_VARY_PREFLIGHT) + ([_VARY_PNA] if self.pna else [])
        self.preflight_vary = ("Vary", ", ".join(vary))

    def describe(self) -> dict[str, Any]:
        """The options as ``CORS`` takes them (origins normalised; no unset function)."""
        origins = self.matcher.describe()
        described: dict[str, Any] = {
            "allow_origins": origins["origins"],
            "allow_origin_regex": origins["regex"],
            "allow_origin_func": origins["func"],
            "allow_methods": list(self.method_list),
            "allow_headers": list(self.header_list),
            "expose_headers": list(self.expose),
            "allow_credentials": self.credentials,
            "max_age": self.max_age,
            "allow_private_network": self.pna,
        }
        return described


def option_names(values: Sequence[str] | str, option: str) -> list[str]:
    """A validated list of header names or methods (tokens) or ``*``, duplicates dropped."""
    if isinstance(values, str):
        raise OptionError(option, values, "give a list, not one string", f"write [{values!r}]")
    names: list[str] = []
    for value in values:
        if not isinstance(value, str) or (value != "*" and not is_token(value)):
            raise OptionError(
                option,
                value,
                f"{value!r} is not a valid name (an HTTP token) or '*'",
                "list each name on its own, e.g. ['GET', 'POST']",
            )
        if value not in names:
            names.append(value)
    return names


def compile_rules(rules: object, defaults: Mapping[str, Any]) -> dict[str, CorsPolicy | None]:
    """Each rule's policy (``None``: CORS off there), the defaults under its overrides."""
    if not isinstance(rules, Mapping):
        raise OptionError(
            "rules",
            rules,
            "give a mapping of path pattern to options",
            "e.g. {'/api/*': {'allow_origins': ['https://app.example.com']}}",
        )
    compiled: dict[str, CorsPolicy | None] = {}
    for pattern, overrides in rules.items():
        if overrides is None:
            compiled[pattern] = None
            continue
        if not isinstance(overrides, Mapping):
            raise OptionError(
                f"rules[{pattern!r}]",
                overrides,
                f"{overrides!r} must be a dict of options or None",
                "e.g. {'allow_origins': ['https://app.example.com']}",
            )
        compiled[pattern] = CorsPolicy({**defaults, **overrides}, f"rules[{pattern!r}].")
    return compiled


def _grant_origin(origin: object) -> str:
    """``origin`` when it is a serialized origin a view may allow; ValueError if not."""
    if origin == "*":
        raise ValueError(
            "cors_allow: '*' is not an origin; a view allows one origin at a time "
            "(configure allow_origins=['*'] for a public, credential-less route)"
        )
    if isinstance(origin, str) and origin != "null" and parse_origin(origin) is not None:
        return origin
    hint = "e.g. 'https://app.example.com'"
    if isinstance(origin, str) and origin != "null":
        with contextlib.suppress(OptionError):
            hint = f"write {canonical_origin(origin)!r}"
    raise ValueError(
        f"cors_allow: {origin!r} is not a serialized origin (lower-case scheme://host[:port], "
        f"ASCII, no default port, no path; not 'null'): {hint}"
    )


def _grant_header(name: object) -> str:
    if isinstance(name, str) and name != "*" and is_token(name):
        return name
    raise ValueError(
        f"cors_allow: {name!r} is not a header name (an HTTP token; '*' is not accepted "
        "from a view): list each response header by name"
    )


class CorsGrant:
    """What a view allowed for its own response: origins and exposed headers, validated.

    Immutable; :meth:`extended` gives the grant with more added (later calls of
    ``cors_allow`` add to earlier ones).
    """

    __slots__ = ("expose_headers", "origins")

    def __init__(self, origins: Sequence[str] = (), expose_headers: Sequence[str] = ()) -> None:
        if isinstance(origins, str) or isinstance(expose_headers, str):
            raise ValueError("cors_allow: give lists of origins and header names, not a string")
        self.origins: frozenset[str] = frozenset(_grant_origin(o) for o in origins)
        names: list[str] = []
        for name in expose_headers:
            checked = _grant_header(name)
            if checked.lower() not in {n.lower() for n in names}:
                names.append(checked)
        self.expose_headers: tuple[str, ...] = tuple(names)

    def extended(self, origins: Sequence[str], expose_headers: Sequence[str]) -> CorsGrant:
        """This grant with ``origins`` and ``expose_headers`` added."""
        return CorsGrant([*self.origins, *origins], [*self.expose_headers, *expose_headers])

    def actual_headers(self, policy: CorsPolicy) -> HeaderList:
        """The headers of an allowed actual response: the policy's, with this grant's
        exposed headers merged into ``Access-Control-Expose-Headers``."""
        expose = list(policy.expose)
        if "*" not in expose:
            known = {name.lower() for name in expose}
            expose += [name for name in self.expose_headers if name.lower() not in known]
        headers: HeaderList = []
        if policy.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if expose:
            headers.append(("Access-Control-Expose-Headers", ", ".join(expose)))
        return headers
