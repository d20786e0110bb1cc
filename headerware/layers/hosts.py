"""Trusted hosts and proxies: which Host the request is for, and who sent it.

``TrustedProxy`` — the one proxy-trust setting
    ``TrustedProxy(x_for=1, x_proto=1)`` trusts the ``X-Forwarded-*`` headers set
    by a known number of proxies, with the hop-selection rule of werkzeug's
    :class:`~werkzeug.middleware.proxy_fix.ProxyFix`: for each header, the value
    set by the n-th trusted proxy from the right (``values[-n]`` of the
    comma-separated list), applied only when the header holds at least that many
    values. ``x_for`` sets the client address, ``x_proto`` the scheme (``http`` or
    ``https`` only: anything else is refused with a ``proxy_scheme_refused``
    security event and the server's scheme is kept), ``x_host`` the Host (a port in
    it becomes the server port), ``x_port`` the port (also written into the Host),
    ``x_prefix`` the mount prefix (``SCRIPT_NAME``). The layer applies them through
    the context (``ctx.set_origin``), so every later layer and the application see
    the fixed values; the originals are published under ``headerware.proxy.orig``
    (read them with :func:`proxy_original`: a dict with the WSGI names
    ``REMOTE_ADDR``, ``wsgi.url_scheme``, ``HTTP_HOST``, ``SERVER_PORT`` and
    ``SCRIPT_NAME``). Default: every count is 0 — trust nothing, change nothing —
    because a header a client can forge must never decide the scheme. HSTS, the
    HTTPS redirect, CORS, CSRF and ``TrustedHosts`` all read the scheme, host and
    client this layer fixed, so **put it first** in the stack. Behind gunicorn with
    ``forwarded_allow_ips`` the scheme is already set by the server: then leave
    ``x_proto`` at 0. Under ASGI the same fix applies to WebSocket handshakes
    (``ws``/``wss`` follow ``http``/``https``).

``TrustedHosts`` — the Host header allow-list
    ``TrustedHosts(allowed_hosts=["example.com", "*.example.com"])`` answers a
    request for any other host with ``400 Bad Request`` — a short message, "this
    server does not serve the requested host", as JSON, HTML or text as the
    client's ``Accept`` prefers (:func:`headerware.responses.error_response`) —
    and logs a ``host_refused`` security event. Entries are exact host names, IP
    addresses (IPv6 in brackets, ``[::1]``) or ``*.example.com`` for every
    subdomain at any depth (not the apex, which is listed on its own). Matching is
    case-insensitive, ignores the port and one trailing dot (``example.com.`` is the
    same name in DNS), and converts Unicode (IDN) entries to their ASCII form at
    start-up. A request without ``Host`` is checked against the server's name.
    ``report_only=True`` logs the same event (with ``report_only=True``) and lets
    the request through. Under ASGI a WebSocket handshake for a foreign host is
    refused the same way, before the socket is accepted.
    Why: applications build absolute URLs (password-reset links, redirects) from
    the Host header; an attacker-chosen Host poisons them and shared caches.

    ``exempt_paths`` (none) — health checks: load balancers probe each instance
    by its IP address (``Host: 10.0.0.5``), which no allow-list should have to
    name. ``TrustedHosts(allowed_hosts=[...], exempt_paths=["/healthz"])`` lets
    ``GET /healthz`` through with any Host, while every other path still refuses a
    foreign one. Patterns of :mod:`headerware.paths`; an exemption is laxer, so it
    applies only when the raw *and* the resolved path both match
    (:meth:`~headerware.paths.PathSet.both`: ``/healthz/..%2fadmin`` is not
    exempt). List exact paths, and let the health endpoint answer a fixed body
    that builds nothing from the Host; ``/x/*`` would exempt a whole subtree. The
    HTTPS redirect has the same kind of exemption
    (:class:`~headerware.layers.https_redirect.HTTPSRedirect`'s ``exempt``), for
    probes that speak plain HTTP.

Configuration mistakes raise :class:`~headerware.options.OptionError` naming the
option (``x_for``, ``allowed_hosts``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from werkzeug.http import parse_list_header

from .._log import security_event
from ..core.layer import Layer, Response
from ..options import OptionError, boolean
from ..origins import canonical_origin
from ..paths import PathSet
from ..responses import error_response

if TYPE_CHECKING:
    from ..core.context import Context

__all__ = ["TrustedHosts", "TrustedProxy", "proxy_original"]

ORIG_KEY = "headerware.proxy.orig"
_REFUSED = "this server does not serve the requested host"
_HOST_NAME = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*\Z")
_IPV6_LITERAL = re.compile(r"\[[0-9a-f:.]+\]\Z")
_COUNTS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
_SCHEMES = ("http", "https")


def proxy_original(environ: Mapping[str, Any]) -> dict[str, Any] | None:
    """The values ``TrustedProxy`` replaced (WSGI names), or ``None`` if it did not run."""
    orig = environ.get(ORIG_KEY)
    return orig if isinstance(orig, dict) else None


def _forwarded(trusted: int, value: str | None) -> str | None:
    """The value the ``trusted``-th proxy from the right set, if the list is that long."""
    if not (trusted and value):
        return None
    values = parse_list_header(value)
    if len(values) >= trusted:
        return values[-trusted] or None
    return None


def _split_port(host: str) -> tuple[str, str | None]:
    """``host`` and its port (``None`` when it has none; an IPv6 literal keeps ``[]``)."""
    if ":" in host and not host.endswith("]"):
        name, port = host.rsplit(":", 1)
        return name, port
    return host, None


class TrustedProxy(Layer):
    """Trust ``X-Forwarded-*`` from a known number of proxies (ProxyFix's hop rule)."""

    name: ClassVar[str] = "proxy"

    def __init__(
        self,
        app: Any = None,
        *,
        # Every count defaults to 0: trust nothing until the deployment says so.
        x_for: int = 0,
        x_proto: int = 0,
        x_host: int = 0,
        x_port: int = 0,
        x_prefix: int = 0,
    ) -> None:
        super().__init__(app)
        self.x_for = _count("x_for", x_for)
        self.x_proto = _count("x_proto", x_proto)
        self.x_host = _count("x_host", x_host)
        self.x_port = _count("x_port", x_port)
        self.x_prefix = _count("x_prefix", x_prefix)
        self.counts = {option: getattr(self, option) for option in _COUNTS}
        if not any(self.counts.values()):
            self.handles_request = self.handles_websocket = False  # trusts nothing

    def on_request(self, ctx: Context) -> Response | None:
        ctx.publish(
            ORIG_KEY,
            {
                "REMOTE_ADDR": ctx.client,
                "wsgi.url_scheme": ctx.scheme,
                "HTTP_HOST": ctx.header("host"),
                "SERVER_PORT": ctx.server_port,
                "SCRIPT_NAME": ctx.root_path,
            },
        )
        client = _forwarded(self.x_for, ctx.header("x-forwarded-for"))
        scheme = _forwarded(self.x_proto, ctx.header("x-forwarded-proto"))
        if scheme is not None and scheme not in _SCHEMES:
            # Only http/https are schemes a server may report (PEP 3333).
            security_event("proxy_scheme_refused", scheme=scheme[:20])
            scheme = None
        host, port = self._host_and_port(ctx)
        prefix = _forwarded(self.x_prefix, ctx.header("x-forwarded-prefix"))
        if client or scheme or host or port or prefix:
            ctx.set_origin(scheme=scheme, host=host, port=port, client=client, root_path=prefix)
        return None

    def on_websocket(self, ctx: Context) -> Response | None:
        """The same fix on a WebSocket handshake (what an origin check compares with)."""
        self.on_request(ctx)
        return None

    def _host_and_port(self, ctx: Context) -> tuple[str | None, str | None]:
        """The forwarded Host and port to apply (``None``: keep the server's)."""
        host = _forwarded(self.x_host, ctx.header("x-forwarded-host"))
        port: str | None = None
        if host is not None:
            port = _split_port(host)[1]
        forwarded_port = _forwarded(self.x_port, ctx.header("x-forwarded-port"))
        if forwarded_port is not None:
            current = host if host is not None else ctx.header("host")
            if current:
                host = f"{_split_port(current)[0]}:{forwarded_port}"
            port = forwarded_port
        return host, port

    def describe(self) -> dict[str, Any]:
        return dict(self.counts)


def _count(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OptionError(
            option,
            value,
            f"{value!r} must be the number of trusted proxies that set the header",
            "a whole number >= 0 (0 = do not trust it)",
        )
    return value


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


def _allowed_entry(entry: object) -> tuple[str, bool]:
    """``(host, is_wildcard)`` of one ``allowed_hosts`` entry, normalised."""
    option = "allowed_hosts"
    if not isinstance(entry, str) or not entry:
        raise OptionError(option, entry, f"{entry!r} must be a host name", "e.g. 'example.com'")
    if entry == "*":
        raise OptionError(
            option,
            entry,
            "'*' allows every host",
            "list the host names this application serves, or leave TrustedHosts out",
        )
    wildcard = entry.startswith("*.")
    base = entry[2:] if wildcard else entry
    if "*" in base or (":" in base.strip("[]") and not base.startswith("[")):
        raise OptionError(
            option,
            entry,
            f"{entry!r}: give a host name without port",
            "'*' only as a leading '*.' (e.g. '*.example.com')",
        )
    # Reuse the origin normaliser: case, IDNA, IPv6 and character checks.
    host = canonical_origin(f"http://{base}", option=option)[7:].removesuffix(".")
    if wildcard and (host.startswith("[") or "." not in host):
        raise OptionError(
            option,
            entry,
            f"{entry!r} covers a top-level domain or an address",
            "name the domain, e.g. '*.example.com'",
        )
    return host, wildcard


class TrustedHosts(Layer):
    """Refuse requests whose Host header is not one this application serves."""

    name: ClassVar[str] = "trusted_hosts"

    def __init__(
        self,
        app: Any = None,
        *,
        # No default: an empty list would refuse everything, so it must be given.
        allowed_hosts: Sequence[str],
        report_only: bool = False,
        # No exemptions unless named: health checks by IP address opt in.
        exempt_paths: Sequence[str] = (),
    ) -> None:
        super().__init__(app)
        if isinstance(allowed_hosts, str):
            raise OptionError(
                "allowed_hosts",
                allowed_hosts,
                "give a list, not one string",
                f"write [{allowed_hosts!r}]",
            )
        exact: set[str] = set()
        suffixes: list[str] = []
        for entry in allowed_hosts:
            host, wildcard = _allowed_entry(entry)
            if wildcard:
                suffixes.append("." + host)
            else:
                exact.add(host)
        if not exact and not suffixes:
            raise OptionError(
                "allowed_hosts",
                allowed_hosts,
                "list at least one host name",
                "e.g. ['example.com']",
            )
        self.report_only = boolean("report_only", report_only)
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self.exempt_paths = PathSet(exempt_paths, option="exempt_paths")

    def allows(self, host: str) -> bool:
        """True when the raw ``Host`` value names an allowed host."""
        name = _host_name(host)
        if name is None:
            return False
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    def on_request(self, ctx: Context) -> Response | None:
        host = ctx.host
        if self.allows(host):
            return None
        if self.exempt_paths and self.exempt_paths.both(ctx):
            return None  # a health check by IP address: raw and resolved path exempt
        if self.report_only:
            security_event("host_refused", host=host[:200], report_only=True)
            return None
        security_event("host_refused", host=host[:200])
        return error_response(ctx, "400 Bad Request", _REFUSED)

    def on_websocket(self, ctx: Context) -> Response | None:
        """A WebSocket handshake for a foreign host is refused (closed) the same way."""
        return self.on_request(ctx)

    def describe(self) -> dict[str, Any]:
        return {
            "allowed_hosts": sorted(self.exact) + ["*" + s for s in self.suffixes],
            "report_only": self.report_only,
            "exempt_paths": list(self.exempt_paths.patterns),
        }
