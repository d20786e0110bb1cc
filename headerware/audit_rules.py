"""The MDN HTTP Observatory's tests, re-implemented for ``headerware audit``.

Each function here reproduces, in Python, what one analyzer of the npm package
``@mdn/mdn-http-observatory`` 1.4.8 decides for one response, including its
quirks, because the point of the audit is to give the same result code as the
real Observatory. Notable quirks kept on purpose (each has a test):

* Headers are seen the way Node's HTTP client delivers them: repeated headers are
  joined with ``", "`` (so a doubled HSTS or X-Frame-Options header is invalid),
  a few (``Content-Type`` ...) keep only the first value, ``Set-Cookie`` stays a list.
* Cookies go through the rules of the ``tough-cookie`` jar first: unparseable
  cookies, ``__Secure-``/``__Host-`` prefix violations and cookies for another
  domain are dropped; later cookies with the same name, domain and path replace
  earlier ones; deletion cookies (``Max-Age=0``) still count.
* The CSP parser sorts sources with an ICU collation (``Intl.Collator("en")``),
  merges several policies by intersection and treats a repeated directive as an
  invalid header (except ``report-uri``/``report-to``).
* ``max-age`` in HSTS is read with JavaScript's ``parseInt``: an unparseable value
  is ``NaN``, which the Observatory does not count as "less than six months".
* The CORS test cannot see the request's ``Origin`` header (it reads
  ``response.request.headers``, which Node's ``ClientRequest`` does not have), so a
  reflected origin with credentials grades as "restricted access", as it does there.

The one approximation: the "registrable domain" used by the subresource-integrity
test is computed from a short built-in list of multi-label public suffixes instead
of the full Public Suffix List (only matters for scripts on exotic suffixes).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

__all__ = [
    "HTML_TYPES",
    "Cookie",
    "Observation",
    "TestOutcome",
    "collect_cookies",
    "node_headers",
    "observe",
    "parse_csp",
    "run_tests",
]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

# --------------------------------------------------------------------------- headers

#: Node's http client keeps only the first of these when repeated.
_NODE_FIRST_ONLY = frozenset(
    {
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    }
)

#: JavaScript's ``\s`` / ``String.prototype.trim`` whitespace.
_JS_WS = (
    "\t\n\x0b\x0c\r \xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000\ufeff")
)
_JS_WS_RE = re.compile(f"[{_JS_WS}]+")


def _trim(value: str) -> str:
    return value.strip(_JS_WS)


def node_headers(headers: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Header list -> the lower-cased mapping Node's HTTP client would produce."""
    out: dict[str, Any] = {}
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        value = raw_value.strip(" \t")
        if name == "set-cookie":
            out.setdefault(name, []).append(value)
        elif name not in out:
            out[name] = value
        elif name == "cookie":
            out[name] += "; " + value
        elif name not in _NODE_FIRST_ONLY:
            out[name] += ", " + value
    return out


def _header_values(headers: dict[str, Any] | None, name: str) -> list[str]:
    if not headers or name not in headers:
        return []
    value = headers[name]
    return list(value) if isinstance(value, list) else [value]


def _first_header(headers: dict[str, Any] | None, name: str) -> str | None:
    values = _header_values(headers, name)
    return values[0] if values else None


# --------------------------------------------------------------------------- HTML


