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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ._headers import is_safe_value
from .options import OptionError

__all__ = [
    "DEFAULT_PERMISSIONS_POLICY",
    "HEADER_OPTIONS",
    "header_value",
    "render_permissions_policy",
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
    # Browsers match these tokens exactly: send the canonical (lower-case) spelling.
    return value if allowed is None else canonical
