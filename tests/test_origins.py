"""Origin parsing, normalisation and matching; the spoof corpus."""

from __future__ import annotations

import logging
import re

import pytest

from headerware.memo import clear_all
from headerware.options import OptionError
from headerware.origins import OriginMatcher, canonical_origin, parse_origin, request_origin
from headerware.wsgi import WSGIContext

ALLOWED = "https://app.example.com"

#: Values that must never match ``https://app.example.com`` (nor its ``*.`` pattern's apex).
SPOOFS = [
    pytest.param("https://app.example.com.evil.example", id="suffix"),
    pytest.param("https://evilapp.example.com", id="prefix"),
    pytest.param("https://evil-app.example.com", id="prefix-dash"),
    pytest.param("http://app.example.com", id="scheme"),
    pytest.param("https://app.example.com:8443", id="port"),
    pytest.param("HTTPS://APP.EXAMPLE.COM", id="case-not-serialized"),
    pytest.param("https://APP.example.com.evil.example", id="case-suffix"),
    pytest.param("null", id="null"),
    pytest.param("https://\u0430pp.example.com", id="cyrillic-a-unicode"),
    pytest.param("https://xn--pp-8kc.example.com", id="cyrillic-a-punycode"),
    pytest.param("https://app.example.com.", id="trailing-dot"),
    pytest.param("https://app.example.com@evil.example", id="userinfo"),
    pytest.param("https://user@app.example.com", id="userinfo-prefix"),
    pytest.param(" https://app.example.com", id="leading-space"),
    pytest.param("https://app.example.com ", id="trailing-space"),
    pytest.param("https://app.example.com\r\nX-Evil: 1", id="crlf"),
    pytest.param("https://app.example.com/", id="trailing-slash"),
    pytest.param("https://app.example.com/path", id="path"),
    pytest.param("https://app.example.com:443", id="explicit-default-port"),
    pytest.param("https://app.example.com:0443", id="port-leading-zero"),
    pytest.param("https://app.example.com\x00", id="nul"),
    pytest.param("https://app.example.com,https://evil.example", id="list"),
    pytest.param("", id="empty"),
    pytest.param("https://app%2eexample.com", id="percent-encoded"),
    pytest.param("https://app.example.com#", id="fragment"),
]


@pytest.mark.parametrize("origin", SPOOFS)
def test_spoofs_never_match_exact(origin: str) -> None:
    matcher = OriginMatcher([ALLOWED])
    assert not matcher.allows(origin)


@pytest.mark.parametrize("origin", SPOOFS)
def test_spoofs_never_match_the_subdomain_pattern(origin: str) -> None:
    # The pattern covers subdomains of example.com; none of these may slip in through it
    # unless it is a genuine, serialized subdomain (prefix/evil-app are subdomains).
    matcher = OriginMatcher(["https://*.app.example.com"])
    assert not matcher.allows(origin)


@pytest.mark.parametrize("origin", SPOOFS)
def test_spoofs_never_match_an_anchored_regex(origin: str) -> None:
    matcher = OriginMatcher(regex=[r"https://app\.example\.com"])
    assert not matcher.allows(origin)


@pytest.mark.parametrize(
    ("configured", "canonical"),
    [
        pytest.param("https://app.example.com", "https://app.example.com", id="plain"),
        pytest.param("HTTPS://App.Example.COM", "https://app.example.com", id="case"),
        pytest.param("https://app.example.com:443", "https://app.example.com", id="default-port"),
        pytest.param("http://localhost:80", "http://localhost", id="http-default-port"),
        pytest.param("http://localhost:3000", "http://localhost:3000", id="port"),
        pytest.param("https://bücher.example", "https://xn--bcher-kva.example", id="idn"),
        pytest.param("https://[::1]:8443", "https://[::1]:8443", id="ipv6"),
        pytest.param("https://app.example.com.", "https://app.example.com.", id="trailing-dot"),
        pytest.param("null", "null", id="null"),
    ],
)
def test_canonical_origin(configured: str, canonical: str) -> None:
    assert canonical_origin(configured) == canonical