class _PageScan(HTMLParser):
    """Collects <meta> and <script> elements (attributes only) and the first <base href>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.metas: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.base_href: str | None = None

    @staticmethod
    def _attrs(attrs: list[tuple[str, str | None]]) -> dict[str, str | None]:
        result: dict[str, str | None] = {}
        for name, value in attrs:  # HTML keeps the first of repeated attributes
            result.setdefault(name, "" if value is None else value)
        return result

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            self.metas.append(self._attrs(attrs))
        elif tag == "script":
            self.scripts.append(self._attrs(attrs))
        elif tag == "base" and self.base_href is None:
            href = self._attrs(attrs).get("href")
            if href is not None:
                self.base_href = href

    handle_startendtag = handle_starttag


def _scan_html(text: str) -> _PageScan:
    scan = _PageScan()
    try:
        scan.feed(text)
        scan.close()
    except Exception:  # a broken page still yields what was parsed so far
        pass
    return scan


def _http_equiv(scan: _PageScan) -> dict[str, list[str]]:
    """The CSP and referrer policies declared in <meta> elements, as the Observatory reads them."""
    found: dict[str, list[str]] = {"content-security-policy": []}
    for meta in scan.metas:
        if "http-equiv" in meta and "content" in meta:
            equiv = _trim((meta["http-equiv"] or "").lower())
            content = meta["content"]
            if content and equiv == "content-security-policy":
                found["content-security-policy"].append(content)
        elif _trim((meta.get("name") or "").lower()) == "referrer":
            content = meta.get("content")
            if content:
                found["referrer-policy"] = [content]
    return found


# --------------------------------------------------------------------------- cookies


@dataclass
class Cookie:
    """A cookie as the Observatory's cookie jar keeps it."""

    key: str
    value: str
    domain: str
    path: str
    secure: bool = False
    httponly: bool = False
    samesite: str | None = None
    max_age: int | None = None
    host_only: bool = True


_COOKIE_CONTROL = re.compile(r"[\x00-\x1f]")


def _parse_set_cookie(raw: str) -> Cookie | None:
    text = _trim(raw)
    semi = text.find(";")
    pair = text if semi == -1 else text[:semi]
    for terminator in ("\n", "\r", "\0"):
        cut = pair.find(terminator)
        if cut != -1:
            pair = pair[:cut]
    eq = pair.find("=")
    if eq <= 0:
        return None
    key, value = _trim(pair[:eq]), _trim(pair[eq + 1 :])
    if _COOKIE_CONTROL.search(key) or _COOKIE_CONTROL.search(value):
        return None
    cookie = Cookie(key=key, value=value, domain="", path="")
    cookie_path: str | None = None
    cookie_domain: str | None = None
    rest = _trim(text[semi + 1 :]) if semi != -1 else ""
    for item in rest.split(";") if rest else []:
        av = _trim(item)
        if not av:
            continue
        if "=" in av:
            name, _, attr = av.partition("=")
            attr_value: str | None = _trim(attr) if attr else attr
        else:
            name, attr_value = av, None
        name = _trim(name).lower()
        if name == "max-age":
            if attr_value and re.fullmatch(r"-?[0-9]+", attr_value):
                cookie.max_age = int(attr_value)
        elif name == "domain":
            if attr_value:
                domain = _trim(attr_value)
                domain = domain[1:] if domain.startswith(".") else domain
                if domain:
                    cookie_domain = domain.lower()
        elif name == "path":
            cookie_path = attr_value if attr_value and attr_value[0] == "/" else None
        elif name == "secure":
            cookie.secure = True
        elif name == "httponly":
            cookie.httponly = True
        elif name == "samesite":
            lowered = (attr_value or "").lower()
            cookie.samesite = lowered if lowered in ("strict", "lax", "none") else None
    cookie.path = cookie_path or ""
    cookie.domain = cookie_domain or ""
    cookie.host_only = cookie_domain is None
    return cookie


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _domain_match(host: str, domain: str) -> bool:
    if host == domain:
        return True
    return not _is_ip(host) and host.endswith("." + domain)


def _default_path(path: str) -> str:
    if not path or not path.startswith("/") or path == "/":
        return "/"
    right = path.rfind("/")
    return "/" if right == 0 else path[:right]


