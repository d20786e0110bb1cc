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
    JSON responses (``application/json`` and any ``+json`` type) are not documents:
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
    redirect to the same host (as the server resolved it), path and query on
    ``https_port`` (443). ``https_redirect_status=301`` for GET and HEAD (301,
    302, 307 or 308); other methods get the method-preserving equivalent (301 ->
    308, 302 -> 307) so a POST is never silently turned into a GET.
    ``https_redirect_exempt=()``: exact paths, or prefixes written ``/prefix/*``
    (segment boundary), answered over HTTP anyway, e.g. a load balancer's
    ``/healthz`` or ``/.well-known/acme-challenge/*``. A Host header that is not a
    valid host gets a 400 instead of a redirect. ``report_only=True`` logs the
    redirect it would have sent (event ``https_redirect``) and serves the request.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from werkzeug.wsgi import get_host

from .._headers import HeaderList, check_header, is_safe_value
from .._log import security_event
from ..engine import Context, Layer, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["DEFAULT_PERMISSIONS_POLICY", "SecurityHeaders"]

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
_REDIRECT_STATUS = {
    301: ("301 Moved Permanently", "308 Permanent Redirect"),
    302: ("302 Found", "307 Temporary Redirect"),
    307: ("307 Temporary Redirect", "307 Temporary Redirect"),
    308: ("308 Permanent Redirect", "308 Permanent Redirect"),
}
#: What ``on_response`` notes about an app header, by name.
_OTHER, _CONTENT_TYPE, _TOUCHED = 0, 1, 2
#: Characters of a decoded path left as they are in a Location (WHATWG path segment).
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
#: The raw query string is already percent-encoded by the client: keep ``%``.
_QUERY_SAFE = "/!$&'()*+,;=:@-._~?%"


def render_permissions_policy(policy: Mapping[str, Sequence[str] | str]) -> str:
    """``{"camera": [], "geolocation": ["self"]}`` -> ``camera=(), geolocation=(self)``."""
    parts = []
    for feature, allow in policy.items():
        if not isinstance(feature, str) or _FEATURE.match(feature) is None:
            raise ValueError(
                f"SecurityHeaders: permissions_policy: {feature!r} is not a feature name; "
                "use lower-case names such as 'camera' or 'geolocation'"
            )
        entries = [allow] if isinstance(allow, str) else list(allow)
        rendered = []
        for entry in entries:
            if entry in ("self", "src", "*"):
                rendered.append(entry)
            elif isinstance(entry, str) and _ORIGIN.match(entry):
                rendered.append(f'"{entry}"')
            else:
                raise ValueError(
                    f"SecurityHeaders: permissions_policy: {feature}={entry!r} is not an "
                    "allowlist entry; use 'self', 'src', '*' or an origin like "
                    "'https://example.com'"
                )
        if "*" in rendered:
            parts.append(f"{feature}=*")
        else:
            parts.append(f"{feature}=({' '.join(rendered)})")
    return ", ".join(parts)


def _header_value(option: str, value: object) -> str | None:
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
        raise ValueError(
            f"SecurityHeaders: {option}={value!r} is not a header value; give a string, "
            "True for the default or None to send no header"
        )
    check_header(header, value, option=f"SecurityHeaders: {option}")
    if allowed is not None and value.strip().lower() not in allowed:
        hint = (
            "; use Content-Security-Policy frame-ancestors to allow specific origins"
            if option == "x_frame_options"
            else ""
        )
        raise ValueError(
            f"SecurityHeaders: {option}={value!r} is not a value browsers understand; "
            f"use one of {sorted(allowed)}{hint}"
        )
    if option == "referrer_policy":
        tokens = [token.strip().lower() for token in value.split(",")]
        unknown = [token for token in tokens if token not in _REFERRER_POLICIES]
        if unknown:
            raise ValueError(
                f"SecurityHeaders: referrer_policy={value!r}: {unknown[0]!r} is not a "
                f"referrer policy; use one of {sorted(_REFERRER_POLICIES)}"
            )
    return value


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


#: Content-Type values apps send all the time -> variant offset (2: JSON), at import.
_TYPE_INDEX = {
    value: 2 if _is_json(value) else 0
    for value in (
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/json;charset=UTF-8",
        "application/problem+json",
        "text/html",
        "text/html; charset=utf-8",
        "text/html; charset=UTF-8",
        "text/html;charset=utf-8",
        "text/html;charset=UTF-8",
        "text/plain",
        "text/plain; charset=utf-8",
        "text/plain; charset=UTF-8",
    )
}


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
        self._options: dict[str, Any] = {}
        always: list[tuple[str, str]] = []
        for option, raw in given.items():
            value = _header_value(option, raw)
            self._options[option] = value
            if value is not None:
                always.append((_OPTIONS[option][0], value))

        hsts_value = self._hsts(hsts, hsts_max_age, hsts_include_subdomains, hsts_preload)
        secure_only = [("Strict-Transport-Security", hsts_value)] if hsts_value else []

        if isinstance(remove_headers, str):
            raise ValueError(
                f"SecurityHeaders: remove_headers={remove_headers!r} is a string; give a "
                "list of header names, e.g. ['X-Powered-By']"
            )
        for name in remove_headers:
            check_header(name, "", option="SecurityHeaders: remove_headers")
        self._removed = frozenset(name.lower() for name in remove_headers)
        managed = {name.lower() for name, _ in always + secure_only}
        clash = managed & self._removed
        if clash:
            raise ValueError(
                f"SecurityHeaders: remove_headers lists {sorted(clash)[0]!r}, which this "
                "layer also sends; disable that option or drop it from remove_headers"
            )

        known = {header.lower() for header, _, _ in _OPTIONS.values()}
        known.add("strict-transport-security")
        if json_headers is None:
            json_names = known
        else:
            if isinstance(json_headers, str):
                raise ValueError(
                    f"SecurityHeaders: json_headers={json_headers!r} is a string; give a "
                    "list of header names"
                )
            json_names = {name.lower() for name in json_headers}
            unknown = json_names - known
            if unknown:
                raise ValueError(
                    f"SecurityHeaders: json_headers lists {sorted(unknown)[0]!r}, which this "
                    f"layer does not send; use names from {sorted(known)}"
                )

        if merge not in ("overwrite", "keep"):
            raise ValueError(
                f"SecurityHeaders: merge={merge!r}; use 'overwrite' (headerware's values win) "
                "or 'keep' (the app's values win)"
            )
        self.merge = merge
        self._overwrite = merge == "overwrite"

        # The four header sets, indexed 2 * json + secure: tuples appended as they are.
        def pick(json: bool, secure: bool) -> tuple[tuple[str, str], ...]:
            items = always + (secure_only if secure else [])
            return tuple(h for h in items if not json or h[0].lower() in json_names)

        self._variants = tuple(
            pick(json, secure) for json in (False, True) for secure in (False, True)
        )
        # What overwrite mode drops from the app's list, for each set.
        self._drops = tuple(
            frozenset(name.lower() for name, _ in items) | self._removed for items in self._variants
        )
        # Header name (as spelled, canonical and lower-case) -> what the pass must note.
        touched = managed | self._removed
        kinds: dict[str, int] = {"content-length": _OTHER}
        for lower in touched:
            kinds[lower] = _TOUCHED
        kinds["content-type"] = _CONTENT_TYPE
        for lower, kind in list(kinds.items()):
            kinds["-".join(part.capitalize() for part in lower.split("-"))] = kind
        for name, _ in always + secure_only:
            kinds[name] = _TOUCHED
        for name in remove_headers:
            kinds[name] = _TOUCHED
        self._kinds = kinds
        # The engine's shared scan: without any of these names, ``_on_clean``.
        self._watched = frozenset(touched)
        self._adds = frozenset(managed)

        self._setup_redirect(
            https_redirect, https_redirect_status, https_redirect_exempt, https_port
        )
        if not self.https_redirect:
            self._skip_hooks = frozenset({"on_request"})  # nothing to decide per request
        self.report_only = bool(report_only)
        self.hsts_value = hsts_value
        self.remove_headers = tuple(remove_headers)
        self.json_headers = None if json_headers is None else tuple(json_headers)

    @staticmethod
    def _hsts(enabled: bool, max_age: int, include_subdomains: bool, preload: bool) -> str | None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(
                f"SecurityHeaders: hsts_max_age={max_age!r} must be a number of seconds >= 0 "
                f"(one year is {ONE_YEAR}; 0 tells browsers to forget the policy)"
            )
        if not enabled:
            if preload:
                raise ValueError(
                    "SecurityHeaders: hsts_preload=True with hsts=False; enable hsts or "
                    "drop hsts_preload"
                )
            return None
        if preload and max_age < ONE_YEAR:
            raise ValueError(
                f"SecurityHeaders: hsts_preload=True needs hsts_max_age >= {ONE_YEAR} (one "
                f"year), got {max_age}; raise hsts_max_age or set hsts_preload=False"
            )
        if preload and not include_subdomains:
            raise ValueError(
                "SecurityHeaders: hsts_preload=True needs hsts_include_subdomains=True (the "
                "preload list requires includeSubDomains); enable it or set "
                "hsts_preload=False"
            )
        value = f"max-age={max_age}"
        if include_subdomains:
            value += "; includeSubDomains"
        if preload:
            value += "; preload"
        return value

    def _setup_redirect(
        self, enabled: bool, status: int, exempt: Collection[str], port: int
    ) -> None:
        if status not in _REDIRECT_STATUS:
            raise ValueError(
                f"SecurityHeaders: https_redirect_status={status!r}; use 301 or 308 "
                "(permanent) or 302 or 307 (temporary)"
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"SecurityHeaders: https_port={port!r} must be a TCP port number")
        if isinstance(exempt, str):
            raise ValueError(
                f"SecurityHeaders: https_redirect_exempt={exempt!r} is a string; give a list "
                "of paths"
            )
        exact: set[str] = set()
        prefixes: list[str] = []
        for path in exempt:
            if not isinstance(path, str) or not path.startswith("/") or not is_safe_value(path):
                raise ValueError(
                    f"SecurityHeaders: https_redirect_exempt entry {path!r} must be a path "
                    "starting with '/' (exact), or '/prefix/*' for everything under it"
                )
            if path.endswith("/*"):
                prefixes.append(path[:-1])
            elif "*" in path:
                raise ValueError(
                    f"SecurityHeaders: https_redirect_exempt entry {path!r}: '*' is only "
                    "allowed as a final '/*' segment"
                )
            else:
                exact.add(path)
        self.https_redirect = bool(enabled)
        self.https_redirect_status = status
        self.https_redirect_exempt = tuple(exempt)
        self.https_port = port
        self._exempt_exact = frozenset(exact)
        self._exempt_prefixes = tuple(prefixes)
        self._safe_status, self._unsafe_status = _REDIRECT_STATUS[status]
        self._port_suffix = "" if port == 443 else f":{port}"

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
        if not self.https_redirect or ctx.environ.get("wsgi.url_scheme") == "https":
            return None
        path = ctx.path
        if path in self._exempt_exact or path.startswith(self._exempt_prefixes):
            return None
        environ = ctx.environ
        host = get_host(environ)
        if not host or _HOST.match(host) is None:
            security_event("https_redirect_bad_host", layer=self.name, host=host[:100])
            if self.report_only:
                return None
            return Response.text("400 Bad Request", "Bad Request: invalid Host header\n")
        if not host.endswith("]") and ":" in host:
            host = host.rpartition(":")[0]  # the HTTP port; https_port replaces it
        location = "https://" + host + self._port_suffix + quote(path.encode("latin-1"), _PATH_SAFE)
        query = environ.get("QUERY_STRING")
        if query:
            location += "?" + quote(query.encode("latin-1"), _QUERY_SAFE)
        method = ctx.method
        status = self._safe_status if method in ("GET", "HEAD") else self._unsafe_status
        if self.report_only:
            security_event(
                "https_redirect", layer=self.name, path=path[:200], status=status, report_only=True
            )
            return None
        if not is_safe_value(location):  # unreachable by construction; never risk a header
            return Response.text("400 Bad Request", "Bad Request\n")
        return Response.text(status, f"Redirecting to {location}\n", [("Location", location)])

    # -- response: one pass over the app's headers ---------------------------------

    def _on_clean(self, ctx: Context, headers: HeaderList, content_type: str | None) -> None:
        # The engine's scan found none of our names: ``on_response`` without a hit.
        index = 0
        if content_type is not None:
            offset = _TYPE_INDEX.get(content_type)
            index = (2 if _is_json(content_type) else 0) if offset is None else offset
        if ctx.environ.get("wsgi.url_scheme") == "https":
            index += 1
        headers.extend(self._variants[index])

    def on_response(self, ctx: Context, status: str, headers: HeaderList) -> str | None:
        # Hot path: one pass, dict lookups only (the spellings were precomputed).
        kinds = self._kinds
        index = 0  # into self._variants: 2 * json + secure
        hits = False
        for name, value in headers:
            kind = kinds.get(name)
            if kind is None:  # an unusual spelling: classify its lower-case form
                kind = kinds.get(name.lower(), _OTHER)
            if kind == 1:  # _CONTENT_TYPE (a literal: no global lookup per header)
                offset = _TYPE_INDEX.get(value)
                index = (2 if _is_json(value) else 0) if offset is None else offset
            elif kind:  # _TOUCHED
                hits = True
        if ctx.environ.get("wsgi.url_scheme") == "https":
            index += 1
        ours = self._variants[index]
        if not hits:
            headers.extend(ours)
            return None
        if self._overwrite:
            drop = self._drops[index]
            headers[:] = [h for h in headers if h[0].lower() not in drop]
            headers.extend(ours)
            return None
        removed = self._removed
        present = set()
        kept = []
        for item in headers:
            lower = item[0].lower()
            if lower not in removed:
                kept.append(item)
                present.add(lower)
        kept.extend(h for h in ours if h[0].lower() not in present)
        headers[:] = kept
        return None
