"""The values of the security headers: per-option table, canonical spelling, Permissions-Policy.

:func:`header_value` validates one option of
:class:`~headerware.layers.security.SecurityHeaders` and returns what is sent:
enumerated values are accepted in any case and returned in their canonical
spelling (browsers match ``same-origin``, ``credentialless``, ``cross-origin`` and
the referrer-policy tokens exactly; X-Frame-Options as ``DENY``/``SAMEORIGIN``).

``render_permissions_policy({"camera": [], "geolocation": ["self", "https://maps.example"]})``
gives ``camera=(), geolocation=(self "https://maps.example")`` (the structured-field
syntax of the ``Permissions-Policy`` header). Feature names are lower-case tokens;
an allowlist entry is ``self``, ``src``, ``*`` or an origin (``https://a.example``,
``https://*.a.example:8443``, no path). Each mistake is an
:class:`~headerware.options.OptionError` naming the layer option (``option=``).

Feature names are checked against :data:`PERMISSIONS_POLICY_FEATURES`, the features
browsers implement today: a name not in it (a typo, ``camra``) fails with a
did-you-mean. A retired feature (:data:`RETIRED_PERMISSIONS_POLICY_FEATURES`:
``interest-cohort``, ``document-domain``, ``vibrate``, ...) is still sent, and
:func:`header_value` logs one warning on the ``headerware`` logger naming each and
what replaced it. A feature newer than this list can be sent by giving the whole
header as a string, which is sent as written (only retired names in it warn).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence

from ._headers import is_safe_value
from .options import OptionError

__all__ = [
    "DEFAULT_PERMISSIONS_POLICY",
    "HEADER_OPTIONS",
    "PERMISSIONS_POLICY_FEATURES",
    "REPORTING",
    "RETIRED_PERMISSIONS_POLICY_FEATURES",
    "header_value",
    "render_permissions_policy",
    "with_reporting",
]

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

#: The Permissions-Policy features browsers implement, as of 2026-01. Sources: the
#: W3C's list (https://github.com/w3c/webappsec-permissions-policy/blob/main/features.md)
#: and Chromium's permissions policy feature list
#: (services/network/public/cpp/permissions_policy/permissions_policy_features.json5),
#: with MDN's Permissions-Policy directive pages for the other engines. Update it
#: from those when browsers ship a new feature.
PERMISSIONS_POLICY_FEATURES: frozenset[str] = frozenset(
    {
        # Standardized (W3C/WHATWG specifications)
        "accelerometer",
        "ambient-light-sensor",
        "autoplay",
        "battery",
        "bluetooth",
        "camera",
        "compute-pressure",
        "cross-origin-isolated",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "gamepad",
        "geolocation",
        "gyroscope",
        "hid",
        "identity-credentials-get",
        "idle-detection",
        "local-fonts",
        "magnetometer",
        "microphone",
        "midi",
        "otp-credentials",
        "payment",
        "picture-in-picture",
        "publickey-credentials-create",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "speaker-selection",
        "storage-access",
        "sync-xhr",
        "usb",
        "web-share",
        "window-management",
        "xr-spatial-tracking",
        # Proposed or shipped in one engine (Chromium's list)
        "all-screens-capture",
        "attribution-reporting",
        "browsing-topics",
        "captured-surface-control",
        "clipboard-read",
        "clipboard-write",
        "controlled-frame",
        "deferred-fetch",
        "deferred-fetch-minimal",
        "digital-credentials-create",
        "digital-credentials-get",
        "direct-sockets",
        "direct-sockets-private",
        "execution-while-not-rendered",
        "execution-while-out-of-viewport",
        "fenced-unpartitioned-storage-read",
        "focus-without-user-activation",
        "join-ad-interest-group",
        "keyboard-map",
        "language-detector",
        "language-model",
        "local-network-access",
        "media-playback-while-not-visible",
        "on-device-speech-recognition",
        "popins",
        "private-aggregation",
        "private-state-token-issuance",
        "private-state-token-redemption",
        "rewriter",
        "run-ad-auction",
        "shared-autofill",
        "shared-storage",
        "shared-storage-select-url",
        "smart-card",
        "sub-apps",
        "summarizer",
        "translator",
        "unload",
        "usb-unrestricted",
        "vertical-scroll",
        "web-app-installation",
        "web-printing",
        "writer",
        # User-Agent Client Hints delegation (one feature per hint)
        "ch-device-memory",
        "ch-downlink",
        "ch-dpr",
        "ch-ect",
        "ch-prefers-color-scheme",
        "ch-prefers-reduced-motion",
        "ch-prefers-reduced-transparency",
        "ch-rtt",
        "ch-save-data",
        "ch-ua",
        "ch-ua-arch",
        "ch-ua-bitness",
        "ch-ua-form-factors",
        "ch-ua-full-version",
        "ch-ua-full-version-list",
        "ch-ua-high-entropy-values",
        "ch-ua-mobile",
        "ch-ua-model",
        "ch-ua-platform",
        "ch-ua-platform-version",
        "ch-ua-wow64",
        "ch-viewport-height",
        "ch-viewport-width",
        "ch-width",
    }
)

#: Features browsers no longer implement (same sources and date), with what replaced
#: them. Still sent as given (an old browser may read them), with a warning at start-up.
RETIRED_PERMISSIONS_POLICY_FEATURES: Mapping[str, str] = {
    "conversion-measurement": "renamed attribution-reporting",
    "document-domain": "document.domain setters are disabled by default in browsers; "
    "nothing to restrict",
    "interest-cohort": "FLoC was withdrawn; browsing-topics took its place",
    "layout-animations": "moved to Document Policy",
    "lazyload": "never shipped; use loading=lazy",
    "legacy-image-formats": "moved to Document Policy",
    "navigation-override": "never shipped",
    "oversized-images": "moved to Document Policy",
    "speaker": "renamed speaker-selection",
    "sync-script": "never shipped",
    "trust-token-redemption": "renamed private-state-token-redemption",
    "unoptimized-images": "moved to Document Policy",
    "unsized-media": "moved to Document Policy",
    "vibrate": "never shipped as a policy feature",
    "vr": "renamed xr-spatial-tracking",
    "wake-lock": "renamed screen-wake-lock",
    "window-placement": "renamed window-management",
}

_logger = logging.getLogger("headerware")

_FEATURE = re.compile(r"[a-z][a-z0-9-]*\Z")
_ORIGIN = re.compile(
    r"(https?|wss?)://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z|(https?|wss?)://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?\Z"
)


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
        _check_feature(option, feature)
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


def _check_feature(option: str, feature: str) -> None:
    """Refuse a feature name browsers do not know (retired ones pass: they warn)."""
    if feature in PERMISSIONS_POLICY_FEATURES or feature in RETIRED_PERMISSIONS_POLICY_FEATURES:
        return
    close = difflib.get_close_matches(feature, sorted(PERMISSIONS_POLICY_FEATURES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise OptionError(
        option,
        feature,
        f"{feature!r} is not a Permissions-Policy feature browsers know{hint}",
        "fix the name; a feature newer than headerware's list can be sent by giving the "
        "whole header as a string (sent as written)",
    )


def _string_features(value: str) -> list[str]:
    """The feature names of a Permissions-Policy header given as a string."""
    names = []
    for member in value.split(","):
        name = member.partition("=")[0].strip()
        if _FEATURE.match(name):
            names.append(name)
    return names


def _warn_retired(option: str, features: Iterable[str]) -> None:
    """One warning naming every retired feature of the policy (they are still sent)."""
    retired = [
        name for name in dict.fromkeys(features) if name in RETIRED_PERMISSIONS_POLICY_FEATURES
    ]
    if retired:
        why = "; ".join(f"{name}: {RETIRED_PERMISSIONS_POLICY_FEATURES[name]}" for name in retired)
        _logger.warning(
            "%s: Permissions-Policy lists retired feature%s %s, sent anyway but browsers "
            "ignore %s (%s); remove %s",
            option,
            "s" if len(retired) > 1 else "",
            ", ".join(retired),
            "them" if len(retired) > 1 else "it",
            why,
            "them" if len(retired) > 1 else "it",
        )


#: option -> (header name, default value, allowed values or None for free-form).
HEADER_OPTIONS: dict[str, tuple[str, str | None, frozenset[str] | None]] = {
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
    # Report-only twins: what the policy would break, reported and not enforced.
    "cross_origin_opener_policy_report_only": (
        "Cross-Origin-Opener-Policy-Report-Only",
        "same-origin",
        frozenset(
            {"same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"}
        ),
    ),
    "cross_origin_embedder_policy_report_only": (
        "Cross-Origin-Embedder-Policy-Report-Only",
        "require-corp",
        frozenset({"require-corp", "credentialless", "unsafe-none"}),
    ),
    "integrity_policy": ("Integrity-Policy", "blocked-destinations=(script)", None),
    "integrity_policy_report_only": (
        "Integrity-Policy-Report-Only",
        "blocked-destinations=(script)",
        None,
    ),
    "origin_agent_cluster": ("Origin-Agent-Cluster", "?1", frozenset({"?1", "?0"})),
    "permissions_policy": ("Permissions-Policy", None, None),
    "referrer_policy": ("Referrer-Policy", "strict-origin-when-cross-origin", None),
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


#: The options whose header takes the reporting endpoint group, and how.
REPORTING: dict[str, str] = {
    "cross_origin_opener_policy": "param",
    "cross_origin_opener_policy_report_only": "param",
    "cross_origin_embedder_policy": "param",
    "cross_origin_embedder_policy_report_only": "param",
    "integrity_policy": "member",
    "integrity_policy_report_only": "member",
}
#: Integrity-Policy (a structured dictionary of inner lists): key -> allowed items.
_INTEGRITY: dict[str, frozenset[str] | None] = {
    "blocked-destinations": frozenset({"script", "style"}),
    "sources": frozenset({"inline"}),
    "endpoints": None,  # endpoint group names
}
_INNER = re.compile(r"^([a-z][a-z0-9-]*)=\(([^()]*)\)$")


def _integrity_value(option: str, value: str) -> str:
    """An Integrity-Policy value, checked member by member, in canonical spacing."""
    members = []
    for member in value.split(","):
        match = _INNER.match(member.strip())
        if match is None or match.group(1) not in _INTEGRITY:
            raise OptionError(
                option,
                value,
                f"{member.strip()!r} is not an Integrity-Policy member",
                f"use {', '.join(f'{key}=(...)' for key in _INTEGRITY)}, e.g. "
                "'blocked-destinations=(script)'",
            )
        key, items = match.group(1), match.group(2).split()
        allowed = _INTEGRITY[key]
        for item in items:
            if (allowed is not None and item not in allowed) or not _FEATURE.match(item):
                raise OptionError(
                    option,
                    value,
                    f"{item!r} is not allowed in {key}",
                    f"use {sorted(allowed)}" if allowed else "use endpoint group names",
                )
        members.append(f"{key}=({' '.join(items)})")
    if not any(m.startswith("blocked-destinations=") for m in members):
        raise OptionError(
            option, value, "blocked-destinations is missing", "e.g. 'blocked-destinations=(script)'"
        )
    return ", ".join(members)


def with_reporting(option: str, value: str, group: str | None) -> str:
    """``value`` with the reporting endpoint group (``report_to``) added, if any."""
    how = REPORTING.get(option)
    if group is None or how is None:
        return value
    if how == "param":
        return f'{value}; report-to="{group}"'
    return value if "endpoints=" in value else f"{value}, endpoints=({group})"


def header_value(option: str, value: object) -> str | None:
    """The value to send for one header option (``None``: send nothing)."""
    header, default, allowed = HEADER_OPTIONS[option]
    if value is None or value is False:
        return None
    if value is True:
        if option == "permissions_policy":
            return render_permissions_policy(DEFAULT_PERMISSIONS_POLICY)
        return default
    if option == "permissions_policy" and isinstance(value, Mapping):
        rendered = render_permissions_policy(value)
        _warn_retired(option, value)
        value = rendered
    elif option == "permissions_policy" and isinstance(value, str):
        _warn_retired(option, _string_features(value))
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
    canonical = value.strip().lower()
    if allowed is not None and canonical not in allowed:
        fix = f"use one of {sorted(allowed)}"
        if option == "x_frame_options":
            fix += "; use Content-Security-Policy frame-ancestors to allow specific origins"
        raise OptionError(option, value, f"{value!r} is not a value browsers understand", fix)
    if option == "referrer_policy":
        tokens = [token.strip().lower() for token in value.split(",")]
        for token in tokens:
            if token not in _REFERRER_POLICIES:
                raise OptionError(
                    option,
                    value,
                    f"{token!r} is not a referrer policy",
                    f"use one of {sorted(_REFERRER_POLICIES)}",
                )
        return ", ".join(tokens)
    if option == "x_frame_options":
        return canonical.upper()
    if option.startswith("integrity_policy"):
        return _integrity_value(option, value)
    # Browsers match these tokens exactly: send the canonical (lower-case) spelling.
    return value if allowed is None else canonical