def collect_cookies(set_cookies: Sequence[str], host: str, request_path: str) -> list[Cookie]:
    """Store ``Set-Cookie`` values in a jar with the rules the Observatory's jar applies."""
    jar: dict[tuple[str, str, str], Cookie] = {}
    host = host.lower()
    for raw in set_cookies:
        cookie = _parse_set_cookie(raw)
        if cookie is None:
            continue
        if cookie.domain:
            if "." not in cookie.domain and cookie.domain != host:
                continue  # a public suffix (approximation: single label)
            if not _domain_match(host, cookie.domain):
                continue
        else:
            cookie.domain = host
        if not cookie.path:
            cookie.path = _default_path(request_path)
        if cookie.key.startswith("__Secure-") and not cookie.secure:
            continue
        if cookie.key.startswith("__Host-") and not (
            cookie.secure and cookie.host_only and cookie.path == "/"
        ):
            continue
        jar[(cookie.domain, cookie.path, cookie.key)] = cookie
    return list(jar.values())


# --------------------------------------------------------------------------- CSP

#: ``Intl.Collator("en")`` order of the printable lower-case ASCII characters.
_ICU_ORDER = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_ICU_RANK = {c: i for i, c in enumerate(_ICU_ORDER)}


def _collation_key(source: str) -> tuple[int, ...]:
    return tuple(_ICU_RANK.get(c, 1000 + ord(c)) for c in source)


class CspInvalid(ValueError):
    """The policy cannot be parsed the way the Observatory parses it."""


_DUPLICATE_OK = frozenset({"report-uri", "report-to"})
_META_FORBIDDEN = ("frame-ancestors", "report-uri", "sandbox")
_BAD_PERCENT = re.compile(r"%(?![0-9a-fA-F]{2})")


def _decode_component(piece: str) -> str:
    if _BAD_PERCENT.search(piece):
        raise CspInvalid("malformed percent-encoding")
    try:
        return unquote(piece, errors="strict")
    except UnicodeDecodeError as exc:
        raise CspInvalid("malformed percent-encoding") from exc


def _path_part_match(path_a: str, path_b: str) -> bool:
    if not path_a:
        return True
    if path_a == "/" and not path_b:
        return True
    exact = not path_a.endswith("/")
    parts_a, parts_b = path_a.split("/"), path_b.split("/")
    if len(parts_a) > len(parts_b):
        return False
    if exact and len(parts_a) != len(parts_b):
        return False
    if not exact:
        parts_a.pop()
    return all(
        _decode_component(a) == _decode_component(b) for a, b in zip(parts_a, parts_b, strict=False)
    )


@dataclass
class _Src:
    source: str
    index: int
    keep: bool


@dataclass
class ParsedCsp:
    directives: dict[str, set[str]]
    duplicate_warnings: set[str] = field(default_factory=set)


def parse_csp(policies: Sequence[str]) -> ParsedCsp:
    """Parse one or more policies into directive -> sources, as the Observatory does."""
    clean = [_trim(re.sub(r"[\r\n]", "", p)) for p in policies]
    if not clean:
        return ParsedCsp({})
    for policy in clean:
        if not policy or len(policy) < len("img-src") - 1:
            raise CspInvalid(f"invalid policy {policy!r}")
    csp: dict[str, list[_Src]] = {}
    warnings: set[str] = set()
    for index, policy in enumerate(clean):
        seen: set[str] = set()
        for entry in policy.split(";"):
            directive_entry, *value_entries = _JS_WS_RE.split(_trim(entry))
            if not directive_entry:
                continue
            directive = directive_entry.lower()
            if directive in seen:
                if directive in _DUPLICATE_OK:
                    warnings.add(directive)
                else:
                    raise CspInvalid(f"duplicate directive {directive} in policy {index}")
            else:
                seen.add(directive)
            keep = index == 0
            values = [_Src(_trim(v).lower(), index, keep) for v in value_entries]
            if not value_entries and directive.endswith("-src"):
                values = [_Src("'none'", index, keep)]
            combined = list(values) if index == 0 else [*csp.get(directive, []), *values]
            combined.sort(key=lambda s: _collation_key(s.source))
            for i in range(1, len(combined)):
                src, prev = combined[i], combined[i - 1]
                if src.index == prev.index and src.source.startswith(prev.source):
                    src.keep = False
                if src.index != prev.index and _path_part_match(prev.source, src.source):
                    src.keep = True
            csp[directive] = [s for s in combined if s.keep]
            if index == 0 and len(policies) > 1:
                for s in csp[directive]:
                    s.keep = False
    directives = {
        name: ({s.source for s in sources} if sources else {"'none'"})
        for name, sources in csp.items()
    }
    return ParsedCsp(directives, warnings)


