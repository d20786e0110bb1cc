"""Trusted hosts and proxies: which Host the request is for, and who sent it.

``TrustedProxy`` — the one proxy-trust setting
    ``TrustedProxy(x_for=1, x_proto=1)`` rewrites the environ exactly as werkzeug's
    :class:`~werkzeug.middleware.proxy_fix.ProxyFix` does (its own code runs, so
    the hop-selection rule is werkzeug's): for each ``X-Forwarded-*`` header, the
    value set by the n-th trusted proxy from the right, applied only when the
    header holds at least that many values. ``REMOTE_ADDR``, ``wsgi.url_scheme``,
    ``HTTP_HOST``/``SERVER_NAME``/``SERVER_PORT`` and ``SCRIPT_NAME`` are updated;
    the originals are kept under ``headerware.proxy.orig`` (read them with
    :func:`proxy_original`). Default: every count is 0 — trust nothing, change
    nothing — because a header a client can forge must never decide the scheme.
    HSTS, the HTTPS redirect, CORS, CSRF and ``TrustedHosts`` all read the scheme,
    host and client from the environ this layer fixed, so **put it first** in the
    stack (``describe()`` says so for ``headerware check-config``). Behind gunicorn
    with ``forwarded_allow_ips`` the scheme is already set by the server: then leave
    ``x_proto`` at 0.

``TrustedHosts`` — the Host header allow-list
    ``TrustedHosts(allowed_hosts=["example.com", "*.example.com"])`` answers a
    request for any other host with ``400 Bad Request`` and a plain message, and
    logs a ``host_refused`` security event. Entries are exact host names, IP
    addresses (IPv6 in brackets, ``[::1]``) or ``*.example.com`` for every
    subdomain at any depth (not the apex, which is listed on its own). Matching is
    case-insensitive, ignores the port and one trailing dot (``example.com.`` is the
    same name in DNS), and converts Unicode (IDN) entries to their ASCII form at
    start-up. A request without ``Host`` is checked against ``SERVER_NAME``.
    ``report_only=True`` logs the same event (with ``report_only=True``) and lets
    the request through. Why: applications build absolute URLs (password-reset
    links, redirects) from the Host header; an attacker-chosen Host poisons them
    and shared caches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.middleware.proxy_fix import ProxyFix

from .._log import security_event
from ..engine import Context, Layer, Response
from ..origins import canonical_origin

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["TrustedHosts", "TrustedProxy", "proxy_original"]

ORIG_KEY = "headerware.proxy.orig"
_REFUSED = "Bad Request: this server does not serve the requested host"
_HOST_NAME = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*\Z")
_IPV6_LITERAL = re.compile(r"\[[0-9a-f:.]+\]\Z")


def proxy_original(environ: WSGIEnvironment) -> dict[str, Any] | None:
    """The environ values ``TrustedProxy`` replaced, or ``None`` if it did not run."""
    orig = environ.get(ORIG_KEY)
    return orig if isinstance(orig, dict) else None


def _no_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    return ()


class TrustedProxy(Layer):
    """Trust ``X-Forwarded-*`` from a known number of proxies (ProxyFix semantics)."""

    name: ClassVar[str] = "proxy"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        # Every count defaults to 0: trust nothing until the deployment says so.
        x_for: int = 0,
        x_proto: int = 0,
        x_host: int = 0,
        x_port: int = 0,
        x_prefix: int = 0,
    ) -> None:
        super().__init__(app)
        counts = {
            "x_for": x_for,
            "x_proto": x_proto,
            "x_host": x_host,
            "x_port": x_port,
            "x_prefix": x_prefix,
        }
        for option, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"{option}: {value!r} must be the number of trusted proxies that set "
                    "the header (0 = do not trust it)"
                )
        self.counts = counts
        self._active = any(counts.values())
        # werkzeug's own ProxyFix does the rewrite; its "app" is a stub, so no extra
        # WSGI frame is added to the request path.
        self._fix = ProxyFix(_no_app, **counts)

    def on_request(self, ctx: Context) -> Response | None:
        if not self._active:
            return None
        environ = ctx.environ
        self._fix(environ, _no_start_response)
        original = environ["werkzeug.proxy_fix.orig"]
        environ[ORIG_KEY] = original
        scheme = environ.get("wsgi.url_scheme")
        if scheme not in ("http", "https"):
            # ProxyFix copies any X-Forwarded-Proto; only http/https are schemes a
            # WSGI server may report (PEP 3333), so keep the server's own.
            security_event("proxy_scheme_refused", scheme=str(scheme)[:20])
            environ["wsgi.url_scheme"] = original.get("wsgi.url_scheme", "http")
        return None

    def describe(self) -> dict[str, Any]:
        return {
            **self.counts,
            "note": "must be the first layer: every later layer reads the fixed environ",
        }


def _no_start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Any:  # pragma: no cover - the stub app never calls it
    raise AssertionError("TrustedProxy's stub application does not respond")


def _host_name(host: str) -> str | None:
    """The lower-case host of a ``Host`` value without port or trailing dot."""
    host = host.strip(" \t").lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return None
        tail = host[end + 1 :]
        if tail and not (tail[0] == ":" and tail[1:].isdigit()):
            return None
        return host[: end + 1] if _IPV6_LITERAL.match(host[: end + 1]) else None
    name, sep, port = host.partition(":")
    if sep and not port.isdigit():
        return None
    if name.endswith("."):
        name = name[:-1]
    # Only host-name characters: "evil.com#.example.com" is not a subdomain.
    return name if _HOST_NAME.match(name) else None


class TrustedHosts(Layer):
    """Refuse requests whose Host header is not one this application serves."""

    name: ClassVar[str] = "trusted_hosts"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        # No default: an empty list would refuse everything, so it must be given.
        allowed_hosts: Sequence[str],
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        if isinstance(allowed_hosts, str):
            raise ValueError(f"allowed_hosts: give a list, not one string: [{allowed_hosts!r}]")
        exact: set[str] = set()
        suffixes: list[str] = []
        for entry in allowed_hosts:
            if not isinstance(entry, str) or not entry:
                raise ValueError(f"allowed_hosts: {entry!r} must be a host name")
            if entry == "*":
                raise ValueError(
                    "allowed_hosts: '*' allows every host; list the host names this "
                    "application serves, or leave TrustedHosts out"
                )
            wildcard = entry.startswith("*.")
            base = entry[2:] if wildcard else entry
            if "*" in base or (":" in base.strip("[]") and not base.startswith("[")):
                raise ValueError(
                    f"allowed_hosts: {entry!r}: give a host name without port; '*' only as "
                    "a leading '*.' (e.g. '*.example.com')"
                )
            # Reuse the origin normaliser: case, IDNA, IPv6 and character checks.
            host = canonical_origin(f"http://{base}", option="allowed_hosts")[7:]
            host = host.removesuffix(".")
            if wildcard:
                if host.startswith("[") or "." not in host:
                    raise ValueError(
                        f"allowed_hosts: {entry!r} covers a top-level domain or an address; "
                        "name the domain, e.g. '*.example.com'"
                    )
                suffixes.append("." + host)
            else:
                exact.add(host)
        if not exact and not suffixes:
            raise ValueError("allowed_hosts: list at least one host name, e.g. ['example.com']")
        self.report_only = bool(report_only)
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def allows(self, host: str) -> bool:
        """True when the raw ``Host`` value names an allowed host."""
        name = _host_name(host)
        if name is None:
            return False
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    def on_request(self, ctx: Context) -> Response | None:
        environ = ctx.environ
        host = environ.get("HTTP_HOST")
        if host is None:
            host = environ.get("SERVER_NAME", "")
        if self.allows(host):
            return None
        if self.report_only:
            security_event("host_refused", host=host[:200], report_only=True)
            return None
        security_event("host_refused", host=host[:200])
        return Response.text("400 Bad Request", _REFUSED)

    def describe(self) -> dict[str, Any]:
        return {
            "allowed_hosts": sorted(self.exact) + ["*" + s for s in self.suffixes],
            "report_only": self.report_only,
        }
