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
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from werkzeug.http import http_date, parse_date

from .._headers import HeaderList, is_safe_value
from ..cookie_names import NameMatcher
from .._log import security_event
from ..cookies_parse import apply_cookies
from ..engine import Context, Layer, Response
from ..setcookie import SetCookie, parse_attributes

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["CookiePolicy", "CookiePolicyError", "NameMatcher"]

#: Browsers cap a cookie's lifetime at 400 days (RFC 6265bis section 5.5).
MAX_LIFETIME = 400 * 24 * 3600
#: Browsers ignore an attribute whose value is longer than this (RFC 6265bis 5.6).
MAX_ATTRIBUTE_SIZE = 1024
#: Rewrites remembered per (name, attributes, scheme); cleared when full.
_CACHE_SIZE = 1024

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
    httponly: bool
    samesite: str
    samesite_forced: bool
    secure: str
    partitioned: bool


class _Outcome(NamedTuple):
    tail: str
    fixes: tuple[str, ...]
    changed: bool
    deletion: bool
    refused: str | None


def _check_samesite(value: Any, option: str) -> str:
    canonical = _SAMESITE.get(value.lower()) if isinstance(value, str) else None
    if canonical is None:
        raise ValueError(
            f"{option}: {value!r} is not a SameSite value; use 'Lax', 'Strict' or 'None'"
        )
    return canonical


def _check_secure(value: Any, option: str) -> str:
    if value not in _SECURE_MODES:
        raise ValueError(f"{option}: {value!r} is not a mode; use 'auto', 'always' or 'never'")
    return str(value)