def _parse_csp_meta(policies: Sequence[str]) -> ParsedCsp:
    parsed = parse_csp(policies)
    for name in _META_FORBIDDEN:
        parsed.directives.pop(name, None)
    return parsed


_BROAD = frozenset(
    {"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"}
)
_UNSAFE_INLINE = frozenset({"'unsafe-inline'", "data:"})
_BROAD_OR_INLINE = _BROAD | _UNSAFE_INLINE
_PASSIVE = ("img-src", "media-src")
_NONCE_HASH = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")


def _has_nonce_or_hash(sources: Iterable[str]) -> bool:
    return any(s.startswith(_NONCE_HASH) for s in sources)


# --------------------------------------------------------------------------- observation


@dataclass
class Observation:
    """Everything the tests look at, in the shape the Observatory's retriever produces."""

    https: bool
    hostname: str
    headers: dict[str, Any]
    body: str | None
    http_equiv: dict[str, list[str]]
    cookies: list[Cookie]
    https_available: bool | None
    cors_headers: dict[str, Any] | None
    scan: _PageScan | None


def observe(
    *,
    https: bool,
    hostname: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    cors_headers: Sequence[tuple[str, str]] | None,
    https_available: bool | None,
) -> Observation:
    """Build the :class:`Observation` of one response."""
    mapped = node_headers(headers)
    text = body.decode("utf-8", "replace")
    mime = str(mapped.get("content-type", "")).split(";")[0]
    scan = _scan_html(text) if mime in HTML_TYPES else None
    http_equiv = _http_equiv(scan) if scan is not None and text else {}
    cookies = collect_cookies(_header_values(mapped, "set-cookie"), hostname, path)
    return Observation(
        https=https,
        hostname=hostname,
        headers=mapped,
        body=text,
        http_equiv=http_equiv,
        cookies=cookies,
        https_available=https if https_available is None and https else https_available,
        cors_headers=node_headers(cors_headers) if cors_headers is not None else None,
        scan=scan,
    )


@dataclass
class TestOutcome:
    """The result code of one test; ``result`` is None when it was not evaluated."""

    name: str
    result: str | None
    passed: bool | None
    data: Any = None
    note: str = ""


def _worse(new: str, old: str | None, order: Sequence[str]) -> str:
    if old is None:
        return new
    return new if order.index(new) > (order.index(old) if old in order else -1) else old


# --------------------------------------------------------------------------- tests


