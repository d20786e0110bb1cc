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
one) and rewrites them in place, in order, through :mod:`headerware.setcookie`;
the rules themselves (and the validation of these options) are
:mod:`headerware.cookie_rules`.
The rewrite of a cookie's attributes is remembered per scheme, name and attributes
as written (a :class:`~headerware.memo.Memo`: applications write the same few
cookies again and again); an answer that depends on the clock (``Expires``) is
recomputed once it could have changed. Configuration errors are
:class:`~headerware.options.OptionError` naming the option.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._log import security_event
from ..cookie_names import NameMatcher
from ..cookie_rules import (
    MAX_ATTRIBUTE_SIZE,
    MAX_LIFETIME,
    Outcome,
    Rules,
    check_combination,
    evaluate,
    max_size_option,
    per_cookie_option,
    samesite_option,
    secure_option,
)
from ..core.layer import Layer, Response, ResponseHead
from ..memo import Memo
from ..options import boolean, positive_int, string_list
from ..setcookie import SetCookie, replace_set_cookies

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context

__all__ = ["MAX_ATTRIBUTE_SIZE", "MAX_LIFETIME", "CookiePolicy", "CookiePolicyError"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: Not allowed in a cookie value: control characters (tab included), DEL, ``;``,
#: and anything outside latin-1 (a WSGI header must be latin-1).
_BAD_VALUE = re.compile(r"[\x00-\x1f\x7f;]|[^\x00-\xff]")


class CookiePolicyError(ValueError):
    """Raised instead of dropping a cookie when ``strict=True``."""

    #: The engine lets it reach the caller instead of answering 500 (strict is for tests).
    propagate = True


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
        self.samesite = samesite_option("samesite", samesite)
        self.secure = secure_option("secure", secure)
        self.partitioned = boolean("partitioned", partitioned)
        check_combination(self.samesite, self.secure, self.partitioned)
        self.max_cookies = positive_int("max_cookies", max_cookies, example="50")
        self.max_size = max_size_option(max_size)
        self.clean_request = boolean("clean_request", clean_request)
        self.strict = boolean("strict", strict)
        self.report_only = boolean("report_only", report_only)
        self.script_readable = string_list("script_readable", script_readable)
        NameMatcher(self.script_readable, option="script_readable")  # names, patterns valid
        self._default_rules = Rules(
            self.httponly, self.samesite, False, self.secure, self.partitioned
        )
        # As given (describe()), and in effect: script_readable names are entries too.
        self.per_cookie, effective = per_cookie_option(
            per_cookie, self.script_readable, self._default_rules
        )
        self._matcher = NameMatcher(effective, option="per_cookie")
        self._entry_rules = {entry: self._rules_of(options) for entry, options in effective.items()}
        # Rewritten attributes by (scheme, name, attributes as written): an
        # application writes the same few cookies with the same attributes.
        self._rewrites: Memo[str, Outcome] = Memo(
            "cookie_policy.rewrite", self._outcome, size=1024, max_key_length=2048
        )
        if not self.clean_request:
            self.handles_request = False

    def _rules_of(self, options: Mapping[str, Any]) -> Rules:
        return Rules(
            options.get("httponly", self.httponly),
            options.get("samesite", self.samesite),
            "samesite" in options,
            options.get("secure", self.secure),
            options.get("partitioned", self.partitioned),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "httponly": self.httponly,
            "script_readable": list(self.script_readable),
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

    def _rewrite(self, header: str, secure: bool) -> tuple[str, str, Outcome]:
        """``(name, new header, outcome)``; the new header is ``header`` when refused."""
        name, value, tail = SetCookie.split(header)
        if not name or _TOKEN.match(name) is None:
            return name[:64], header, Outcome(tail, (), False, "bad_name")
        if _BAD_VALUE.search(value) is not None:
            return name, header, Outcome(tail, (), False, "bad_value")
        # The name is a token and the tail starts with ";": the key is unambiguous.
        key = ("s" if secure else "p") + name + tail
        outcome = self._rewrites(key)
        if outcome.valid_until is not None and time.time() >= outcome.valid_until:
            outcome = self._outcome(key)  # an Expires-dependent answer went stale
        if outcome.refused is not None:
            return name, header, outcome
        return name, f"{name}={value}{outcome.tail}", outcome

    def _outcome(self, key: str) -> Outcome:
        """The policy applied to the attributes of one cookie; ``key`` is
        ``s``/``p`` (https or not), the cookie's name, then its attributes."""
        name, semi, rest = key[1:].partition(";")
        entry = self._matcher.match(name) if self._matcher else None
        rules = self._default_rules if entry is None else self._entry_rules[entry]
        return evaluate(name, semi + rest, rules, https=key[0] == "s")