def _check_bool(value: Any, option: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{option}: {value!r} is not a boolean; use True or False")
    return value


def _prefix(name: str) -> str:
    lower = name[:9].lower()
    if lower.startswith("__host-"):
        return "__Host-"
    if lower.startswith("__secure-"):
        return "__Secure-"
    return ""


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
        self.httponly = _check_bool(httponly, "httponly")
        if isinstance(script_readable, str):
            raise ValueError(
                f"script_readable: {script_readable!r} is a string; pass a list of names, "
                f"e.g. script_readable=[{script_readable!r}]"
            )
        self.samesite = _check_samesite(samesite, "samesite")
        self.secure = _check_secure(secure, "secure")
        self.partitioned = _check_bool(partitioned, "partitioned")
        if isinstance(max_cookies, bool) or not isinstance(max_cookies, int) or max_cookies < 1:
            raise ValueError(f"max_cookies: {max_cookies!r} must be a positive integer, e.g. 50")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or not 1 <= max_size <= 4096:
            raise ValueError(
                f"max_size: {max_size!r} must be an integer from 1 to 4096 (browsers drop "
                "larger cookies)"
            )
        self.max_cookies = max_cookies
        self.max_size = max_size
        self.clean_request = _check_bool(clean_request, "clean_request")
        self.strict = _check_bool(strict, "strict")
        self.report_only = _check_bool(report_only, "report_only")
        # The engine's shared scan: without a Set-Cookie, the response hook has
        # nothing to do (``_on_clean`` stays the base no-op).
        self._watched = frozenset({"set-cookie"})
        self._check_combination("samesite/secure", self.samesite, self.secure, self.partitioned)

        overrides: dict[str, dict[str, Any]] = {}
        for key, options in (per_cookie or {}).items():
            option = f"per_cookie[{key!r}]"
            if not isinstance(options, Mapping):
                raise ValueError(f"{option}: {options!r} must be a dict of cookie options")
            unknown = set(options) - _PER_COOKIE_KEYS
            if unknown:
                raise ValueError(
                    f"{option}: unknown option(s) {sorted(unknown)}; use {sorted(_PER_COOKIE_KEYS)}"
                )
            clean: dict[str, Any] = {}
            if "httponly" in options:
                clean["httponly"] = _check_bool(options["httponly"], f"{option}['httponly']")
            if "samesite" in options:
                clean["samesite"] = _check_samesite(options["samesite"], f"{option}['samesite']")
            if "secure" in options:
                clean["secure"] = _check_secure(options["secure"], f"{option}['secure']")
                if clean["secure"] == "never" and _prefix(key):
                    raise ValueError(
                        f"{option}['secure']: 'never' contradicts the {_prefix(key)} prefix, "
                        "which browsers accept only with Secure; remove the override"
                    )
            if "partitioned" in options:
                clean["partitioned"] = _check_bool(
                    options["partitioned"], f"{option}['partitioned']"
                )
            self._check_combination(
                option,
                clean.get("samesite", self.samesite),
                clean.get("secure", self.secure),
                clean.get("partitioned", self.partitioned),
            )
            overrides[key] = clean
        for key in script_readable:
            if overrides.get(key, {}).get("httponly") is True:
                raise ValueError(
                    f"script_readable: {key!r} is also per_cookie[{key!r}]['httponly']=True; "
                    "keep one of the two"
                )
            overrides.setdefault(key, {})["httponly"] = False
        self.per_cookie = {key: dict(value) for key, value in overrides.items()}
        self._matcher = NameMatcher(overrides, option="per_cookie")
        self._default_rules = _Rules(
            self.httponly, self.samesite, False, self.secure, self.partitioned
        )
        self._rules_cache: dict[str, _Rules] = {}
        self._cache: dict[tuple[str, str, bool], _Outcome] = {}

    @staticmethod
    def _check_combination(option: str, samesite: str, secure: str, partitioned: bool) -> None:
        if secure == "never" and samesite == "None":
            raise ValueError(
                f"{option}: SameSite=None with secure='never' would be rejected by browsers "
                "(SameSite=None requires Secure); use secure='auto' or samesite='Lax'"
            )
        if secure == "never" and partitioned:
            raise ValueError(
                f"{option}: partitioned=True with secure='never' would be rejected by "
                "browsers (Partitioned requires Secure); use secure='auto'"
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
        if not self.clean_request or not ctx.environ.get("HTTP_COOKIE"):
            return None
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
            apply_cookies(ctx, cookies)
        return None

    # -- response -------------------------------------------------------------

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        for key, _ in headers:
            if len(key) == 10 and key.lower() == "set-cookie":
                break
        else:
            return None
        self._rewrite_all(ctx.is_secure, headers)
        return None

    def _rewrite_all(self, secure: bool, headers: HeaderList) -> None:
        out: HeaderList = []
        kept = 0
        report = self.report_only
        for item in headers:
            key, value = item
            if len(key) != 10 or key.lower() != "set-cookie":
                out.append(item)
                continue
            name, new, outcome = self._rewrite(value, secure)
            refused = outcome.refused if outcome is not None else "bad_name"
            if refused is None and new is not None and len(new) > self.max_size:
                refused = "too_large"
            if refused is None and outcome is not None and not outcome.deletion:
                kept += 1
                if kept > self.max_cookies:
                    refused = "too_many"
            if refused is not None:
                self._refuse(name, refused, len(new if new is not None else value))
                if report:
                    out.append(item)
                continue
            assert outcome is not None and new is not None
            if outcome.fixes:
                security_event(
                    "cookie_fixed",
                    cookie=name,
                    fixes=list(outcome.fixes),
                    **({"report_only": True} if report else {}),
                )
            if report or not outcome.changed:
                out.append(item)
            else:
                out.append((key, new))
        headers[:] = out

    def _refuse(self, name: str, reason: str, size: int) -> None:
        if self.strict:
            raise CookiePolicyError(
                f"cookie_policy: Set-Cookie {name!r} refused ({reason}, {size} bytes)"
            )
        fields: dict[str, Any] = {"cookie": name, "reason": reason, "size": size}
        if self.report_only:
            fields["report_only"] = True
        security_event("cookie_refused", **fields)

    def _rewrite(self, header: str, secure: bool) -> tuple[str, str | None, _Outcome | None]:
        """``(name, new header, outcome)``; ``outcome`` is ``None`` for a bad name."""
        head, semi, rest = header.partition(";")
        name, eq, value = head.partition("=")
        name = name.strip(" \t")
        if not eq or _TOKEN.match(name) is None:
            return name[:64], None, None
        value = value.strip(" \t")
        if _BAD_VALUE.search(value) is not None:
            return name, None, _Outcome("", (), False, False, "bad_value")
        tail = semi + rest
        cache_key = (name, tail, secure)
        outcome = self._cache.get(cache_key)
        if outcome is None:
            outcome, cacheable = self._rewrite_tail(name, tail, secure)
            if cacheable:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache[cache_key] = outcome
        if outcome.refused is not None:
            return name, header, outcome
        return name, f"{name}={value}{outcome.tail}", outcome

    def _rules(self, name: str) -> _Rules:
        rules = self._rules_cache.get(name)
        if rules is not None:
            return rules
        entry = self._matcher.match(name) if self._matcher else None
        if entry is None:
            rules = self._default_rules
        else:
            options = self.per_cookie[entry]
            rules = _Rules(
                options.get("httponly", self.httponly),
                options.get("samesite", self.samesite),
                "samesite" in options,
                options.get("secure", self.secure),
                options.get("partitioned", self.partitioned),
            )
        if len(self._rules_cache) >= _CACHE_SIZE:
            self._rules_cache.clear()
        self._rules_cache[name] = rules
        return rules

    def _rewrite_tail(self, name: str, tail: str, secure: bool) -> tuple[_Outcome, bool]:
        """Apply the policy to the attributes of cookie ``name``; ``(outcome, cacheable)``."""
        rules = self._rules(name)
        if not is_safe_value(tail):
            # CR/LF or another control character in an attribute (a reflected Path or
            # Domain): passing it on would let the application's input split headers.
            return _Outcome(tail, (), False, False, "bad_attribute"), True
        cookie = SetCookie(name, "", parse_attributes(tail))
        for _, attr_value in cookie.attrs:
            if attr_value is not None and len(attr_value) > MAX_ATTRIBUTE_SIZE:
                return _Outcome(tail, (), False, False, "attribute_too_large"), True
        fixes: list[str] = []
        cacheable = True
        prefix = _prefix(name)
        now = time.time()

        if rules.httponly and not cookie.has("httponly"):
            cookie.set("HttpOnly")

        samesite = cookie.get("samesite")
        if rules.samesite_forced:
            if samesite is None or _SAMESITE.get(samesite.lower()) != rules.samesite:
                cookie.set("SameSite", rules.samesite)
            samesite = rules.samesite
        elif samesite is None:
            cookie.set("SameSite", rules.samesite)
            samesite = rules.samesite
        else:
            canonical = _SAMESITE.get(samesite.lower())
            if canonical is None:
                fixes.append(f"SameSite={samesite} is not valid; set to {rules.samesite}")
                cookie.set("SameSite", rules.samesite)
                samesite = rules.samesite
            else:
                samesite = canonical

        path = cookie.get("path")
        if prefix == "__Host-" and path is not None and path != "/":
            fixes.append("Path set to / (__Host- cookie)")
            cookie.set("Path", "/")
        elif path is None or not path.startswith("/"):
            cookie.set("Path", "/")
        if prefix == "__Host-" and cookie.remove("domain"):
            fixes.append("Domain removed (__Host- cookie)")

        partitioned = cookie.has("partitioned")
        if rules.partitioned and not partitioned:
            cookie.set("Partitioned")
            partitioned = True

        if not cookie.has("secure"):
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
            elif rules.secure == "always" or (rules.secure == "auto" and secure):
                cookie.set("Secure")

        deletion = False
        max_age = cookie.get("max-age")
        if max_age is not None:
            try:
                seconds = int(max_age)
            except ValueError:
                seconds = None
            if seconds is not None:
                deletion = seconds <= 0
                if seconds > MAX_LIFETIME:
                    fixes.append("Max-Age capped at 400 days")
                    cookie.set("Max-Age", str(MAX_LIFETIME))
        expires = cookie.get("expires")
        if expires is not None:
            date = parse_date(expires)
            if date is not None:
                when = date.timestamp()
                if max_age is None and when <= now:
                    deletion = True
                if when > now + MAX_LIFETIME:
                    fixes.append("Expires capped at 400 days")
                    cookie.set("Expires", http_date(now + MAX_LIFETIME))
                    cacheable = False
                elif when > now and max_age is None:
                    # Becomes a deletion once past: do not remember "not a deletion".
                    cacheable = False

        rendered = cookie.render()
        new_tail = rendered[len(name) + 1 :]
        return _Outcome(new_tail, tuple(fixes), new_tail != tail, deletion, None), cacheable