def test_csp(obs: Observation) -> TestOutcome:
    name = "content-security-policy"
    header = _header_values(obs.headers, "content-security-policy")
    meta = obs.http_equiv.get("content-security-policy", [])
    try:
        parsed = parse_csp([*header, *meta])
    except CspInvalid:
        return TestOutcome(name, "csp-header-invalid", False)
    try:
        header_only = parse_csp(header).directives
    except CspInvalid:
        header_only = {}
    try:
        meta_only = _parse_csp_meta(meta).directives
    except CspInvalid:
        meta_only = {}
    if not header_only and not meta_only:
        if obs.headers.get("content-security-policy-report-only"):
            return TestOutcome(name, "csp-not-implemented-but-reporting-enabled", False)
        return TestOutcome(name, "csp-not-implemented", False)

    csp = parsed.directives
    result: str | None = None
    frame_ancestors = header_only.get("frame-ancestors", {"*"})
    object_src = csp.get("object-src") or csp.get("default-src") or {"*"}
    script_src = csp.get("script-src") or csp.get("default-src") or {"*"}
    style_src = csp.get("style-src") or csp.get("default-src") or {"*"}
    for sources in (script_src, style_src):
        if _has_nonce_or_hash(sources) and "'unsafe-inline'" in sources:
            sources.discard("'unsafe-inline'")
    strict_dynamic = False
    if _has_nonce_or_hash(script_src) and "'strict-dynamic'" in script_src:
        for source in list(script_src):
            if any(source.startswith(b) for b in _BROAD) or source in ("'self'", "'unsafe-inline'"):
                script_src.discard(source)
        strict_dynamic = True
    elif "'strict-dynamic'" in script_src:
        result = "csp-header-invalid"

    active = [s for d, srcs in csp.items() if d not in _PASSIVE and d != "script-src" for s in srcs]
    active.extend(script_src)
    passive = [s for d in _PASSIVE for s in (csp.get(d) or csp.get("default-src") or set())]

    if any(s in _BROAD_OR_INLINE for s in script_src) or any(s in _BROAD for s in object_src):
        result = result or "csp-implemented-with-unsafe-inline"
    if obs.https and any(s.startswith(("http:", "ftp:")) for s in active):
        result = result or "csp-implemented-with-insecure-scheme"
    if "'unsafe-eval'" in script_src or "'unsafe-eval'" in style_src:
        result = result or "csp-implemented-with-unsafe-eval"
    if obs.https and any(s.startswith(("http:", "ftp:")) for s in passive):
        result = result or "csp-implemented-with-insecure-scheme-in-passive-content-only"
    if any(s in _BROAD_OR_INLINE for s in style_src):
        result = result or "csp-implemented-with-unsafe-inline-in-style-src-only"
    default_src = csp.get("default-src")
    if default_src is not None and default_src == {"'none'"}:
        result = result or "csp-implemented-with-no-unsafe-default-src-none"
    else:
        result = result or "csp-implemented-with-no-unsafe"

    passed = result in (
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    )
    if passed and parsed.duplicate_warnings:
        result = "csp-implemented-but-duplicate-directives"
    data = {
        "policy": {k: sorted(v) for k, v in csp.items()},
        "strict_dynamic": strict_dynamic,
        "anti_clickjacking": not any(s in _BROAD for s in frame_ancestors),
    }
    return TestOutcome(name, result, passed, data)


_HSTS_SIX_MONTHS = 15552000


def _js_parse_int(text: str) -> float:
    match = re.match(f"[{_JS_WS}]*([+-]?[0-9]+)", text)
    return float(int(match.group(1))) if match else float("nan")


def test_hsts(obs: Observation) -> TestOutcome:
    name = "strict-transport-security"
    if not obs.https:
        if obs.https_available is False:
            return TestOutcome(name, "hsts-not-implemented-no-https", False)
        return TestOutcome(
            name,
            None,
            None,
            note="response fetched over plain HTTP: HSTS is only graded on an HTTPS response",
        )
    note = "HSTS preload list and certificate not checked (need the public network)"
    values = _header_values(obs.headers, "strict-transport-security")
    if not values:
        return TestOutcome(name, "hsts-not-implemented", False, note=note)
    data = values[0][:1024]
    max_age: float | None = None
    include_subdomains = preload = False
    result: str
    if "," in data:
        result = "hsts-header-invalid"
    else:
        for parameter in (_trim(p).lower() for p in data.split(";")):
            if parameter.startswith("max-age="):
                max_age = _js_parse_int(parameter[8:128])
            elif parameter == "includesubdomains":
                include_subdomains = True
            elif parameter == "preload":
                preload = True
        if max_age is None:
            result = "hsts-header-invalid"
        elif max_age < _HSTS_SIX_MONTHS:  # NaN compares False, as in JavaScript
            result = "hsts-implemented-max-age-less-than-six-months"
        else:
            result = "hsts-implemented-max-age-at-least-six-months"
    info = {
        "header": data,
        "max_age": max_age if max_age is None or max_age == max_age else None,
        "include_subdomains": include_subdomains,
        "preload": preload,
    }
    return TestOutcome(
        name, result, result == "hsts-implemented-max-age-at-least-six-months", info, note
    )


