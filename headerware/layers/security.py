"""Security headers: helmet's modern set and HSTS on HTTPS.

:class:`SecurityHeaders` (config name ``security_headers``) adds the response
headers that every site should send, with the defaults of helmet 8 (Node's
reference middleware) and OWASP's Secure Headers project, and removes the headers
that only advertise the software stack. Content-Security-Policy is a layer of its
own (``headerware.layers.csp``), and so is the HTTPS redirect
(``headerware.layers.https_redirect``, config name ``https_redirect``).

Defaults, each an option taking a string (the value to send), ``True`` (the
default value) or ``None``/``False`` (do not send it):

``cross_origin_opener_policy="same-origin"``
    Own browsing-context group: no cross-window Spectre or XS-leaks.
``cross_origin_resource_policy="same-origin"``
    Other sites cannot load the responses as subresources.
``cross_origin_embedder_policy=None``
    ``require-corp`` (``True``) breaks third-party embeds, so it is opt-in.
``cross_origin_opener_policy_report_only=None``, ``cross_origin_embedder_policy_report_only=None``
    The report-only twins (``Cross-Origin-*-Policy-Report-Only``): the browser
    reports what the policy would break and breaks nothing -- how COEP is rolled out.
``integrity_policy=None``, ``integrity_policy_report_only=None``
    ``Integrity-Policy``: ``True`` sends ``blocked-destinations=(script)`` (scripts
    without an ``integrity`` attribute are blocked); a string is checked member by
    member (``blocked-destinations``, ``sources``, ``endpoints``).
``report_to=None``
    A ``Reporting-Endpoints`` group (the ``csp`` layer's ``report_group`` defines
    ``csp-endpoint`` for its receiver; the app may define its own): COOP and COEP
    (both kinds) get ``; report-to="<group>"``, the integrity policies
    ``endpoints=(<group>)`` unless they name their own.
``origin_agent_cluster="?1"``
    Origin-keyed agent cluster (helmet's default).
``permissions_policy=True``
    The restrictive :data:`DEFAULT_PERMISSIONS_POLICY`: camera, microphone,
    geolocation, USB, payment and the other powerful features off.
``referrer_policy="strict-origin-when-cross-origin"``
    The browsers' own default: other sites see only the origin, and only over
    HTTPS (see below).
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
``strict-origin-when-cross-origin``. helmet's ``no-referrer`` is not the default
here: with it browsers send ``Origin: null`` on same-origin form POSTs, which
origin-checking CSRF defences (Django's among them) refuse. Choose
``no-referrer`` or ``same-origin`` explicitly when no URL may ever leak.

Enumerated values (COOP, COEP, CORP, Referrer-Policy tokens, nosniff, ...) are
accepted in any case and sent in their canonical spelling (``SAME-ORIGIN`` is sent
as ``same-origin``): browsers match these tokens exactly, so a value sent as
written in another case would silently switch the policy off. X-Frame-Options is
sent as ``DENY`` / ``SAMEORIGIN``.

``permissions_policy`` takes a string (sent as is) or a mapping feature ->
allowlist, e.g. ``{"geolocation": ["self", "https://maps.example"], "camera": []}``
rendered as ``geolocation=(self "https://maps.example"), camera=()``. Feature
names are checked against the features browsers implement
(:data:`headerware.security_values.PERMISSIONS_POLICY_FEATURES`): a typo fails at
start-up with a did-you-mean; a retired feature (``interest-cohort``,
``document-domain``, ``vibrate``, ...) is sent anyway and logs one warning on the
``headerware`` logger. A string is sent as written (the way to send a feature
newer than headerware's list); only retired names in it warn.

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
    ``remove_headers=("X-Powered-By", "Server")``: the headers the *application*
    set that only tell an attacker which software and version to aim at. They are
    removed from the application's response only: the WSGI server adds its own
    ``Server`` and ``Date`` after the application has answered (gunicorn, waitress
    and wsgiref all do), so listing ``Server`` here does **not** take the header
    off the wire under gunicorn. Removing the app's one matters for apps that
    relay an upstream's headers; to hide the server's own, configure the server or
    the proxy in front of it (nginx ``server_tokens off``, waitress ``ident``;
    gunicorn has no setting for it). ``check-config`` prints the option as
    configured, not as a promise about what reaches the client.

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
    Not here any more: the ``https_redirect`` layer
    (:class:`~headerware.layers.https_redirect.HTTPSRedirect`) runs after the host
    check. The old options (``https_redirect=true``, ``https_redirect_status``,
    ``https_redirect_exempt``, ``https_port``) fail at start-up with an
    :class:`~headerware.options.OptionError` that says so (``https_redirect=false``
    changes nothing and is accepted).

Configuration errors
    Every bad option fails at construction with an
    :class:`~headerware.options.OptionError` naming the option (``hsts_max_age``,
    ``x_frame_options``, ...), the value and the fix.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._headers import HOP_BY_HOP, JSON, is_token
from ..core.layer import HeaderBlock, Layer
from ..options import OptionError, boolean, choice, seconds
from ..security_values import (
    DEFAULT_PERMISSIONS_POLICY,
    HEADER_OPTIONS,
    header_value,
    render_permissions_policy,
    with_reporting,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..core.context import Context
    from ..core.layer import ResponseHead

__all__ = ["DEFAULT_PERMISSIONS_POLICY", "SecurityHeaders", "render_permissions_policy"]

ONE_YEAR = 31536000

_HSTS = "Strict-Transport-Security"
#: Every header this layer may send, lower-case.
_KNOWN = frozenset({header.lower() for header, _, _ in HEADER_OPTIONS.values()} | {_HSTS.lower()})

#: What a JSON response gets by default (OWASP REST Security Cheat Sheet).
_JSON_DEFAULT = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Resource-Policy",
)

#: The options of the HTTPS redirect this layer used to have -> the new layer's option.
_RETIRED = {
    "https_redirect": None,
    "https_redirect_status": "status",
    "https_redirect_exempt": "exempt",
    "https_port": "https_port",
}


# -- option validators -----------------------------------------------------------------


def _retired(given: Mapping[str, object]) -> None:
    """Refuse the HTTPS-redirect options that moved to the ``https_redirect`` layer."""
    for option, value in given.items():
        if value is None or (option == "https_redirect" and value is False):
            continue  # not given, or the redirect left off: nothing changes
        new = _RETIRED[option]
        moved = "turn it on with" if new is None else f"set {new} in"
        raise OptionError(
            option,
            value,
            "the HTTPS redirect is no longer part of security_headers (it must run after "
            "the host check)",
            f"use the https_redirect layer: {moved} an [https_redirect] table, or "
            "HTTPSRedirect(...) from headerware.layers.https_redirect in Python",
        )


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


def _report_group(value: object) -> str | None:
    """The ``report_to`` option: ``None`` or a Reporting-Endpoints group name."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_token(value) or not value.isascii():
        raise OptionError(
            "report_to",
            value,
            f"{value!r} is not an endpoint group name",
            "e.g. 'csp-endpoint' (the csp layer's report_group)",
        )
    return value


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