def test_configured_forms_match_what_browsers_send() -> None:
    matcher = OriginMatcher(["HTTPS://App.Example.com:443", "https://bücher.example"])
    assert matcher.allows("https://app.example.com")
    assert matcher.allows("https://xn--bcher-kva.example")
    assert not matcher.allows("https://bücher.example")  # browsers send punycode


@pytest.mark.parametrize(
    ("configured", "message"),
    [
        pytest.param("app.example.com", "no scheme", id="no-scheme"),
        pytest.param("https://app.example.com/", "ends with a slash", id="trailing-slash"),
        pytest.param("https://app.example.com/x", "has a path", id="path"),
        pytest.param("https://app.example.com?x=1", "has a query", id="query"),
        pytest.param("https://app.example.com#x", "has a fragment", id="fragment"),
        pytest.param("https://u@app.example.com", "user info", id="userinfo"),
        pytest.param("https://app.example.com:99999", "invalid port", id="port-range"),
        pytest.param("https://app.example.com:x", "invalid port", id="port-text"),
        pytest.param("https://app..example.com", "empty host label", id="empty-label"),
        pytest.param(" https://app.example.com", "white space", id="space"),
        pytest.param("https://app.exa mple.com", "white space", id="inner-space"),
        pytest.param("https://", "no host", id="no-host"),
        pytest.param("https://[::1", "unclosed", id="ipv6-unclosed"),
        pytest.param("https://[zz]", "IPv6", id="ipv6-bad"),
    ],
)
def test_bad_configured_origins_name_the_fix(configured: str, message: str) -> None:
    with pytest.raises(OptionError, match=message) as info:
        OriginMatcher([configured], option="allow_origins")
    assert str(info.value).startswith("allow_origins:")
    assert info.value.option == "allow_origins"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("https://*example.com", "cannot be anchored", id="no-label-boundary"),
        pytest.param("https://app.*.com", "cannot be anchored", id="inner-star"),
        pytest.param("*.example.com", "not a subdomain pattern", id="no-scheme"),
        pytest.param("https://*.com", "top-level domain", id="tld"),
        pytest.param("https://*.*.example.com", "cannot be anchored", id="two-stars"),
        pytest.param("https://*.[::1]", "IP address", id="ipv6"),
        pytest.param("https://*.example.com/", "slash", id="trailing-slash"),
    ],
)
def test_unanchorable_patterns_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OriginMatcher([pattern])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        pytest.param("https://a.example.com", True, id="subdomain"),
        pytest.param("https://a.b.example.com", True, id="deep-subdomain"),
        pytest.param("https://example.com", False, id="apex-not-included"),
        pytest.param("http://a.example.com", False, id="scheme"),
        pytest.param("https://a.example.com:8443", False, id="port"),
        pytest.param("https://a.example.com.evil.example", False, id="suffix"),
        pytest.param("https://aexample.com", False, id="label-boundary"),
        pytest.param("https://a.example.com.", False, id="trailing-dot"),
        pytest.param("https://A.example.com", False, id="not-serialized"),
    ],
)
def test_subdomain_pattern_is_structural(origin: str, allowed: bool) -> None:
    matcher = OriginMatcher(["https://*.example.com"])
    assert matcher.allows(origin) is allowed


def test_subdomain_pattern_with_port() -> None:
    matcher = OriginMatcher(["https://*.example.com:8443"])
    assert matcher.allows("https://a.example.com:8443")
    assert not matcher.allows("https://a.example.com")


def test_apex_listed_separately() -> None:
    matcher = OriginMatcher(["https://*.example.com", "https://example.com"])
    assert matcher.allows("https://example.com")