_COOKIE_ORDER = (
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)


def _invalid_samesite(raw: str) -> bool:
    for part in _trim(raw).split(";"):
        pieces = _trim(part).split("=")
        key, value = pieces[0], pieces[1] if len(pieces) > 1 else None
        if _trim(key).lower() == "samesite":
            if not value:
                return True
            if _trim(value).lower() not in ("lax", "strict", "none"):
                return True
    return False


def test_cookies(obs: Observation, hsts: TestOutcome) -> TestOutcome:
    name = "cookies"
    hsts_ok = bool(hsts.passed)
    result: str | None = None
    for raw in _header_values(obs.headers, "set-cookie"):
        if _invalid_samesite(raw):
            result = _worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
    if not obs.cookies:
        result = "cookies-not-found"
        return TestOutcome(name, result, True)
    missing_samesite = False
    for c in obs.cookies:
        key = c.key.lower()
        session = "login" in key or "sess" in key
        if not c.secure and c.samesite == "none":
            result = _worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
        if not c.secure:
            result = _worse(
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts_ok
                else "cookies-without-secure-flag",
                result,
                _COOKIE_ORDER,
            )
        if "csrf" in key and not c.samesite:
            result = _worse("cookies-anticsrf-without-samesite-flag", result, _COOKIE_ORDER)
        if session and not c.secure:
            result = _worse(
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts_ok
                else "cookies-session-without-secure-flag",
                result,
                _COOKIE_ORDER,
            )
        if session and not c.httponly:
            result = _worse("cookies-session-without-httponly-flag", result, _COOKIE_ORDER)
        missing_samesite = missing_samesite or not c.samesite
    if result is None:
        result = (
            "cookies-secure-with-httponly-sessions"
            if missing_samesite
            else "cookies-secure-with-httponly-sessions-and-samesite"
        )
    data = {
        c.key: {
            "secure": c.secure,
            "httponly": c.httponly,
            "samesite": c.samesite,
            "path": c.path,
            "domain": c.domain,
        }
        for c in obs.cookies
    }
    passed = result in (
        "cookies-secure-with-httponly-sessions-and-samesite",
        "cookies-secure-with-httponly-sessions",
    )
    return TestOutcome(name, result, passed, data)


def test_cors(obs: Observation) -> TestOutcome:
    name = "cross-origin-resource-sharing"
    result = "cross-origin-resource-sharing-not-implemented"
    acao = _first_header(obs.cors_headers, "access-control-allow-origin")
    data = None
    if obs.cors_headers is not None and acao:
        data = _trim(acao[:256]).lower()
        # The Observatory compares ACAO with the preflight's Origin header, read from
        # a property Node's request object lacks: a reflected origin is "restricted".
        if data == "*":
            result = "cross-origin-resource-sharing-implemented-with-public-access"
        else:
            result = "cross-origin-resource-sharing-implemented-with-restricted-access"
    return TestOutcome(name, result, True, data)


def test_redirection(obs: Observation) -> TestOutcome:
    return TestOutcome(
        "redirection",
        None,
        None,
        note="HTTP->HTTPS redirection is not evaluated (needs the public site on port 80)",
    )


_REFERRER_GOOD = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
_REFERRER_BAD = ("origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade")