# -- the layer -------------------------------------------------------------------------


class SecurityHeaders(Layer):
    """Helmet-parity security headers and HSTS on HTTPS."""

    name: ClassVar[str] = "security_headers"

    def __init__(
        self,
        app: WSGIApplication | None = None,
        *,
        cross_origin_opener_policy: str | bool | None = "same-origin",
        cross_origin_resource_policy: str | bool | None = "same-origin",
        cross_origin_embedder_policy: str | bool | None = None,  # breaks embeds: opt in
        cross_origin_opener_policy_report_only: str | bool | None = None,
        cross_origin_embedder_policy_report_only: str | bool | None = None,
        integrity_policy: str | bool | None = None,  # blocks scripts without SRI: opt in
        integrity_policy_report_only: str | bool | None = None,
        report_to: str | None = None,  # a Reporting-Endpoints group for the above
        origin_agent_cluster: str | bool | None = "?1",
        permissions_policy: str | Mapping[str, Sequence[str] | str] | bool | None = True,
        # The browsers' default; no-referrer breaks origin-checking CSRF defences.
        referrer_policy: str | bool | None = "strict-origin-when-cross-origin",
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
        # Retired: the HTTPS redirect is the https_redirect layer now (refused if given).
        https_redirect: object = None,
        https_redirect_status: object = None,
        https_redirect_exempt: object = None,
        https_port: object = None,
    ) -> None:
        super().__init__(app)
        _retired(
            {
                "https_redirect": https_redirect,
                "https_redirect_status": https_redirect_status,
                "https_redirect_exempt": https_redirect_exempt,
                "https_port": https_port,
            }
        )
        given = {
            "cross_origin_opener_policy": cross_origin_opener_policy,
            "cross_origin_resource_policy": cross_origin_resource_policy,
            "cross_origin_embedder_policy": cross_origin_embedder_policy,
            "cross_origin_opener_policy_report_only": cross_origin_opener_policy_report_only,
            "cross_origin_embedder_policy_report_only": cross_origin_embedder_policy_report_only,
            "integrity_policy": integrity_policy,
            "integrity_policy_report_only": integrity_policy_report_only,
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
        self._options = {option: header_value(option, raw) for option, raw in given.items()}
        self.report_to = _report_group(report_to)
        self.hsts_value = _hsts_value(hsts, hsts_max_age, hsts_include_subdomains, hsts_preload)
        self.remove_headers = _header_names("remove_headers", remove_headers)
        self.json_headers = (
            None if json_headers is None else _header_names("json_headers", json_headers)
        )
        self.merge = choice("merge", merge, ("overwrite", "keep"))
        self.hsts = boolean("hsts", hsts)
        self.hsts_max_age: int = hsts_max_age
        self.hsts_include_subdomains = boolean("hsts_include_subdomains", hsts_include_subdomains)
        self.hsts_preload = boolean("hsts_preload", hsts_preload)
        self._build_profiles(_json_names(json_headers))

    def _build_profiles(self, json_names: frozenset[str]) -> None:
        """Precompute the headers of each (JSON?, secure?) response profile."""
        always = [
            (HEADER_OPTIONS[option][0], with_reporting(option, value, self.report_to))
            for option, value in self._options.items()
            if value is not None
        ]
        secure_only = [(_HSTS, self.hsts_value)] if self.hsts_value else []
        self._removed = tuple(dict.fromkeys(name.lower() for name in self.remove_headers))
        self._removed_names = frozenset(self._removed)
        clash = {name.lower() for name, _ in always + secure_only} & set(self._removed)
        if clash:
            raise OptionError(
                "remove_headers",
                list(self.remove_headers),
                f"remove_headers lists {sorted(clash)[0]!r}, which this layer also sends",
                "disable that option or drop it from remove_headers",
            )
        self._profiles: dict[tuple[bool, bool], HeaderBlock] = {
            (json, secure): HeaderBlock(
                (name, value)
                for name, value in always + (secure_only if secure else [])
                if not json or name.lower() in json_names
            )
            for json in (False, True)
            for secure in (False, True)
        }

    def describe(self) -> dict[str, Any]:
        return {
            **{
                option: False if value is None else value for option, value in self._options.items()
            },
            "hsts": self.hsts,
            "hsts_max_age": self.hsts_max_age,
            "hsts_include_subdomains": self.hsts_include_subdomains,
            "hsts_preload": self.hsts_preload,
            "remove_headers": list(self.remove_headers),
            "json_headers": None if self.json_headers is None else list(self.json_headers),
            "merge": self.merge,
            "report_to": self.report_to,
        }

    # -- response: the profile's headers --------------------------------------------

    def on_response(self, ctx: Context, response: ResponseHead) -> None:
        if response.has_any(self._removed_names):
            for name in self._removed:
                response.remove(name)
        headers = self._profiles[response.kind == JSON, ctx.is_secure]
        if self.merge == "overwrite":
            response.set_many(headers)
        else:
            response.setdefault_many(headers)
