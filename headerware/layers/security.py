"""Security headers: helmet's modern set, HSTS on HTTPS, an optional HTTPS redirect.

:class:`SecurityHeaders` (config name ``security_headers``) adds the response
headers that every site should send, with the defaults of helmet 8 (Node's
reference middleware) and OWASP's Secure Headers project, and removes the headers
that only advertise the software stack. Content-Security-Policy is a layer of its
own (``headerware.layers.csp``).

Defaults, each an option taking a string (the value to send), ``True`` (the
default value) or ``None``/``False`` (do not send it):

``cross_origin_opener_policy="same-origin"``
    Own browsing-context group: no cross-window Spectre or XS-leaks.
``cross_origin_resource_policy="same-origin"``
    Other sites cannot load the responses as subresources.
``cross_origin_embedder_policy=None``
    ``require-corp`` (``True``) breaks third-party embeds, so it is opt-in.
``origin_agent_cluster="?1"``
    Origin-keyed agent cluster (helmet's default).
``permissions_policy=True``
    The restrictive :data:`DEFAULT_PERMISSIONS_POLICY`: camera, microphone,
    geolocation, USB, payment and the other powerful features off.
``referrer_policy="no-referrer"``
    helmet's default: no URL ever leaks to another site (see below).
``x_content_type_options="nosniff"``
    No MIME sniffing of text into script or HTML.
``x_dns_prefetch_control="off"``
    No DNS prefetches leaking the links of a page.
``x_download_options="noopen"``
    IE8: downloads are not opened in the site's context.
``x_frame_options="DENY"``
    No framing at all. helmet says SAMEORIGIN; the examples' contract and OWASP's
    REST advice say DENY. Allow specific framers with CSP ``frame-ancestors``.
``x_permitted_cross_domain_policies="none"``
    No Flash/PDF cross-domain policy files.
``x_xss_protection="0"``
    The old XSS auditor is itself an XS-leak; tell old browsers to switch it off.

``Referrer-Policy``: the MDN HTTP Observatory gives the same bonus to
``no-referrer``, ``same-origin``, ``strict-origin`` and
``strict-origin-when-cross-origin``; ``no-referrer`` is helmet's default and the
most private, ``strict-origin-when-cross-origin`` (the browsers' own default) is
the usual relaxation for sites whose analytics need the origin.

``permissions_policy`` takes a string (sent as is) or a mapping feature ->
allowlist, e.g. ``{"geolocation": ["self", "https://maps.example"], "camera": []}``
rendered as ``geolocation=(self "https://maps.example"), camera=()``.

Strict-Transport-Security
    Sent only on secure requests: ``ctx.is_secure``, i.e. the scheme the server
    computed (put a proxy-trust layer in front when TLS ends at a proxy; this layer
    never reads ``X-Forwarded-Proto``). Browsers ignore HSTS over plain HTTP, and
    sending it there would teach nothing but wrong habits. ``hsts=True``,
    ``hsts_max_age=31536000`` (one year, the preload list's minimum),
    ``hsts_include_subdomains=True`` (helmet's default; a subdomain on plain HTTP
    is a cookie-injection hole), ``hsts_preload=False`` (preloading is a one-way
    door: opt in). ``hsts_preload=True`` without a max-age of at least a year and
    includeSubDomains fails at start-up, as the preload list would refuse it.

Removed headers
    ``remove_headers=("X-Powered-By", "Server")``: both only tell an attacker which
    software and version to aim at. The front server adds its own ``Server`` anyway
    (gunicorn replaces the app's); removing the app's one matters for apps that
    relay an upstream's headers.

Profiles by Content-Type
    JSON responses (``application/json`` and any ``application/*+json`` type, as
    :func:`headerware._headers.is_json` decides for every layer) are not documents:
    no browser renders them in a window, so the document-only headers (COOP, COEP,
    Origin-Agent-Cluster, Permissions-Policy, X-DNS-Prefetch-Control,
    X-Download-Options, X-Permitted-Cross-Domain-Policies, X-XSS-Protection) are
    noise there. ``json_headers`` names what a JSON response gets; by default
    HSTS, nosniff, X-Frame-Options, Referrer-Policy and CORP (OWASP's REST
    advice). ``json_headers=None`` sends the full set everywhere. Every other
    response (HTML, text, images, no Content-Type at all) gets the full set: a
    response that might be rendered as a document is treated as one.

Merge policy
    ``merge="overwrite"`` (default): headerware's value replaces the app's. The
    point of the layer is one place that guarantees the policy, whatever a
    framework, an extension or stale code sets (a leftover ``X-XSS-Protection:
    1; mode=block`` or ``X-Frame-Options: SAMEORIGIN``); exceptions belong in the
    configuration (per-route rules), where they can be reviewed. ``merge="keep"``
    leaves a header the app set alone and only fills in the missing ones. The
    removed headers are removed either way.

HTTPS redirect
    ``https_redirect=False``. When on, a plain-HTTP request is answered with a
    redirect to the same host (as the client named it), mount prefix, path and
    query on ``https_port`` (443). ``https_redirect_status=301`` for GET and HEAD
    (301, 302, 307 or 308); other methods get the method-preserving equivalent
    (301 -> 308, 302 -> 307) so a POST is never silently turned into a GET.
    ``https_redirect_exempt=()``: path patterns (:mod:`headerware.paths`: ``/x``
    exact, ``/x/*`` for ``/x`` and everything below it, ``/x/`` for the subtree
    without ``/x``) answered over HTTP anyway, e.g. a load balancer's ``/healthz``
    or ``/.well-known/acme-challenge/*``. An exemption is laxer, so it applies only
    when the raw and the resolved path both match (``/.well-known/a/../../admin``
    is redirected). A Host header that is not a valid host gets a 400 instead of a
    redirect. ``report_only=True`` logs the redirect it would have sent (event
    ``https_redirect``) and serves the request.

Configuration errors
    Every bad option fails at construction with an
    :class:`~headerware.options.OptionError` naming the option (``hsts_max_age``,
    ``x_frame_options``, ...), the value and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from .._headers import HOP_BY_HOP, is_json, is_safe_value, is_token
from .._log import security_event
from ..core.layer import Layer, Response
from ..options import OptionError, boolean, choice, seconds
from ..paths import PathSet

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context
    from ..core.layer import ResponseHead

__all__ = ["DEFAULT_PERMISSIONS_POLICY", "SecurityHeaders", "render_permissions_policy"]

ONE_YEAR = 31536000

#: Powerful features a typical site never uses, all switched off (``feature=()``).
DEFAULT_PERMISSIONS_POLICY: Mapping[str, Sequence[str]] = {
    "accelerometer": (),
    "browsing-topics": (),
    "camera": (),
    "display-capture": (),
    "geolocation": (),
    "gyroscope": (),
    "hid": (),
    "magnetometer": (),
    "microphone": (),
    "midi": (),
    "payment": (),
    "screen-wake-lock": (),
    "serial": (),
    "usb": (),
    "xr-spatial-tracking": (),
}

#: option -> (header name, default value, allowed values or None for free-form).
_OPTIONS: dict[str, tuple[str, str | None, frozenset[str] | None]] = {
    "cross_origin_opener_policy": (
        "Cross-Origin-Opener-Policy",
        "same-origin",
        frozenset(
            {"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}
        ),
    ),
    "cross_origin_resource_policy": (
        "Cross-Origin-Resource-Policy",
        "same-origin",
        frozenset({"same-origin", "same-site", "cross-origin"}),
    ),
    "cross_origin_embedder_policy": (
        "Cross-Origin-Embedder-Policy",
        "require-corp",  # the value ``True`` selects; off unless asked for
        frozenset({"require-corp", "credentialless", "unsafe-none"}),
    ),
    "origin_agent_cluster": ("Origin-Agent-Cluster", "?1", frozenset({"?1", "?0"})),
    "permissions_policy": ("Permissions-Policy", None, None),
    "referrer_policy": ("Referrer-Policy", "no-referrer", None),
    "x_content_type_options": ("X-Content-Type-Options", "nosniff", frozenset({"nosniff"})),
    "x_dns_prefetch_control": ("X-DNS-Prefetch-Control", "off", frozenset({"off", "on"})),
    "x_download_options": ("X-Download-Options", "noopen", frozenset({"noopen"})),
    "x_frame_options": ("X-Frame-Options", "DENY", frozenset({"deny", "sameorigin"})),
    "x_permitted_cross_domain_policies": (
        "X-Permitted-Cross-Domain-Policies",
        "none",
        frozenset({"none", "master-only", "by-content-type", "by-ftp-filename", "all"}),
    ),
    "x_xss_protection": ("X-XSS-Protection", "0", frozenset({"0", "1", "1; mode=block"})),
}
_HSTS = "Strict-Transport-Security"
#: Every header this layer may send, lower-case.
_KNOWN = frozenset({header.lower() for header, _, _ in _OPTIONS.values()} | {_HSTS.lower()})

_REFERRER_POLICIES = frozenset(
    {
        "no-referrer",
        "no-referrer-when-downgrade",
        "origin",
        "origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    }
)

#: What a JSON response gets by default (OWASP REST Security Cheat Sheet).
_JSON_DEFAULT = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Resource-Policy",
)

_FEATURE = re.compile(r"[a-z][a-z0-9-]*\Z")
_ORIGIN = re.compile(
    r"(https?|wss?)://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z|(https?|wss?)://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?\Z"
)
_HOST = re.compile(r"([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?\Z")
#: Configured status -> (status for GET/HEAD, method-preserving status for the rest).
_REDIRECT_STATUS = {
    301: ("301 Moved Permanently", "308 Permanent Redirect"),
    302: ("302 Found", "307 Temporary Redirect"),
    307: ("307 Temporary Redirect", "307 Temporary Redirect"),
    308: ("308 Permanent Redirect", "308 Permanent Redirect"),
}
#: Characters of a decoded path left as they are in a Location (WHATWG path segment).
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
#: The raw query string is already percent-encoded by the client: keep ``%``.
_QUERY_SAFE = "/!$&'()*+,;=:@-._~?%"

Headers = tuple[tuple[str, str], ...]


# -- option validators -----------------------------------------------------------------


def render_permissions_policy(
    policy: Mapping[str, Sequence[str] | str], *, option: str = "permissions_policy"
) -> str:
    """``{"camera": [], "geolocation": ["self"]}`` -> ``camera=(), geolocation=(self)``."""
    parts = []
    for feature, allow in policy.items():
        if not isinstance(feature, str) or _FEATURE.match(feature) is None:
            raise OptionError(
                option,
                feature,
                f"{feature!r} is not a feature name",
                "use lower-case names such as 'camera' or 'geolocation'",
            )
        entries = [allow] if isinstance(allow, str) else list(allow)
        rendered = []
        for entry in entries:
            if entry in ("self", "src", "*"):
                rendered.append(entry)
            elif isinstance(entry, str) and _ORIGIN.match(entry):
                rendered.append(f'"{entry}"')
            else:
                raise OptionError(
                    option,
                    entry,
                    f"{feature}={entry!r} is not an allowlist entry",
                    "use 'self', 'src', '*' or an origin like 'https://example.com'",
                )
        parts.append(f"{feature}=*" if "*" in rendered else f"{feature}=({' '.join(rendered)})")
    return ", ".join(parts)


def _header_value(option: str, value: object) -> str | None:
    """The value to send for one header option (``None``: send nothing)."""
    header, default, allowed = _OPTIONS[option]
    if value is None or value is False:
        return None
    if value is True:
        if option == "permissions_policy":
            return render_permissions_policy(DEFAULT_PERMISSIONS_POLICY)
        return default
    if option == "permissions_policy" and isinstance(value, Mapping):
        value = render_permissions_policy(value)
    if not isinstance(value, str) or not value.strip():
        raise OptionError(
            option,
            value,
            f"{value!r} is not a header value",
            "give a string, true for the default or none/false to send no header",
        )
    if not is_safe_value(value):
        raise OptionError(
            option,
            value,
            f"the value of {header!r} contains a control character (CR, LF, ...) or a "
            "non-latin-1 character",
            "remove it",
        )
    if allowed is not None and value.strip().lower() not in allowed:
        fix = f"use one of {sorted(allowed)}"
        if option == "x_frame_options":
            fix += "; use Content-Security-Policy frame-ancestors to allow specific origins"
        raise OptionError(option, value, f"{value!r} is not a value browsers understand", fix)
    if option == "referrer_policy":
        for token in value.split(","):
            if token.strip().lower() not in _REFERRER_POLICIES:
                raise OptionError(
                    option,
                    value,
                    f"{token.strip()!r} is not a referrer policy",
                    f"use one of {sorted(_REFERRER_POLICIES)}",
                )
    return value


def _hsts_value(
    enabled: object, max_age: object, subdomains: object, preload: object
) -> str | None:
    """The Strict-Transport-Security value, or ``None`` when HSTS is off."""
    enabled = boolean("hsts", enabled)
    age = seconds(
        "hsts_max_age", max_age, example=f"{ONE_YEAR} (one year; 0 makes browsers forget)"
    )
    subdomains = boolean("hsts_include_subdomains", subdomains)
    preload = boolean("hsts_preload", preload)
    if preload and not enabled:
        raise OptionError(
            "hsts_preload",
            preload,
            "hsts_preload=true with hsts=false",
            "enable hsts or drop hsts_preload",
        )
    if preload and age < ONE_YEAR:
        raise OptionError(
            "hsts_preload",
            preload,
            f"hsts_preload=true needs hsts_max_age >= {ONE_YEAR} (one year), got {age}",
            "raise hsts_max_age or set hsts_preload=false",
        )
    if preload and not subdomains:
        raise OptionError(
            "hsts_preload",
            preload,
            "hsts_preload=true needs hsts_include_subdomains=true (the preload list "
            "requires includeSubDomains)",
            "enable it or set hsts_preload=false",
        )
    if not enabled:
        return None
    return (
        f"max-age={age}"
        + ("; includeSubDomains" if subdomains else "")
        + ("; preload" if preload else "")
    )


def _header_names(option: str, names: object) -> tuple[str, ...]:
    """A list of response header names (a bare string is refused)."""
    if isinstance(names, str) or not isinstance(names, Collection):
        raise OptionError(option, names, f"{names!r} is a string, not a list", f"write [{names!r}]")
    for name in names:
        if not isinstance(name, str) or not is_token(name) or name.lower() in HOP_BY_HOP:
            raise OptionError(
                option,
                name,
                f"{name!r} is not a valid header name",
                "use letters, digits and !#$%&'*+-.^_`|~ only",
            )
    return tuple(names)


def _json_names(json_headers: object) -> frozenset[str]:
    """The lower-case names a JSON response gets."""
    if json_headers is None:
        return _KNOWN
    names = frozenset(name.lower() for name in _header_names("json_headers", json_headers))
    unknown = names - _KNOWN
    if unknown:
        raise OptionError(
            "json_headers",
            json_headers,
            f"json_headers lists {sorted(unknown)[0]!r}, which this layer does not send",
            f"use names from {sorted(_KNOWN)}",
        )
    return names


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise OptionError("https_port", value, f"{value!r} is not a TCP port number", "e.g. 443")
    return value


# -- the layer -------------------------------------------------------------------------


class SecurityHeaders(Layer):
    """Helmet-parity security headers, HSTS on HTTPS, optional HTTPS redirect."""

    name: ClassVar[str] = "security_headers"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        cross_origin_opener_policy: str | bool | None = "same-origin",
        cross_origin_resource_policy: str | bool | None = "same-origin",
        cross_origin_embedder_policy: str | bool | None = None,  # breaks embeds: opt in
        origin_agent_cluster: str | bool | None = "?1",
        permissions_policy: str | Mapping[str, Sequence[str] | str] | bool | None = True,
        referrer_policy: str | bool | None = "no-referrer",  # helmet; Observatory bonus
        x_content_type_options: str | bool | None = "nosniff",
        x_dns_prefetch_control: str | bool | None = "off",
        x_download_options: str | bool | None = "noopen",
        x_frame_options: str | bool | None = "DENY",  # the examples' contract
        x_permitted_cross_domain_policies: str | bool | None = "none",
        x_xss_protection: str | bool | None = "0",  # the auditor is an XS-leak: off
        hsts: bool = True,
        hsts_max_age: int = ONE_YEAR,  # the preload list's minimum
        hsts_include_subdomains: bool = True,  # helmet's default
        hsts_preload: bool = False,  # a one-way door: opt in
        remove_headers: Collection[str] = ("X-Powered-By", "Server"),  # stack advertising
        json_headers: Collection[str] | None = _JSON_DEFAULT,  # None: full set everywhere
        merge: str = "overwrite",  # headerware's policy wins over the app's
        https_redirect: bool = False,
        https_redirect_status: int = 301,
        https_redirect_exempt: Collection[str] = (),
        https_port: int = 443,
        report_only: bool = False,  # only for the redirect: log it, serve the request
    ) -> None:
        super().__init__(app)
        given = {
            "cross_origin_opener_policy": cross_origin_opener_policy,
            "cross_origin_resource_policy": cross_origin_resource_policy,
            "cross_origin_embedder_policy": cross_origin_embedder_policy,
            "origin_agent_cluster": origin_agent_cluster,
            "permissions_policy": permissions_policy,
            "referrer_policy": referrer_policy,
            "x_content_type_options": x_content_type_options,
            "x_dns_prefetch_control": x_dns_prefetch_control,
            "x_download_options": x_download_options,
            "x_frame_options": x_frame_options,
            "x_permitted_cross_domain_policies": x_permitted_cross_domain_policies,
            "x_xss_protection": x_xss_protection,
        }
        self._options = {option: _header_value(option, raw) for option, raw in given.items()}
        self.hsts_value = _hsts_value(hsts, hsts_max_age, hsts_include_subdomains, hsts_preload)
        self.remove_headers = _header_names("remove_headers", remove_headers)
        self.json_headers = (
            None if json_headers is None else _header_names("json_headers", json_headers)
        )
        self.merge = choice("merge", merge, ("overwrite", "keep"))
        self._build_profiles(_json_names(json_headers))
        self._setup_redirect(
            https_redirect, https_redirect_status, https_redirect_exempt, https_port
        )
        self.report_only = boolean("report_only", report_only)
        self.handles_request = self.https_redirect  # nothing to decide per request

    def _build_profiles(self, json_names: frozenset[str]) -> None:
        """Precompute the headers of each (JSON?, secure?) response profile."""
        always = [
            (_OPTIONS[option][0], value)
            for option, value in self._options.items()
            if value is not None
        ]
        secure_only = [(_HSTS, self.hsts_value)] if self.hsts_value else []
        self._removed = tuple(dict.fromkeys(name.lower() for name in self.remove_headers))
        clash = {name.lower() for name, _ in always + secure_only} & set(self._removed)
        if clash:
            raise OptionError(
                "remove_headers",
                list(self.remove_headers),
                f"remove_headers lists {sorted(clash)[0]!r}, which this layer also sends",
                "disable that option or drop it from remove_headers",
            )
        self._profiles: dict[tuple[bool, bool], Headers] = {
            (json, secure): tuple(
                (name, value)
                for name, value in always + (secure_only if secure else [])
                if not json or name.lower() in json_names
            )
            for json in (False, True)
            for secure in (False, True)
        }

    def _setup_redirect(
        self, enabled: object, status: object, exempt: object, port: object
    ) -> None:
        self.https_redirect = boolean("https_redirect", enabled)
        self.https_redirect_status = choice("https_redirect_status", status, _REDIRECT_STATUS)
        self._safe_status, self._unsafe_status = _REDIRECT_STATUS[self.https_redirect_status]
        if isinstance(exempt, str) or not isinstance(exempt, Collection):
            raise OptionError(
                "https_redirect_exempt",
                exempt,
                f"{exempt!r} is a string, not a list of path patterns",
                f"write [{exempt!r}]",
            )
        self._exempt = PathSet(exempt, option="https_redirect_exempt")
        self.https_redirect_exempt = self._exempt.patterns
        self.https_port = _port(port)
        self._port_suffix = "" if self.https_port == 443 else f":{self.https_port}"

    def describe(self) -> dict[str, Any]:
        return {
            **self._options,
            "hsts": self.hsts_value,
            "remove_headers": list(self.remove_headers),
            "json_headers": None if self.json_headers is None else list(self.json_headers),
            "merge": self.merge,
            "https_redirect": self.https_redirect,
            "https_redirect_status": self.https_redirect_status,
            "https_redirect_exempt": list(self.https_redirect_exempt),
            "https_port": self.https_port,
            "report_only": self.report_only,
        }

    # -- request: the optional redirect ------------------------------------------

    def on_request(self, ctx: Context) -> Response | None:
        if ctx.is_secure or self._exempt.both(ctx):
            return None
        host = ctx.host
        if not host or _HOST.match(host) is None:
            security_event("https_redirect_bad_host", layer=self.name, host=host[:100])
            if self.report_only:
                return None
            return Response.text("400 Bad Request", "Bad Request: invalid Host header\n")
        if not host.endswith("]") and ":" in host:
            host = host.rpartition(":")[0]  # the HTTP port; https_port replaces it
        path = ctx.root_path + ctx.raw_path
        location = "https://" + host + self._port_suffix + quote(_bytes(path), _PATH_SAFE)
        query = ctx.query_string
        if query:
            location += "?" + quote(_bytes(query), _QUERY_SAFE)
        status = self._safe_status if ctx.method in ("GET", "HEAD") else self._unsafe_status
        if self.report_only:
            security_event(
                "https_redirect", layer=self.name, path=path[:200], status=status, report_only=True
            )
            return None
        return Response.text(status, f"Redirecting to {location}\n", [("Location", location)])

    # -- response: the profile's headers --------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        for name in self._removed:
            response.remove(name)
        headers = self._profiles[is_json(response.content_type), ctx.is_secure]
        if self.merge == "overwrite":
            for name, value in headers:
                response.set(name, value)
        else:
            for name, value in headers:
                response.setdefault(name, value)


def _bytes(text: str) -> bytes:
    """A WSGI string as the bytes the client sent (latin-1), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")