def test_referrer(obs: Observation) -> TestOutcome:
    name = "referrer-policy"
    http = _header_values(obs.headers, "referrer-policy")
    meta = obs.http_equiv.get("referrer-policy", [])
    if not http and not meta:
        return TestOutcome(name, "referrer-policy-not-implemented", True)
    data = ", ".join([*http, *meta])
    valid = [
        _trim(e).lower()
        for e in data.split(",")
        if _trim(e.lower()) in _REFERRER_GOOD + _REFERRER_BAD
    ]
    policy = valid[-1] if valid else ""
    if policy in _REFERRER_GOOD:
        result = "referrer-policy-private"
    elif policy in _REFERRER_BAD:
        result = "referrer-policy-unsafe"
    else:
        result = "referrer-policy-header-invalid"
    return TestOutcome(name, result, result == "referrer-policy-private", data)


_SRI_ORDER = (
    "sri-implemented-and-all-scripts-loaded-securely",
    "sri-implemented-and-external-scripts-loaded-securely",
    "sri-implemented-but-external-scripts-not-loaded-securely",
    "sri-not-implemented-but-external-scripts-loaded-securely",
    "sri-not-implemented-and-external-scripts-not-loaded-securely",
    "sri-not-implemented-response-not-html",
)

#: ICANN public suffixes of two labels common enough to matter (approximation).
_TWO_LABEL_SUFFIXES = frozenset(
    f"{sld}.{tld}"
    for tld in ("uk", "au", "nz", "jp", "br", "in", "za", "il", "kr", "cn", "tw", "hk", "sg")
    for sld in ("co", "com", "org", "net", "ac", "gov", "edu", "ne", "or")
)


def registrable_domain(host: str) -> str | None:
    """The registrable domain of ``host`` (None for IPs and single labels)."""
    host = host.lower().rstrip(".")
    if not host or _is_ip(host):
        return None
    labels = host.split(".")
    if len(labels) < 2:
        return None
    count = 3 if ".".join(labels[-2:]) in _TWO_LABEL_SUFFIXES else 2
    if len(labels) < count:
        return None
    return ".".join(labels[-count:])


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def _reflect_src(raw: str, base: str | None) -> str:
    """What ``script.src`` returns in a document at about:blank (jsdom's default)."""
    stripped = raw.strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f"
        "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    stripped = re.sub(r"[\t\n\r]", "", stripped)
    if _SCHEME.match(stripped):
        target = stripped
    elif base is not None:
        target = urljoin(base, stripped)
    else:
        return raw
    if target[:5].lower() in ("http:", "https"):
        target = target.replace("\\", "/")
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        frag = f"#{parts.fragment}" if parts.fragment else ""
        return f"{scheme}://{parts.netloc.lower()}{path}{query}{frag}"
    return target


def _base_url(scan: _PageScan) -> str | None:
    if scan.base_href is None:
        return None
    href = scan.base_href.strip()
    if _SCHEME.match(href) and urlsplit(href).scheme.lower() in ("http", "https"):
        return href
    return None


