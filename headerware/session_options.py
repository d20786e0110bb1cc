"""Option checks of :class:`~headerware.layers.sessions.Sessions` (one helper per option).

Every bad value raises :class:`~headerware.options.OptionError` naming the bare option.
"""

from __future__ import annotations

from .options import OptionError
from .stores import CookieStore, ServerStore

__all__ = [
    "check_cookie_name",
    "check_samesite",
    "check_scope",
    "check_secure",
    "check_store",
    "check_timeouts",
]

_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_COOKIE_NAME_FORBIDDEN = frozenset(' \t\r\n;,="()<>@:\\/[]?{}')


def check_store(store: object) -> CookieStore | ServerStore:
    if store is None:
        return CookieStore()
    if not isinstance(store, (CookieStore, ServerStore)):
        raise OptionError(
            "store",
            store,
            f"{store!r} is not a session store",
            "use CookieStore(), SQLiteStore(path) or RedisStore(url)",
        )
    return store


def check_cookie_name(cookie_name: object) -> str:
    if (
        not isinstance(cookie_name, str)
        or not cookie_name
        or not cookie_name.isascii()
        or any(char in _COOKIE_NAME_FORBIDDEN for char in cookie_name)
    ):
        raise OptionError(
            "cookie_name",
            cookie_name,
            f"{cookie_name!r} is not a valid cookie name",
            "use letters, digits, '-' and '_', e.g. 'session' or '__Host-session'",
        )
    return cookie_name


def check_samesite(samesite: object) -> str:
    same = _SAMESITE.get(str(samesite).lower())
    if same is None:
        raise OptionError(
            "samesite",
            samesite,
            f"{samesite!r} is not a SameSite value",
            "use 'Lax' (default), 'Strict' or 'None'",
        )
    return same


def check_secure(secure: object, cookie_name: str, samesite: str) -> bool | None:
    """``secure`` as given, forced to True where browsers demand Secure."""
    if secure not in (None, True, False):
        raise OptionError(
            "secure", secure, f"{secure!r} must be None (follow HTTPS), True or False"
        )
    if cookie_name.startswith(("__Host-", "__Secure-")) or samesite == "None":
        if secure is False:
            raise OptionError(
                "secure",
                secure,
                f"False is impossible with cookie_name={cookie_name!r} and "
                f"samesite={samesite!r}: browsers drop such cookies without Secure",
                "remove secure=False",
            )
        return True
    return secure


def check_scope(cookie_name: str, domain: object, path: object) -> tuple[str | None, str]:
    if not isinstance(path, str) or not path.startswith("/") or ";" in path:
        raise OptionError("path", path, f"{path!r} must start with '/' and contain no ';'")
    if domain is not None and (not isinstance(domain, str) or ";" in domain or not domain):
        raise OptionError(
            "domain", domain, f"{domain!r} is not a domain name", "use e.g. 'example.com'"
        )
    if cookie_name.startswith("__Host-") and (domain is not None or path != "/"):
        raise OptionError(
            "cookie_name",
            cookie_name,
            f"{cookie_name!r} (__Host- prefix) requires path='/' and no domain",
            "remove domain= and path=",
        )
    return domain, path


def check_timeouts(
    idle_timeout: object, absolute_timeout: object, refresh_interval: object
) -> tuple[int | None, int | None, int | None]:
    checked: list[int | None] = []
    for option, value in (
        ("idle_timeout", idle_timeout),
        ("absolute_timeout", absolute_timeout),
        ("refresh_interval", refresh_interval),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise OptionError(
                option,
                value,
                f"{value!r} is not a positive number of seconds",
                f"use e.g. {option}=3600, or None to disable",
            )
        checked.append(value)
    idle, absolute, refresh = checked
    if refresh is not None and idle is not None and refresh >= idle:
        raise OptionError(
            "refresh_interval",
            refresh,
            f"{refresh} must be shorter than idle_timeout ({idle}), or an active session "
            "would still time out",
        )
    return idle, absolute, refresh
