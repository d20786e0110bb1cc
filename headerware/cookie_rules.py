"""The rules :class:`~headerware.layers.cookies.CookiePolicy` applies to one ``Set-Cookie``.

The layer decides *which* cookies to rewrite and what to do with a refused one;
this module holds *what* a rewrite is, as pure functions of the cookie's name,
its attributes as written and whether the request came over HTTPS:

- the validation of the layer's options (``samesite``, ``secure``, ``max_size``,
  ``per_cookie`` and ``script_readable``), each error an
  :class:`~headerware.options.OptionError` naming the option;
- :func:`evaluate`: the attributes refused (a control character, a value longer
  than browsers accept) or rewritten - ``HttpOnly``, ``SameSite``, ``Path``,
  ``Secure``, ``Partitioned``, the ``__Host-``/``__Secure-`` prefixes and the
  400-day lifetime cap - with what overrode the application's explicit choice.

It is not a layer and imports none: the cookie model is :mod:`headerware.setcookie`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from werkzeug.http import http_date

from ._headers import is_safe_value
from .options import OptionError
from .setcookie import SetCookie

__all__ = [
    "MAX_ATTRIBUTE_SIZE",
    "MAX_LIFETIME",
    "MAX_SIZE",
    "Outcome",
    "Rules",
    "check_combination",
    "evaluate",
    "max_size_option",
    "per_cookie_option",
    "prefix",
    "samesite_option",
    "secure_option",
]

#: Browsers cap a cookie's lifetime at 400 days (RFC 6265bis section 5.5).
MAX_LIFETIME = 400 * 24 * 3600
#: Browsers ignore an attribute whose value is longer than this (RFC 6265bis 5.6).
MAX_ATTRIBUTE_SIZE = 1024
#: The largest cookie browsers store (name, value and attributes).
MAX_SIZE = 4096

_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_SECURE_MODES = ("auto", "always", "never")
_PER_COOKIE_KEYS = frozenset({"httponly", "samesite", "secure", "partitioned"})


class Rules(NamedTuple):
    """What the policy asks of one cookie (the defaults, or a per-cookie entry)."""

    httponly: bool
    samesite: str
    #: A per-cookie ``samesite``: it replaces the application's own.
    samesite_forced: bool
    secure: str
    partitioned: bool


class Outcome(NamedTuple):
    """The policy applied to one cookie's attributes."""

    #: The rewritten attributes (``"; Path=/; ..."``).
    tail: str
    #: What was overridden against the application's explicit choice (logged).
    fixes: tuple[str, ...]
    deletion: bool
    #: Why the cookie is refused, or ``None``.
    refused: str | None
    #: The outcome depends on the clock (``Expires``): valid before this time only.
    valid_until: float | None = None


# -- option validation ----------------------------------------------------------------


def samesite_option(option: str, value: Any, where: str = "") -> str:
    """``value`` as ``"Lax"``, ``"Strict"`` or ``"None"`` (any case accepted)."""
    canonical = _SAMESITE.get(value.lower()) if isinstance(value, str) else None
    if canonical is None:
        raise OptionError(
            option,
            value,
            f"{where}{value!r} is not a SameSite value",
            "use 'Lax', 'Strict' or 'None'",
        )
    return canonical


def secure_option(option: str, value: Any, where: str = "") -> str:
    """``value`` when it is a ``secure`` mode: ``"auto"``, ``"always"``, ``"never"``."""
    if value not in _SECURE_MODES:
        raise OptionError(
            option, value, f"{where}{value!r} is not a mode", "use 'auto', 'always' or 'never'"
        )
    return str(value)