def test_sri(obs: Observation) -> TestOutcome:
    name = "subresource-integrity"
    mime = str(obs.headers.get("content-type", "")).split(";")[0]
    result: str | None = None
    data: dict[str, Any] = {}
    if mime not in HTML_TYPES or obs.scan is None:
        result = "sri-not-implemented-response-not-html"
    else:
        scan = obs.scan
        base = _base_url(scan)
        page_domain = registrable_domain(obs.hostname)
        foreign = False
        for script in scan.scripts:
            raw = script.get("src")
            if raw is None:
                continue
            src = _reflect_src(raw, base)
            if not src:
                continue
            integrity = script.get("integrity")
            relative_origin = relative_protocol = same_domain = False
            if re.match(r"//[^/]", src):
                relative_protocol = same_domain = True
            elif re.match(r"https?://", src):
                same_domain = registrable_domain(urlsplit(src).hostname or "") == page_domain
            else:
                relative_origin = same_domain = True
            secure_origin = relative_origin or (same_domain and not relative_protocol)
            if not secure_origin:
                foreign = True
            scheme = None
            if not relative_protocol and not relative_origin:
                scheme = urlsplit(src).scheme.lower() + ":"
            secure_scheme = scheme == "https:" or (relative_origin and obs.https)
            if not secure_origin:
                data[src] = {"integrity": integrity, "crossorigin": script.get("crossorigin")}
                if integrity and not secure_scheme:
                    new = "sri-implemented-but-external-scripts-not-loaded-securely"
                    result = _worse(new, result, _SRI_ORDER)
                elif not integrity and secure_scheme:
                    new = "sri-not-implemented-but-external-scripts-loaded-securely"
                    result = _worse(new, result, _SRI_ORDER)
                elif not integrity:
                    new = "sri-not-implemented-and-external-scripts-not-loaded-securely"
                    result = _worse(new, result, _SRI_ORDER)
            elif integrity and secure_scheme and result is None:
                result = "sri-implemented-and-all-scripts-loaded-securely"
        if not scan.scripts:
            result = "sri-not-implemented-but-no-scripts-loaded"
        elif result is None:
            result = (
                "sri-implemented-and-external-scripts-loaded-securely"
                if foreign
                else "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
            )
    passed = result in (
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-not-implemented-response-not-html",
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
        "sri-not-implemented-but-no-scripts-loaded",
    )
    return TestOutcome(name, result, passed, data or None)


def test_xcto(obs: Observation) -> TestOutcome:
    name = "x-content-type-options"
    header = _first_header(obs.headers, "x-content-type-options")
    if not header:
        return TestOutcome(name, "x-content-type-options-not-implemented", False)
    data = header[:256]
    if _trim(data).lower() == "nosniff":
        return TestOutcome(name, "x-content-type-options-nosniff", True, data)
    return TestOutcome(name, "x-content-type-options-header-invalid", False, data)


def test_xfo(obs: Observation, csp: TestOutcome) -> TestOutcome:
    name = "x-frame-options"
    header = _first_header(obs.headers, "x-frame-options")
    data = None
    if header:
        data = header[:1024]
        xfo = _trim(data).lower()
        if xfo in ("deny", "sameorigin"):
            result = "x-frame-options-sameorigin-or-deny"
        elif xfo.startswith("allow-from"):
            result = "x-frame-options-allow-from-origin"
        else:
            result = "x-frame-options-header-invalid"
    else:
        result = "x-frame-options-not-implemented"
    policy = csp.data["policy"] if isinstance(csp.data, dict) else {}
    if "frame-ancestors" in policy:
        result = "x-frame-options-implemented-via-csp"
    passed = result in (
        "x-frame-options-allow-from-origin",
        "x-frame-options-sameorigin-or-deny",
        "x-frame-options-implemented-via-csp",
    )
    return TestOutcome(name, result, passed, data)


def test_corp(obs: Observation) -> TestOutcome:
    name = "cross-origin-resource-policy"
    header = _first_header(obs.headers, "cross-origin-resource-policy")
    if not header:
        return TestOutcome(name, "corp-not-implemented", True)
    value = _trim(header[:256]).lower()
    result = {
        "same-site": "corp-implemented-with-same-site",
        "same-origin": "corp-implemented-with-same-origin",
        "cross-origin": "corp-implemented-with-cross-origin",
    }.get(value, "corp-header-invalid")
    return TestOutcome(name, result, result != "corp-header-invalid", value)


def run_tests(obs: Observation) -> list[TestOutcome]:
    """All Observatory tests, in the Observatory's order."""
    csp = test_csp(obs)
    hsts = test_hsts(obs)
    return [
        csp,
        test_cookies(obs, hsts),
        test_cors(obs),
        test_redirection(obs),
        test_referrer(obs),
        hsts,
        test_sri(obs),
        test_xcto(obs),
        test_xfo(obs, test_csp(obs)),
        test_corp(obs),
    ]
