"""Cookie policy: flags and browser rules enforced on every ``Set-Cookie``.

Whatever wrote the cookie - the application, a framework, another layer -
:class:`CookiePolicy` rewrites each ``Set-Cookie`` header on its own, keeping the
headers' order and every attribute it does not own (unknown ones such as
``Priority`` included), so that:

- ``HttpOnly`` is added (scripts cannot read session cookies), except for the cookies
  in ``script_readable``;
- ``SameSite`` is added when missing (``Lax``: sent on top-level navigation only);
- ``Path=/`` is added when missing or relative (the browser's default path is the
  request's directory, a classic source of "the cookie is set twice");
- ``Secure`` is added on HTTPS requests (``secure="auto"``), always, or never;
- ``Partitioned`` (CHIPS) is added when asked.

And so that nothing is silently thrown away by the browser, the rules browsers
enforce are applied here, loudly: ``__Host-`` cookies get ``Secure``, ``Path=/`` and
lose ``Domain``; ``__Secure-`` cookies, ``SameSite=None`` and ``Partitioned`` cookies
get ``Secure``; ``Max-Age``/``Expires`` are capped at 400 days (logged as
``cookie_fixed`` when the application's explicit choice was overridden). A cookie
whose name is not an RFC 6265 token, whose value or attributes hold a control character or a
non-latin-1 character, whose header exceeds ``max_size`` bytes (name, value and
attributes, as browsers count), whose attribute value exceeds 1024 bytes, or that
comes after ``max_cookies`` others in one response is refused: dropped and logged as
``cookie_refused`` with its name, reason and size - never its value - or, with
``strict=True`` (for tests), :class:`CookiePolicyError` is raised. Deleting a cookie
(``Max-Age=0`` or a past ``Expires``) works through every rewrite, and deletions
never count against ``max_cookies``: a logout must not be lost.

On the way in, with ``clean_request=True``, a ``Cookie`` header with malformed pairs
or repeated names is replaced by the cleaned one (see
:mod:`headerware.cookies_parse`), so the application and headerware agree on what
the client sent.

Options (layer name ``"cookie_policy"``):

``httponly=True``
    Add ``HttpOnly``; scripts have no business reading most cookies.
``script_readable=()``
    Names or ``fnmatch`` patterns of cookies JavaScript must read (no ``HttpOnly``).
``samesite="Lax"``
    Added when the cookie has none: ``"Lax"``, ``"Strict"`` or ``"None"``.
``secure="auto"``
    ``"auto"``: ``Secure`` on HTTPS requests (``ctx.is_secure``, as the proxy setup
    resolves it); ``"always"``; ``"never"`` (prefixed, ``SameSite=None`` and
    partitioned cookies still get it: browsers require it).
``partitioned=False``
    Add ``Partitioned`` (implies ``Secure``).
``per_cookie=None``
    ``{name or pattern: {"httponly": bool, "samesite": str, "secure": str,
    "partitioned": bool}}``. A per-cookie ``samesite`` replaces the application's own.
``max_cookies=50``
    Set-Cookie headers kept per response (deletions not counted); the rest refused.
``max_size=4096``
    Largest ``Set-Cookie`` value in bytes; browsers drop larger cookies.
``clean_request=True``
    Rewrite a request ``Cookie`` header that had malformed pairs or repeated names.
``strict=False``
    Raise :class:`CookiePolicyError` instead of dropping (for test suites).
``report_only=False``
    Log ``cookie_fixed`` / ``cookie_refused`` (with ``report_only=True``) and change
    nothing.

Put it outside :class:`~headerware.layers.signing.SignedCookies` in a stack
(``Stack([CookiePolicy(), SignedCookies(...)], app)``) so the size limit applies to
the signed value.

Cost: one response hook reads the ``Set-Cookie`` headers (nothing to do without
one) and rewrites them in place, in order, through :mod:`headerware.setcookie`.
The rewrite of a cookie's attributes is remembered per scheme, name and attributes
as written (a :class:`~headerware.memo.Memo`: applications write the same few
cookies again and again); an answer that depends on the clock (``Expires``) is
recomputed once it could have changed. Configuration errors are
:class:`~headerware.options.OptionError` naming the option.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from werkzeug.http import http_date

from .._headers import is_safe_value
from .._log import security_event
from ..cookie_names import NameMatcher
from ..core.layer import Layer, Response, ResponseHead
from ..memo import Memo
from ..options import OptionError, boolean, positive_int, string_list
from ..setcookie import SetCookie, parse_attributes, replace_set_cookies, split_set_cookie

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context

__all__ = ["MAX_ATTRIBUTE_SIZE", "MAX_LIFETIME", "CookiePolicy", "CookiePolicyError"]

#: Browsers cap a cookie's lifetime at 400 days (RFC 6265bis section 5.5).
MAX_LIFETIME = 400 * 24 * 3600
#: Browsers ignore an attribute whose value is longer than this (RFC 6265bis 5.6).
MAX_ATTRIBUTE_SIZE = 1024
#: The largest cookie browsers store (name, value and attributes).
MAX_SIZE = 4096

_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_SECURE_MODES = ("auto", "always", "never")
_PER_COOKIE_KEYS = frozenset({"httponly", "samesite", "secure", "partitioned"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: Not allowed in a cookie value: control characters (tab included), DEL, ``;``,
#: and anything outside latin-1 (a WSGI header must be latin-1).
_BAD_VALUE = re.compile(r"[\x00-\x1f\x7f;]|[^\x00-\xff]")


class CookiePolicyError(ValueError):
    """Raised instead of dropping a cookie when ``strict=True``."""

    #: The engine lets it reach the caller instead of answering 500 (strict is for tests).
    propagate = True


class _Rules(NamedTuple):
    """What the policy asks of one cookie (the defaults, or a per-cookie entry)."""

    httponly: bool
    samesite: str
    samesite_forced: bool
    secure: str
    partitioned: bool


class _Outcome(NamedTuple):
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


def _samesite(option: str, value: Any, where: str = "") -> str:
    canonical = _SAMESITE.get(value.lower()) if isinstance(value, str) else None
    if canonical is None:
        raise OptionError(
            option,
            value,
            f"{where}{value!r} is not a SameSite value",
            "use 'Lax', 'Strict' or 'None'",
        )
    return canonical


def _secure_mode(option: str, value: Any, where: str = "") -> str:
    if value not in _SECURE_MODES:
        raise OptionError(
            option, value, f"{where}{value!r} is not a mode", "use 'auto', 'always' or 'never'"
        )
    return str(value)


def _flag(option: str, value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError(option, value, f"{where}{value!r} is not a boolean", "use true or false")
    return value


def _max_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
        raise OptionError(
            "max_size",
            value,
            f"{value!r} must be a whole number from 1 to {MAX_SIZE}",
            "browsers drop larger cookies; e.g. 4096",
        )
    return value


def _check_combination(
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


def _prefix(name: str) -> str:
    lower = name[:9].lower()
    if lower.startswith("__host-"):
        return "__Host-"
    if lower.startswith("__secure-"):
        return "__Secure-"
    return ""


def _per_cookie_entry(key: str, options: Any, defaults: _Rules) -> dict[str, Any]:
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
        clean["samesite"] = _samesite("per_cookie", options["samesite"], f"{where}['samesite']: ")
    if "secure" in options:
        clean["secure"] = _secure_mode("per_cookie", options["secure"], f"{where}['secure']: ")
        if clean["secure"] == "never" and _prefix(key):
            raise OptionError(
                "per_cookie",
                options,
                f"{where}['secure']: 'never' contradicts the {_prefix(key)} prefix, which "
                "browsers accept only with Secure",
                "remove the override",
            )
    _check_combination(
        clean.get("samesite", defaults.samesite),
        clean.get("secure", defaults.secure),
        clean.get("partitioned", defaults.partitioned),
        option="per_cookie",
        where=f"{where}: ",
    )
    return clean


def _per_cookie(
    per_cookie: Mapping[str, Mapping[str, Any]] | None,
    script_readable: tuple[str, ...],
    defaults: _Rules,
) -> dict[str, dict[str, Any]]:
    """``per_cookie`` validated, with every ``script_readable`` name as ``httponly=False``."""
    if per_cookie is not None and not isinstance(per_cookie, Mapping):
        raise OptionError(
            "per_cookie", per_cookie, f"{per_cookie!r} must be a dict", "e.g. {'theme': {...}}"
        )
    overrides = {
        key: _per_cookie_entry(key, options, defaults)
        for key, options in (per_cookie or {}).items()
    }
    for key in script_readable:
        if overrides.get(key, {}).get("httponly") is True:
            raise OptionError(
                "script_readable",
                key,
                f"{key!r} is also per_cookie[{key!r}]['httponly']=True",
                "keep one of the two",
            )
        overrides.setdefault(key, {})["httponly"] = False
    return overrides


# -- the layer ------------------------------------------------------------------------


class CookiePolicy(Layer):
    """Adds HttpOnly/SameSite/Path/Secure to every Set-Cookie and enforces browser rules."""

    name: ClassVar[str] = "cookie_policy"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        httponly: bool = True,
        script_readable: Sequence[str] = (),
        samesite: str = "Lax",
        secure: str = "auto",
        partitioned: bool = False,
        per_cookie: Mapping[str, Mapping[str, Any]] | None = None,
        max_cookies: int = 50,
        max_size: int = 4096,
        clean_request: bool = True,
        strict: bool = False,
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        self.httponly = boolean("httponly", httponly)
        self.samesite = _samesite("samesite", samesite)
        self.secure = _secure_mode("secure", secure)
        self.partitioned = boolean("partitioned", partitioned)
        _check_combination(self.samesite, self.secure, self.partitioned)
        self.max_cookies = positive_int("max_cookies", max_cookies, example="50")
        self.max_size = _max_size(max_size)
        self.clean_request = boolean("clean_request", clean_request)
        self.strict = boolean("strict", strict)
        self.report_only = boolean("report_only", report_only)
        readable = string_list("script_readable", script_readable)
        NameMatcher(readable, option="script_readable")  # names and patterns valid
        self._default_rules = _Rules(
            self.httponly, self.samesite, False, self.secure, self.partitioned
        )
        self.per_cookie = _per_cookie(per_cookie, readable, self._default_rules)
        self._matcher = NameMatcher(self.per_cookie, option="per_cookie")
        self._entry_rules = {
            entry: self._rules_of(options) for entry, options in self.per_cookie.items()
        }
        # Rewritten attributes by (scheme, name, attributes as written): an
        # application writes the same few cookies with the same attributes.
        self._rewrites: Memo[str, _Outcome] = Memo(
            "cookie_policy.rewrite", self._outcome, size=1024, max_key_length=2048
        )
        if not self.clean_request:
            self.handles_request = False

    def _rules_of(self, options: Mapping[str, Any]) -> _Rules:
        return _Rules(
            options.get("httponly", self.httponly),
            options.get("samesite", self.samesite),
            "samesite" in options,
            options.get("secure", self.secure),
            options.get("partitioned", self.partitioned),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "httponly": self.httponly,
            "samesite": self.samesite,
            "secure": self.secure,
            "partitioned": self.partitioned,
            "per_cookie": self.per_cookie,
            "max_cookies": self.max_cookies,
            "max_size": self.max_size,
            "clean_request": self.clean_request,
            "strict": self.strict,
            "report_only": self.report_only,
        }

    # -- request --------------------------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        cookies = ctx.cookies
        if cookies.is_clean:
            return None
        if cookies.dropped:
            security_event(
                "cookie_header_cleaned",
                logging.INFO,
                dropped=cookies.dropped,
                duplicates=sorted(cookies.duplicates),
                **({"report_only": True} if self.report_only else {}),
            )
        if not self.report_only:
            ctx.set_cookies(cookies)
        return None

    # -- response -------------------------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        values = response.get_all("set-cookie")
        if not values:
            return
        secure = ctx.is_secure
        kept = 0
        results: list[str | None] = []
        for value in values:
            name, new, outcome = self._rewrite(value, secure)
            refused = outcome.refused
            if refused is None and len(new) > self.max_size:
                refused = "too_large"
            if refused is None and not outcome.deletion:
                kept += 1
                if kept > self.max_cookies:
                    refused = "too_many"
            if refused is not None:
                self._refuse(name, refused, len(new))
                results.append(value if self.report_only else None)
                continue
            if outcome.fixes:
                security_event(
                    "cookie_fixed",
                    cookie=name,
                    fixes=list(outcome.fixes),
                    **({"report_only": True} if self.report_only else {}),
                )
            results.append(value if self.report_only else new)
        if results != values:
            replace_set_cookies(response, results)

    def _refuse(self, name: str, reason: str, size: int) -> None:
        if self.strict:
            raise CookiePolicyError(
                f"cookie_policy: Set-Cookie {name!r} refused ({reason}, {size} bytes)"
            )
        fields: dict[str, Any] = {"cookie": name, "reason": reason, "size": size}
        if self.report_only:
            fields["report_only"] = True
        security_event("cookie_refused", **fields)

    def _rewrite(self, header: str, secure: bool) -> tuple[str, str, _Outcome]:
        """``(name, new header, outcome)``; the new header is ``header`` when refused."""
        name, value, tail = split_set_cookie(header)
        if not name or _TOKEN.match(name) is None:
            return name[:64], header, _Outcome(tail, (), False, "bad_name")
        if _BAD_VALUE.search(value) is not None:
            return name, header, _Outcome(tail, (), False, "bad_value")
        # The name is a token and the tail starts with ";": the key is unambiguous.
        key = ("s" if secure else "p") + name + tail
        outcome = self._rewrites(key)
        if outcome.valid_until is not None and time.time() >= outcome.valid_until:
            outcome = self._outcome(key)  # an Expires-dependent answer went stale
        if outcome.refused is not None:
            return name, header, outcome
        return name, f"{name}={value}{outcome.tail}", outcome

    def _outcome(self, key: str) -> _Outcome:
        """The policy applied to the attributes of one cookie; ``key`` is
        ``s``/``p`` (https or not), the cookie's name, then its attributes."""
        secure = key[0] == "s"
        name, semi, rest = key[1:].partition(";")
        tail = semi + rest
        if not is_safe_value(tail):
            # CR/LF or another control character in an attribute (a reflected Path or
            # Domain): passing it on would let the application's input split headers.
            return _Outcome(tail, (), False, "bad_attribute")
        cookie = SetCookie(name, "", parse_attributes(tail))
        for _, attr_value in cookie.attrs:
            if attr_value is not None and len(attr_value) > MAX_ATTRIBUTE_SIZE:
                return _Outcome(tail, (), False, "attribute_too_large")
        entry = self._matcher.match(name) if self._matcher else None
        rules = self._default_rules if entry is None else self._entry_rules[entry]
        fixes: list[str] = []
        if rules.httponly and not cookie.has("httponly"):
            cookie.set("HttpOnly")
        samesite = _apply_samesite(cookie, rules, fixes)
        _apply_path(cookie, fixes)
        _apply_secure(cookie, rules, samesite, secure, fixes)
        deletion, valid_until = _apply_lifetime(cookie, fixes)
        return _Outcome(cookie.tail(), tuple(fixes), deletion, None, valid_until)


def _apply_samesite(cookie: SetCookie, rules: _Rules, fixes: list[str]) -> str:
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
    host = _prefix(cookie.name) == "__Host-"
    path = cookie.get("path")
    if host and path is not None and path != "/":
        fixes.append("Path set to / (__Host- cookie)")
        cookie.set("Path", "/")
    elif path is None or not path.startswith("/"):
        cookie.set("Path", "/")
    if host and cookie.remove("domain"):
        fixes.append("Domain removed (__Host- cookie)")


def _apply_secure(
    cookie: SetCookie, rules: _Rules, samesite: str, https: bool, fixes: list[str]
) -> None:
    """``Partitioned`` when asked; ``Secure`` by mode, and wherever browsers require it."""
    partitioned = cookie.has("partitioned")
    if rules.partitioned and not partitioned:
        cookie.set("Partitioned")
        partitioned = True
    if cookie.has("secure"):
        return
    prefix = _prefix(cookie.name)
    if prefix:
        fixes.append(f"Secure added ({prefix} cookie)")
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