def test_regex_fullmatch() -> None:
    matcher = OriginMatcher(regex=[r"https://[a-z0-9-]+\.example\.com"])
    assert matcher.allows("https://preview-1.example.com")
    assert not matcher.allows("https://preview-1.example.com.evil.example")
    assert not matcher.allows("xhttps://preview-1.example.com")
    compiled = OriginMatcher(regex=re.compile(r"https://app\.example\.com"))  # type: ignore[arg-type]
    assert compiled.allows("https://app.example.com")


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        pytest.param(r".*", "arbitrary origins", id="everything"),
        pytest.param(r"https?://.*", "arbitrary origins", id="any-host"),
        pytest.param(r"https://app.example\.com", "unescaped '.'", id="loose-dot"),
        pytest.param(r"https://(", "does not compile", id="broken"),
        pytest.param(r"null|https://a\.example\.com", "arbitrary origins", id="null"),
    ],
)
def test_bad_regexes_refused(regex: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OriginMatcher(regex=[regex])


@pytest.mark.parametrize(
    "regex",
    [
        pytest.param(r"https://(www\.)?example\.com.*", id="issue11-11-dot-star"),
        pytest.param(r"https://(www\.)?example\.com.+", id="issue11-11-dot-plus"),
        pytest.param(r"https://(www\.)?example\.com[^/]*", id="issue11-11-not-slash"),
        pytest.param(r"https://(www\.)?example\.com\S*", id="issue11-11-non-space"),
        pytest.param(r"https://(www\.)?example\.com(\..*)?", id="issue11-11-optional-dot-tail"),
        pytest.param(r"https://example\.com(:\d+|\..*)?", id="issue11-11-port-or-tail"),
        pytest.param(r"https://(a\.example|b\.example.*)", id="issue11-11-one-alternative"),
        pytest.param(r"https://example\.com(:\w+)?", id="issue11-11-port-of-letters"),
        pytest.param(r"https://example\.com(?=:).*", id="issue11-11-lookahead-tail"),
        pytest.param(r"https://[a-z]*example\.com", id="issue11-11-label-prefix"),
        pytest.param(r"https://[a-z0-9-]+\.com", id="issue11-11-whole-tld"),
        pytest.param(r"(https://a\.example)\1", id="issue11-11-backreference"),
        pytest.param(r"(?x) https://a\.example", id="issue11-11-verbose"),
    ],
)
def test_regex_past_the_host_is_refused(regex: str) -> None:
    """Issue 11 item 11: a pattern that can match beyond its host (but for a port)
    is refused at start-up, naming the pattern and the anchored fix."""
    with pytest.raises(OptionError) as info:
        OriginMatcher(regex=[regex])
    assert info.value.option == "allow_origins"
    assert info.value.value == regex
    assert repr(regex) in str(info.value) and "(:\\d+)?" in str(info.value)
    assert "past the end of its host" in str(info.value)


@pytest.mark.parametrize(
    ("regex", "allowed", "refused"),
    [
        pytest.param(
            r"https://([a-z0-9-]+\.)?example\.com",
            ["https://example.com", "https://a-1.example.com"],
            ["https://example.com.evil.example", "https://evilexample.com"],
            id="optional-subdomain",
        ),
        pytest.param(
            r"https://example\.com(:\d+)?",
            ["https://example.com", "https://example.com:8443"],
            ["https://example.com.evil.example", "https://example.com:8443.evil.example"],
            id="optional-port",
        ),
        pytest.param(
            r"https://(www\.example\.com|example\.org)",
            ["https://www.example.com", "https://example.org"],
            ["https://example.org.evil.example"],
            id="alternatives",
        ),
        pytest.param(
            r"https://[a-z]+-preview\.example\.com",
            ["https://pr-preview.example.com"],
            ["https://pr-preview.example.com.evil.example"],
            id="label-suffix",
        ),
        pytest.param(
            r"^http://localhost:\d{2,5}$",
            ["http://localhost:8000"],
            ["http://localhost"],
            id="port",
        ),
    ],
)
def test_anchored_regexes_accepted(regex: str, allowed: list[str], refused: list[str]) -> None:
    matcher = OriginMatcher(regex=[regex])
    assert all(matcher.allows(origin) for origin in allowed)
    assert not any(matcher.allows(origin) for origin in refused)


def test_null_only_when_listed() -> None:
    assert not OriginMatcher(regex=[r"https://[a-z]+\.example\.com"]).allows("null")
    calls: list[str] = []
    assert not OriginMatcher(func=lambda o: calls.append(o) or True).allows("null")
    assert calls == []
    assert OriginMatcher(["null"]).allows("null")


def test_callable_sees_only_serialized_origins(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def decide(origin: str) -> bool:
        seen.append(origin)
        return origin.endswith(".partner.example")

    matcher = OriginMatcher(func=decide)
    assert matcher.allows("https://a.partner.example")
    assert not matcher.allows("https://a.partner.example/x")
    assert not matcher.allows("https://evil.example")
    assert seen == ["https://a.partner.example", "https://evil.example"]

    def broken(origin: str) -> bool:
        raise RuntimeError("db down")

    with caplog.at_level(logging.ERROR, logger="headerware"):
        assert not OriginMatcher(func=broken).allows("https://a.example")
    assert "origin function raised" in caplog.text


def test_star() -> None:
    matcher = OriginMatcher(["*"])
    assert matcher.allow_all and matcher.allows("https://anything.example")
    with pytest.raises(ValueError, match="alone"):
        OriginMatcher(["*", ALLOWED])


def test_one_string_instead_of_a_list_is_refused() -> None:
    with pytest.raises(ValueError, match="not one string"):
        OriginMatcher(ALLOWED)


def test_pattern_results_are_remembered_boundedly() -> None:
    clear_all()
    matcher = OriginMatcher(["https://*.example.com"])
    for index in range(3000):
        assert not matcher.allows(f"https://x{index}.evil.example")
    for _ in range(2):  # the second round is answered from what was remembered
        assert matcher.allows("https://a.example.com")
        assert not matcher.allows("https://a.example.com.evil.example")
    assert not matcher.allows("https://" + "a" * 600 + ".example.org")  # too long to keep


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        pytest.param("https://a.example", ("https", "a.example", None), id="plain"),
        pytest.param("http://localhost:3000", ("http", "localhost", 3000), id="port"),
        pytest.param("https://[::1]", ("https", "[::1]", None), id="ipv6"),
        pytest.param("https://[zz::1]", None, id="bad-ipv6"),
        pytest.param("https://a.example:443", None, id="default-port"),
        pytest.param("https://a.example:70000", None, id="port-range"),
        pytest.param("null", None, id="null"),
    ],
)
def test_parse_origin(value: str, parsed: tuple[str, str, int | None] | None) -> None:
    assert parse_origin(value) == parsed


@pytest.mark.parametrize(
    ("environ", "origin"),
    [
        pytest.param(
            {"wsgi.url_scheme": "https", "HTTP_HOST": "Example.com:443"},
            "https://example.com",
            id="host-default-port",
        ),
        pytest.param(
            {"wsgi.url_scheme": "http", "SERVER_NAME": "localhost", "SERVER_PORT": "8000"},
            "http://localhost:8000",
            id="server-name",
        ),
        pytest.param({"HTTP_HOST": "bad host"}, None, id="invalid"),
    ],
)
def test_request_origin(environ: dict[str, str], origin: str | None) -> None:
    ctx = WSGIContext(environ)
    assert request_origin(ctx.scheme, ctx.host) == origin


def test_describe() -> None:
    matcher = OriginMatcher(["https://b.example", "https://*.a.example"], regex=[r"https://x\.y"])
    assert matcher.describe() == {
        "origins": ["https://b.example", "https://*.a.example"],
        "regex": [r"https://x\.y"],
        "func": None,
    }