def _flag(option: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError(option, value, f"{where}{value!r} is not a boolean", "use true or false")
    return value


def max_size_option(value: Any) -> int:
    """``max_size``: a whole number of bytes from 1 to :data:`MAX_SIZE`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
        raise OptionError(
            "max_size",
            value,
            f"{value!r} must be a whole number from 1 to {MAX_SIZE}",
            "browsers drop larger cookies; e.g. 4096",
        )
    return value


def check_combination(
    samesite: str, secure: str, partitioned: bool, *, option: str = "", where: str = ""
) -> None:
    """Refuse settings every browser would reject (SameSite=None or Partitioned
    without Secure)."""
    if secure == "never" and samesite == "None":
        raise OptionError(
            option or "samesite",
            samesite,
            f"{where}SameSite=None with secure='never' would be rejected by browsers "
            "(SameSite=None requires Secure)",
            "use secure='auto' or samesite='Lax'",
        )
    if secure == "never" and partitioned:
        raise OptionError(
            option or "partitioned",
            partitioned,
            f"{where}partitioned=True with secure='never' would be rejected by browsers "
            "(Partitioned requires Secure)",
            "use secure='auto'",
        )


def prefix(name: str) -> str:
    """``"__Host-"``, ``"__Secure-"`` (any case, as browsers compare) or ``""``."""
    lower = name[:9].lower()
    if lower.startswith("__host-"):
        return "__Host-"
    if lower.startswith("__secure-"):
        return "__Secure-"
    return ""


def _per_cookie_entry(key: str, options: Any, defaults: Rules) -> dict[str, Any]:
    """One validated ``per_cookie`` entry (only the options it sets)."""
    where = f"[{key!r}]"
    if not isinstance(options, Mapping):
        raise OptionError(
            "per_cookie",
            options,
            f"{where}: {options!r} must be a dict",
            "e.g. {'samesite': 'Strict'}",
        )
    unknown = set(options) - _PER_COOKIE_KEYS
    if unknown:
        raise OptionError(
            "per_cookie",
            options,
            f"{where}: unknown option(s) {sorted(unknown)}",
            f"use {sorted(_PER_COOKIE_KEYS)}",
        )
    clean: dict[str, Any] = {}
    for flag in ("httponly", "partitioned"):
        if flag in options:
            clean[flag] = _flag("per_cookie", options[flag], f"{where}[{flag!r}]: ")
    if "samesite" in options:
        clean["samesite"] = samesite_option(
            "per_cookie", options["samesite"], f"{where}['samesite']: "
        )
    if "secure" in options:
        clean["secure"] = secure_option("per_cookie", options["secure"], f"{where}['secure']: ")
        if clean["secure"] == "never" and prefix(key):
            raise OptionError(
                "per_cookie",
                options,
                f"{where}['secure']: 'never' contradicts the {prefix(key)} prefix, which "
                "browsers accept only with Secure",
                "remove the override",
            )
    check_combination(
        clean.get("samesite", defaults.samesite),
        clean.get("secure", defaults.secure),
        clean.get("partitioned", defaults.partitioned),
        option="per_cookie",
        where=f"{where}: ",
    )
    return clean


def per_cookie_option(
    per_cookie: Mapping[str, Mapping[str, Any]] | None,
    script_readable: Sequence[str],
    defaults: Rules,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``(per_cookie as validated, the entries in effect)``: in effect, every
    ``script_readable`` name is also an ``httponly=False`` entry."""
    if per_cookie is not None and not isinstance(per_cookie, Mapping):
        raise OptionError(
            "per_cookie", per_cookie, f"{per_cookie!r} must be a dict", "e.g. {'theme': {...}}"
        )
    given = {
        key: _per_cookie_entry(key, options, defaults)
        for key, options in (per_cookie or {}).items()
    }
    effective = {key: dict(options) for key, options in given.items()}
    for key in script_readable:
        if effective.get(key, {}).get("httponly") is True:
            raise OptionError(
                "script_readable",
                key,
                f"{key!r} is also per_cookie[{key!r}]['httponly']=True",
                "keep one of the two",
            )
        effective.setdefault(key, {})["httponly"] = False
    return given, effective


# -- the rewrite ------------------------------------------------------------------------


def evaluate(name: str, tail: str, rules: Rules, https: bool) -> Outcome:
    """The policy ``rules`` applied to the attributes ``tail`` (as written, from the
    first ``;``) of cookie ``name``, set in answer to an HTTPS request or not."""
    if not is_safe_value(tail):
        # CR/LF or another control character in an attribute (a reflected Path or
        # Domain): passing it on would let the application's input split headers.
        return Outcome(tail, (), False, "bad_attribute")
    cookie = SetCookie.from_parts(name, "", tail)
    for _, attr_value in cookie.attrs:
        if attr_value is not None and len(attr_value) > MAX_ATTRIBUTE_SIZE:
            return Outcome(tail, (), False, "attribute_too_large")
    fixes: list[str] = []
    if rules.httponly and not cookie.has("httponly"):
        cookie.set("HttpOnly")
    samesite = _apply_samesite(cookie, rules, fixes)
    _apply_path(cookie, fixes)
    _apply_secure(cookie, rules, samesite, https, fixes)
    deletion, valid_until = _apply_lifetime(cookie, fixes)
    return Outcome(cookie.tail(), tuple(fixes), deletion, None, valid_until)


def _apply_samesite(cookie: SetCookie, rules: Rules, fixes: list[str]) -> str:
    """Add (or force) SameSite; the effective value."""
    samesite = cookie.get("samesite")
    if rules.samesite_forced:
        if samesite is None or _SAMESITE.get(samesite.lower()) != rules.samesite:
            cookie.set("SameSite", rules.samesite)
        return rules.samesite
    if samesite is None:
        cookie.set("SameSite", rules.samesite)
        return rules.samesite
    canonical = _SAMESITE.get(samesite.lower())
    if canonical is None:
        fixes.append(f"SameSite={samesite} is not valid; set to {rules.samesite}")
        cookie.set("SameSite", rules.samesite)
        return rules.samesite
    return canonical


def _apply_path(cookie: SetCookie, fixes: list[str]) -> None:
    """``Path=/`` when missing or relative; the ``__Host-`` rules for Path and Domain."""
    host = prefix(cookie.name) == "__Host-"
    path = cookie.get("path")
    if host and path is not None and path != "/":
        fixes.append("Path set to / (__Host- cookie)")
        cookie.set("Path", "/")
    elif path is None or not path.startswith("/"):
        cookie.set("Path", "/")
    if host and cookie.remove("domain"):
        fixes.append("Domain removed (__Host- cookie)")


def _apply_secure(
    cookie: SetCookie, rules: Rules, samesite: str, https: bool, fixes: list[str]
) -> None:
    """``Partitioned`` when asked; ``Secure`` by mode, and wherever browsers require it."""
    partitioned = cookie.has("partitioned")
    if rules.partitioned and not partitioned:
        cookie.set("Partitioned")
        partitioned = True
    if cookie.has("secure"):
        return
    required = prefix(cookie.name)
    if required:
        fixes.append(f"Secure added ({required} cookie)")
        cookie.set("Secure")
    elif samesite == "None":
        fixes.append("Secure added (SameSite=None)")
        cookie.set("Secure")
    elif partitioned:
        if not rules.partitioned:
            fixes.append("Secure added (Partitioned)")
        cookie.set("Secure")
    elif rules.secure == "always" or (rules.secure == "auto" and https):
        cookie.set("Secure")


def _apply_lifetime(cookie: SetCookie, fixes: list[str]) -> tuple[bool, float | None]:
    """Cap Max-Age and Expires at 400 days; ``(deletion, valid until)``."""
    now = time.time()
    max_age = cookie.max_age
    if max_age is not None and max_age > MAX_LIFETIME:
        fixes.append("Max-Age capped at 400 days")
        cookie.set("Max-Age", str(MAX_LIFETIME))
    expires = cookie.expires
    valid_until: float | None = None
    if expires is not None:
        if expires > now + MAX_LIFETIME:
            fixes.append("Expires capped at 400 days")
            cookie.set("Expires", http_date(now + MAX_LIFETIME))
            valid_until = math.floor(now) + 1  # the date rendered changes each second
        elif expires > now and max_age is None:
            valid_until = expires  # a deletion once past
    if max_age is not None:
        return max_age <= 0, valid_until
    return expires is not None and expires <= now, valid_until
