"""Shared helpers for header lists: validation and token-list merging.

Headers travel through the engine as the WSGI ``list[tuple[str, str]]`` the
application produced (copied once); these helpers are the only place that knows
the grammar, so every layer checks names and values the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .options import OptionError

HeaderList = list[tuple[str, str]]

#: RFC 9110 ``token``: the grammar of a header name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: Control characters, horizontal tab included, and DEL: never sent in a value. RFC 9110
#: allows an inner tab, but not a leading or trailing one, and PEP 3333's validator
#: (``wsgiref.validate``) refuses any; no header headerware writes needs one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def is_token(name: str) -> bool:
    """True when ``name`` is a valid header name (RFC 9110 token)."""
    return _TOKEN.match(name) is not None


def is_safe_value(value: str) -> bool:
    """True when ``value`` has no CR, LF, tab or other control character, and is latin-1."""
    if _CONTROL.search(value) is not None:
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def check_header_name(name: object, *, option: str = "header") -> str:
    """``name`` when it can be sent as a response header; else raise
    :class:`~headerware.options.OptionError` naming ``option`` (a bad or hop-by-hop name)."""
    if not isinstance(name, str) or not is_token(name):
        raise OptionError(
            option,
            name,
            f"{name!r} is not a valid header name",
            "use letters, digits and !#$%&'*+-.^_`|~ only",
        )
    if name.lower() in HOP_BY_HOP:
        raise OptionError(
            option,
            name,
            f"{name!r} is a hop-by-hop header and must not be set by an application",
            "remove it",
        )
    return name


def check_header(name: str, value: str, *, option: str = "header") -> None:
    """Raise :class:`~headerware.options.OptionError` naming ``option`` when the
    header could not be sent safely (a bad name, a hop-by-hop name, a bad value)."""
    check_header_name(name, option=option)
    if not isinstance(value, str) or not is_safe_value(value):
        raise OptionError(
            option,
            value,
            f"the value of {name!r} contains a control character (CR, LF, ...) or a "
            "non-latin-1 character",
            "remove it",
        )


def get_header(headers: HeaderList, name: str) -> str | None:
    """The first value of ``name`` (lower-case) in ``headers``, or ``None``."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def remove_headers(headers: HeaderList, names: frozenset[str] | set[str]) -> None:
    """Remove, in place, every header whose lower-cased name is in ``names``."""
    headers[:] = [h for h in headers if h[0].lower() not in names]


def merge_vary(headers: HeaderList, tokens: Iterable[str]) -> None:
    """Merge ``tokens`` into the response's ``Vary`` as one token list, in place.

    Existing ``Vary`` headers (there may be several) are folded into one; tokens are
    compared case-insensitively and kept in first-seen order; ``*`` absorbs the rest.
    """
    # Fast path (every response of several layers): none or one Vary header is
    # changed in place instead of rebuilding the whole list.
    found = -1
    for index, (key, _) in enumerate(headers):
        if len(key) == 4 and key.lower() == "vary":
            if found >= 0:
                found = -2  # several: fold them below
                break
            found = index
    if found != -2:
        merged_tokens: dict[str, str] = {}
        if found >= 0:
            for token in headers[found][1].split(","):
                token = token.strip()
                if token:
                    merged_tokens.setdefault(token.lower(), token)
        for token in tokens:
            merged_tokens.setdefault(token.lower(), token)
        if not merged_tokens:
            return
        merged = ("Vary", "*" if "*" in merged_tokens else ", ".join(merged_tokens.values()))
        if found < 0:
            headers.append(merged)
        else:
            headers[found] = merged
        return
    seen: dict[str, str] = {}
    first = -1
    kept: HeaderList = []
    for key, value in headers:
        if key.lower() == "vary":
            if first < 0:
                first = len(kept)
            for token in value.split(","):
                token = token.strip()
                if token:
                    seen.setdefault(token.lower(), token)
        else:
            kept.append((key, value))
    for token in tokens:
        seen.setdefault(token.lower(), token)
    if not seen:
        return
    value = "*" if "*" in seen else ", ".join(seen.values())
    if first < 0:
        kept.append(("Vary", value))
    else:
        kept.insert(first, ("Vary", value))
    headers[:] = kept


def media_type(content_type: str | None) -> str:
    """The bare, lower-case media type of a Content-Type value (``""`` when absent)."""
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip().lower()


#: What a response is, for the layers that treat kinds differently (one classification).
JSON, DOCUMENT, OTHER = "json", "document", "other"

#: Media types whose markup can use a CSP nonce (a response without a type counts too).
_NONCE_DOCUMENTS = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml"})


def content_kind(content_type: str | None) -> str:
    """:data:`JSON` (``application/json`` or ``application/*+json``), :data:`DOCUMENT`
    (HTML, XHTML, SVG or no type: what can use a CSP nonce), else :data:`OTHER`.

    The one content-type classification of headerware: security headers pick their
    JSON profile, CSP its policy and caching its nonce rule with it, so they agree.
    """
    media = media_type(content_type)
    if not media or media in _NONCE_DOCUMENTS:
        return DOCUMENT
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return JSON
    return OTHER


def is_json(content_type: str | None) -> bool:
    """True for a JSON response (see :func:`content_kind`)."""
    return content_kind(content_type) == JSON


def is_html(content_type: str | None) -> bool:
    """True for an HTML (or XHTML) document."""
    media = media_type(content_type)
    return media in ("text/html", "application/xhtml+xml")


def is_nonce_document(content_type: str | None) -> bool:
    """True for a response that can use a CSP nonce: HTML, XHTML, SVG, or no type."""
    return content_kind(content_type) == DOCUMENT
