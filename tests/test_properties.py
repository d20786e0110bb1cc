"""Property tests of every parser and rewriter that handles attacker-controlled input.

Each property runs under the ``headerware-ci`` profile (``CI_EXAMPLES`` examples)
and, with ``-m slow``, under ``headerware-slow`` (``SLOW_EXAMPLES``); see
tests/_hypothesis.py. The properties:

- request ``Cookie`` parsing: any bytes never raise; large inputs finish; a dropped
  pair never takes its neighbours; no Unicode trimming; the cleaned header the
  application sees parses the same with werkzeug;
- ``Set-Cookie`` rewriting by :class:`CookiePolicy`: order kept, every attribute it
  does not own preserved, flags added, prefix rules enforced, deletions kept;
- CSP building: an accepted policy renders to one header value without control
  characters, ``;`` and ``,`` only as separators, the nonce only where asked;
- origin matching: no mutation of an allowed origin is ever accepted;
- header validation: nothing with CR/LF or a control character reaches
  ``start_response``, whatever the app's headers and the layer configuration;
- Accept parsing: negotiation never raises and never picks an offer refused with q=0;
- the two adapters: for any request the same layers answer alike under ASGI and WSGI
  (status, headers with their values, body), and the ASGI messages are valid.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import strategies as st
from werkzeug.http import http_date, parse_cookie

from headerware import Stack
from headerware._headers import check_header, is_safe_value, is_token
from headerware.asgi import ASGIStack
from headerware.cookies_parse import parse_request_cookies
from headerware.csp_policy import KNOWN_DIRECTIVES, Policy, csp_hash
from headerware.layers.auth import BearerAuth
from headerware.layers.caching import Caching
from headerware.layers.cookies import MAX_LIFETIME, CookiePolicy
from headerware.layers.cors import CORS
from headerware.layers.csp import ContentSecurityPolicy, csp_nonce
from headerware.layers.csrf import CSRFProtect
from headerware.layers.headers import RequestHeaders, ResponseHeaders
from headerware.layers.hosts import TrustedHosts
from headerware.layers.negotiation import Negotiation, negotiate_media_type
from headerware.layers.security import SecurityHeaders
from headerware.layers.sessions import Sessions
from headerware.layers.signing import SignedCookies
from headerware.origins import OriginMatcher, canonical_origin, parse_origin
from headerware.setcookie import SetCookie
from headerware.wsgi import environ_key
from tests._hypothesis import (
    COOKIE_OCTETS,
    PROFILES,
    cookie_values,
    latin1,
    latin1_text,
    run_property,
    tokens,
    unicode_spaces,
)
from tests.asgi_contract import Result, make_scope
from tests.asgi_contract import call as asgi_call
from tests.contract import Recorder, make_environ

Headers = list[tuple[str, str]]
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    # Refusals are logged by design; thousands of records would only cost memory.
    caplog.set_level(logging.CRITICAL, logger="headerware")


def serve(app: Any, layers: list[Any], **environ: Any) -> tuple[Recorder, bytes]:
    """One request through ``Stack(layers, app)`` with a recording start_response."""
    recorder = Recorder()
    result = Stack(layers, app)(make_environ(**environ), recorder)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return recorder, body


def static_app(headers: Headers, seen: dict[str, Any] | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if seen is not None:
            seen["cookie"] = environ.get("HTTP_COOKIE")
            seen["nonce"] = csp_nonce(environ, default="")
        start_response("200 OK", [("Content-Type", "text/html"), *headers])
        return [b"ok"]

    return app


def assert_headers_safe(headers: Headers) -> None:
    for name, value in headers:
        assert is_token(name), name
        assert _CONTROL.search(value) is None, (name, value)
        value.encode("latin-1")


# == request Cookie headers ==========================================================

#: Pairs that must be dropped, one family each.
bad_pairs = st.one_of(
    tokens,  # no "="
    cookie_values.map(lambda v: "=" + v),  # nameless: "=__Host-x"
    st.tuples(tokens, tokens, cookie_values).map(lambda t: f"{t[0]} {t[1]}={t[2]}"),
    st.tuples(st.sampled_from('()<>@,/[]?{}"\\:'), tokens, cookie_values).map(
        lambda t: f"{t[1]}{t[0]}={t[2]}"
    ),
    st.tuples(tokens, st.sampled_from("\x00\x01\x0a\x0d\x1b\x7f")).map(
        lambda t: f"{t[0]}=a{t[1]}b"
    ),
    st.tuples(st.sampled_from(["\xa0", "\xc2\xa0", "\x85", "\x0b", "\x0c"]), tokens).map(
        lambda t: f"{t[0]}{t[1]}=1"
    ),
)
good_pairs = st.tuples(tokens, cookie_values)
items = st.lists(st.one_of(good_pairs, bad_pairs), max_size=12)
separators = st.sampled_from([";", "; ", " ;", ";\t", "; ;", ";;"])


def _join(drawn: list[tuple[str, str] | str], sep: str) -> str:
    return sep.join(f"{i[0]}={i[1]}" if isinstance(i, tuple) else i for i in drawn)


@pytest.mark.parametrize("profile", PROFILES)
def test_cookie_header_any_bytes_never_raises(profile: str) -> None:
    def prop(header: str) -> None:
        cookies = parse_request_cookies(header)
        for name, value in cookies.pairs:
            assert is_token(name) and name in header
            assert _CONTROL.search(value) is None and ";" not in value
        again = parse_request_cookies(cookies.to_header())
        assert dict(again) == dict(cookies) and again.is_clean

    run_property(profile, prop, st.one_of(latin1, latin1_text))


@pytest.mark.parametrize("profile", PROFILES)
def test_cookie_header_large_inputs_finish(profile: str) -> None:
    # Linear time: no timing, just inputs of 10^5+ characters built to hurt a
    # backtracking or quadratic parser, which must come back with an answer.
    fragments = st.sampled_from(["=", ";", " ", "\t", "a=", "=a", "a", '"', "\xa0", "a=b;"])

    def prop(fragment: str, repeat: int, tail: str) -> None:
        header = fragment * repeat + tail
        cookies = parse_request_cookies(header)
        assert len(cookies.pairs) + cookies.dropped <= header.count(";") + 1

    run_property(
        profile, prop, fragments, st.integers(10_000, 200_000), st.sampled_from(["", "x=1", "=;"])
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_dropped_pairs_keep_their_neighbours(profile: str) -> None:
    def prop(drawn: list[tuple[str, str] | str], sep: str) -> None:
        cookies = parse_request_cookies(_join(drawn, sep))
        expected = [item for item in drawn if isinstance(item, tuple)]
        assert cookies.pairs == expected
        assert cookies.dropped == len(drawn) - len(expected)

    run_property(profile, prop, items, separators)


@pytest.mark.parametrize("profile", PROFILES)
def test_no_unicode_trimming_of_cookie_names(profile: str) -> None:
    def prop(space: str, name: str, before: bool, neighbours: list[tuple[str, str]]) -> None:
        spoof = f"{space}__Host-{name}=1" if before else f"__Host-{name}{space}=1"
        cookies = parse_request_cookies(_join([*neighbours, spoof, *neighbours], "; "))
        assert f"__Host-{name}" not in cookies
        assert cookies.pairs == neighbours + neighbours
        assert cookies.dropped == 1

    good = st.lists(good_pairs.filter(lambda p: not p[0].startswith("__Host-")), max_size=3)
    run_property(profile, prop, unicode_spaces, tokens, st.booleans(), good)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_app_sees_what_headerware_parsed(profile: str) -> None:
    # Flask/werkzeug parse the cleaned header the same way headerware did.
    def prop(drawn: list[tuple[str, str] | str], sep: str) -> None:
        header = _join(drawn, sep)
        seen: dict[str, Any] = {}
        serve(static_app([], seen), [CookiePolicy()], HTTP_COOKIE=header)
        ours = dict(parse_request_cookies(header))
        assert dict(parse_cookie(seen["cookie"] or "")) == ours

    run_property(profile, prop, items, separators)


# == Set-Cookie rewriting ==============================================================

_OWNED = {"path", "domain", "max-age", "expires", "samesite", "secure", "httponly", "partitioned"}
attributes = st.lists(
    st.one_of(
        st.sampled_from(["/", "/app", "app", "/a/b"]).map(lambda v: ("Path", v)),
        st.just(("Domain", "example.com")),
        st.integers(-10, 10**9).map(lambda n: ("Max-Age", str(n))),
        st.integers(0, 2 * 10**9).map(lambda t: ("Expires", http_date(t))),
        st.sampled_from(["Lax", "Strict", "None", "lax"]).map(lambda v: ("SameSite", v)),
        st.sampled_from(["Secure", "HttpOnly", "Partitioned"]).map(lambda f: (f, None)),
        st.sampled_from(["Low", "High"]).map(lambda v: ("Priority", v)),
        st.tuples(st.just("X-Ext"), st.text(alphabet=COOKIE_OCTETS, min_size=1, max_size=8)),
    ),
    max_size=6,
)
set_cookies = st.lists(
    st.tuples(
        st.tuples(st.sampled_from(["", "", "__Host-", "__Secure-"]), tokens).map("".join),
        cookie_values,
        attributes,
    ),
    max_size=6,
    unique_by=lambda cookie: cookie[0],  # one header per name: matching out to in is exact
)
policies = st.fixed_dictionaries(
    {
        "httponly": st.booleans(),
        "samesite": st.sampled_from(["Lax", "Strict", "None"]),
        "secure": st.sampled_from(["auto", "always", "never"]),
        "partitioned": st.booleans(),
        "max_cookies": st.integers(1, 8),
    }
).filter(lambda p: p["secure"] != "never" or (p["samesite"] != "None" and not p["partitioned"]))


def _render(name: str, value: str, attrs: list[tuple[str, str | None]]) -> str:
    return SetCookie(name, value, list(attrs)).render()


@pytest.mark.parametrize("profile", PROFILES)
def test_set_cookie_rewrite(profile: str) -> None:
    def prop(cookies: list[Any], options: dict[str, Any], https: bool, other: str) -> None:
        app_headers: Headers = [("X-Before", other)]
        for name, value, attrs in cookies:
            app_headers.append(("Set-Cookie", _render(name, value, attrs)))
        app_headers.append(("X-After", other))
        recorder, _ = serve(
            static_app(app_headers),
            [CookiePolicy(**options)],
            **{"wsgi.url_scheme": "https" if https else "http"},
        )
        out = recorder.headers
        assert_headers_safe(out)
        assert [h for h in out if h[0] != "Set-Cookie"] == [
            ("Content-Type", "text/html"),
            ("X-Before", other),
            ("X-After", other),
        ]
        written = [SetCookie.parse(v) for k, v in out if k == "Set-Cookie"]
        # Order kept: what comes out is a subsequence of what went in.
        inputs = iter(cookies)
        for cookie in written:
            source = next(c for c in inputs if c[0] == cookie.name)
            name, value, attrs = source
            assert cookie.value == value
            for key, attr_value in attrs:
                if key.lower() not in _OWNED:
                    assert (key, attr_value) in cookie.attrs, "an unknown attribute was lost"
            if SetCookie(name, value, list(attrs)).is_deletion():
                assert cookie.is_deletion(), "a deletion no longer deletes"
            else:
                if options["httponly"]:
                    assert cookie.has("httponly")
                assert cookie.get("samesite") is not None
                max_age = cookie.get("max-age")
                if max_age is not None and max_age.lstrip("-").isdigit():
                    assert int(max_age) <= MAX_LIFETIME
            path = cookie.get("path")
            assert path is not None and path.startswith("/")
            samesite = (cookie.get("samesite") or "").lower()
            if (
                name.startswith(("__Host-", "__Secure-"))
                or samesite == "none"
                or cookie.has("partitioned")
                or options["secure"] == "always"
                or (options["secure"] == "auto" and https)
            ):
                assert cookie.has("secure"), cookie.render()
            if name.startswith("__Host-"):
                assert path == "/" and not cookie.has("domain")
        kept = [c for c in written if not c.is_deletion()]
        assert len(kept) <= options["max_cookies"]

    other = st.text(alphabet=COOKIE_OCTETS, max_size=10)
    run_property(profile, prop, set_cookies, policies, st.booleans(), other)


@pytest.mark.parametrize("profile", PROFILES)
def test_set_cookie_garbage_never_raises(profile: str) -> None:
    def prop(values: list[str]) -> None:
        # The app's own Set-Cookie values stay free of control characters (the WSGI
        # rules); the garbage is everything else.
        clean = [v for v in values if _CONTROL.search(v) is None]
        recorder, _ = serve(static_app([("Set-Cookie", v) for v in clean]), [CookiePolicy()])
        assert_headers_safe(recorder.headers)

    run_property(profile, prop, st.lists(latin1_text, max_size=5))


# == CSP building ======================================================================

_NONCE = "Tm9uY2VOb25jZU5vbmNlIQ=="
source_pool = st.sampled_from(
    [
        "'self'",
        "'none'",
        "'strict-dynamic'",
        "'unsafe-inline'",
        "'unsafe-eval'",
        "'report-sample'",
        "https:",
        "data:",
        "*",
        "https://cdn.example.com",
        "*.example.com:443",
        "'nonce-abc123'",
        csp_hash("alert(1)"),
        "self",
        "'sha256-short'",
        "a;b",
        "a,b",
        "a b",
        "x\r\ny",
        "caf\xe9.example",
        "'unknown'",
        "",
    ]
)
valid_sources = st.sampled_from(
    [
        "'self'",
        "https://cdn.example.com",
        "*.example.com:443",
        "https:",
        "'report-sample'",
        "'nonce-abc123'",
        csp_hash("alert(1)"),
        "'strict-dynamic'",
        "data:",
        "'unsafe-inline'",
    ]
)
directive_names = st.one_of(
    st.sampled_from(
        sorted(
            KNOWN_DIRECTIVES
            - {"sandbox", "report-to", "webrtc", "require-trusted-types-for", "trusted-types"}
        )
    ),
    st.sampled_from(sorted(KNOWN_DIRECTIVES - {"sandbox"})),
    st.sampled_from(sorted(KNOWN_DIRECTIVES)),
    st.sampled_from(sorted(KNOWN_DIRECTIVES)).map(str.upper),
    st.sampled_from(["block-all-mixed-content", "script_src", "bogus", "report-uri"]),
)
directive_values = st.one_of(
    st.lists(valid_sources, min_size=1, max_size=3, unique=True),
    st.lists(valid_sources, min_size=1, max_size=3, unique=True),
    st.just(["'none'"]),
    st.lists(source_pool, max_size=4),
    st.lists(source_pool, max_size=3).map(" ".join),
    st.sampled_from([True, None, False]),
    latin1_text,
)
#: Policies of fetch directives and plain sources: mostly accepted, so the rendering
#: properties are exercised as much as the refusals.
fetch_policies = st.dictionaries(
    st.sampled_from(
        [
            "default-src",
            "script-src",
            "style-src",
            "img-src",
            "connect-src",
            "script-src-elem",
            "style-src-elem",
            "worker-src",
            "object-src",
        ]
    ),
    st.lists(
        st.sampled_from(
            [
                "'self'",
                "https://cdn.example.com",
                "'nonce-abc123'",
                csp_hash("alert(1)"),
                "'report-sample'",
                "blob:",
            ]
        ),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    min_size=1,
    max_size=5,
)
noncable = st.lists(
    st.sampled_from(["script-src", "style-src", "script-src-elem", "style-src-elem"]),
    unique=True,
)


def _check_rendered(header: str, nonced: tuple[str, ...]) -> None:
    assert _CONTROL.search(header) is None and "," not in header
    header.encode("ascii")
    for directive in header.split("; "):
        name, *sources = directive.split(" ")
        assert name in KNOWN_DIRECTIVES, directive
        for source in sources:
            assert source and ";" not in source
        if f"'nonce-{_NONCE}'" in sources:
            assert name in nonced, f"nonce in {name}, asked for {nonced}"
        elif name in nonced:
            raise AssertionError(f"{name} should carry the nonce")


@pytest.mark.parametrize("profile", PROFILES)
def test_csp_policy_renders_safely_or_is_refused(profile: str) -> None:
    def prop(directives: dict[str, Any], nonce_directives: list[str], unsafe: Any) -> None:
        try:
            policy = Policy(directives, nonce_directives=nonce_directives, allow_unsafe=unsafe)
        except ValueError:
            return  # refused at construction, with a message: the accepted outcome
        assert set(policy.nonced) <= {*nonce_directives, "script-src-elem", "style-src-elem"}
        _check_rendered(policy.render(_NONCE), policy.nonced)

    run_property(
        profile,
        prop,
        st.one_of(fetch_policies, st.dictionaries(directive_names, directive_values, max_size=6)),
        noncable,
        st.one_of(st.just(True), st.booleans(), st.lists(source_pool, max_size=2)),
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_csp_layer_nonce_only_where_asked(profile: str) -> None:
    def prop(directives: dict[str, Any], nonce_directives: list[str], https: bool) -> None:
        try:
            layer = ContentSecurityPolicy(
                policy=directives, nonce_directives=nonce_directives, allow_unsafe=True
            )
        except ValueError:
            return
        seen: dict[str, Any] = {}
        recorder, _ = serve(
            static_app([], seen), [layer], **{"wsgi.url_scheme": "https" if https else "http"}
        )
        assert_headers_safe(recorder.headers)
        (header,) = recorder.header_values("Content-Security-Policy")
        nonce = seen["nonce"]
        expected = Policy(directives, nonce_directives=nonce_directives, allow_unsafe=True)
        if expected.nonced:
            assert len(nonce) >= 22  # 16 bytes of base64
            header = header.replace(nonce, _NONCE)
        _check_rendered(header, expected.nonced)

    valid = st.lists(
        st.sampled_from(["'self'", "https://cdn.example.com", csp_hash("x")]), min_size=1
    )
    run_property(
        profile,
        prop,
        st.dictionaries(st.sampled_from(sorted(KNOWN_DIRECTIVES - {"sandbox"})), valid, min_size=1),
        noncable,
        st.booleans(),
    )


# == origin matching ===================================================================

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
hosts = st.lists(labels, min_size=1, max_size=3).map(".".join)
origins = st.tuples(
    st.sampled_from(["https", "http"]), hosts, st.sampled_from(["", ":8443", ":3000"])
).map(lambda t: f"{t[0]}://{t[1]}{t[2]}")


def _mutations(origin: str) -> list[str]:
    scheme, rest = origin.split("://")
    host = rest.split(":")[0]
    other = "http" if scheme == "https" else "https"
    return [
        origin.upper(),
        origin[:-1] + origin[-1].upper() if origin[-1].isalpha() else origin + "A",
        origin + "/",
        origin + ".",
        origin + ".evil.com",
        origin + "evil",
        origin + "\r\nSet-Cookie: x=1",
        origin + "\x00",
        " " + origin,
        origin + " ",
        f"{other}://{rest}",
        f"{scheme}://evil{rest}",
        f"{scheme}://evil.{rest}",
        f"{scheme}://user@{rest}",
        f"{scheme}://{rest}:443" if ":" not in rest else f"{scheme}://{host}",
        f"{scheme}://{rest}#",
        origin.replace(".", "x", 1),
        origin.replace(".", "", 1),
        origin[:-1],
        "null",
        origin + "%00",
        f"{scheme}://{rest}\t",
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_no_mutation_of_an_allowed_origin_is_accepted(profile: str) -> None:
    def prop(allowed: list[str], extra: str) -> None:
        matcher = OriginMatcher(allowed)
        exact = {canonical_origin(o) for o in allowed}
        for origin in allowed:
            assert matcher.allows(origin)
            for candidate in [*_mutations(origin), origin + extra, extra + origin]:
                assert matcher.allows(candidate) == (candidate in exact), candidate

    run_property(profile, prop, st.lists(origins, min_size=1, max_size=4), latin1_text)


@pytest.mark.parametrize("profile", PROFILES)
def test_subdomain_patterns_and_regexes_match_only_their_origins(profile: str) -> None:
    matcher = OriginMatcher(
        ["https://*.example.com"], regex=[r"https://[a-z0-9-]+\.example\.org(:8443)?"]
    )

    def oracle(candidate: str) -> bool:
        parsed = parse_origin(candidate)
        if parsed is None:
            return False
        scheme, host, port = parsed
        wildcard = scheme == "https" and port is None and host.endswith(".example.com")
        regex = re.fullmatch(r"https://[a-z0-9-]+\.example\.org(:8443)?", candidate) is not None
        return wildcard or regex

    def prop(sub: str, base: str, mutate: int, extra: str) -> None:
        origin = f"https://{sub}.{base}"
        candidates = [origin, *_mutations(origin), origin + extra, extra]
        candidate = candidates[mutate % len(candidates)]
        assert matcher.allows(candidate) == oracle(candidate), candidate

    run_property(
        profile,
        prop,
        hosts,
        st.sampled_from(["example.com", "example.org", "example.org:8443", "example.com.evil"]),
        st.integers(0, 100),
        latin1_text,
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_cors_reflects_only_allowed_origins(profile: str) -> None:
    allowed = "https://app.example.com"
    layer = CORS(allow_origins=[allowed], allow_credentials=True, allow_methods=["GET", "POST"])

    def prop(mutate: int, extra: str, method: str) -> None:
        candidates = [allowed, *_mutations(allowed), allowed + extra, extra]
        origin = candidates[mutate % len(candidates)]
        environ: dict[str, Any] = {"HTTP_ORIGIN": origin, "REQUEST_METHOD": method}
        if method == "OPTIONS":
            environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"] = "POST"
        recorder, _ = serve(static_app([]), [layer], **environ)
        assert_headers_safe(recorder.headers)
        acao = recorder.header_values("Access-Control-Allow-Origin")
        if origin == allowed:
            assert acao == [allowed]
        else:
            assert acao == [], origin
            assert not recorder.header_values("Access-Control-Allow-Credentials")
        assert "Origin" in ", ".join(recorder.header_values("Vary"))

    run_property(
        profile, prop, st.integers(0, 100), latin1_text, st.sampled_from(["GET", "POST", "OPTIONS"])
    )


# == header names and values ===========================================================

hostile_values = st.one_of(
    latin1_text,
    st.sampled_from(["a\r\nSet-Cookie: x=1", "\n", "\r", "a\x00b", "\x7f", "caf\u00e9\u2603", ""]),
)


@pytest.mark.parametrize("profile", PROFILES)
def test_check_header_accepts_only_sendable_headers(profile: str) -> None:
    def prop(name: str, value: str) -> None:
        try:
            check_header(name, value)
        except ValueError:
            return
        assert is_token(name) and is_safe_value(value)
        assert "\r" not in value and "\n" not in value

    run_property(profile, prop, st.one_of(tokens, latin1_text), hostile_values)


#: App header values the WSGI validator accepts: printable latin-1, no tab.
app_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF).filter(
        lambda c: c != "\x7f" and not 0x80 <= ord(c) < 0xA0
    ),
    max_size=30,
)


@pytest.mark.parametrize("profile", PROFILES)
def test_no_control_character_reaches_start_response(profile: str) -> None:
    def prop(
        app_headers: list[tuple[str, str]],
        reflected: str,
        statics: dict[str, str],
        security: dict[str, Any],
        request: dict[str, str],
    ) -> None:
        layers = [
            SecurityHeaders(**security),
            ContentSecurityPolicy(),
            CookiePolicy(),
            ResponseHeaders(
                set={"X-Reflected": lambda ctx: reflected},
                add={"X-Origin": lambda ctx: ctx.header("origin")},
                setdefault=statics,
            ),
        ]
        recorder, _ = serve(static_app(app_headers), layers, **request)
        assert_headers_safe(recorder.headers)
        sent = recorder.header_values("X-Reflected")
        assert sent == ([reflected] if is_safe_value(reflected) else [])

    request = st.fixed_dictionaries(
        {},
        optional={
            "HTTP_ORIGIN": hostile_values,
            "HTTP_COOKIE": hostile_values,
            "HTTP_HOST": hostile_values,
            "wsgi.url_scheme": st.sampled_from(["http", "https"]),
        },
    )
    statics = st.dictionaries(
        st.sampled_from(["X-A", "X-B", "Cache-Control"]),
        st.text(alphabet=COOKIE_OCTETS, max_size=10),
        max_size=2,
    )
    security = st.fixed_dictionaries(
        {},
        optional={
            "x_frame_options": st.sampled_from(["DENY", "SAMEORIGIN", None]),
            "referrer_policy": st.sampled_from(["no-referrer", "strict-origin", True, None]),
            "merge": st.sampled_from(["overwrite", "keep"]),
            "hsts_preload": st.just(False),
            "json_headers": st.sampled_from([None, ("X-Frame-Options",)]),
        },
    )
    no_tab = st.text(alphabet=COOKIE_OCTETS + " ", max_size=20)
    reflected = st.one_of(hostile_values.filter(lambda v: "\t" not in v), no_tab)
    run_property(
        profile,
        prop,
        st.lists(
            st.tuples(st.sampled_from(["X-App", "Vary", "Link", "Server"]), app_values), max_size=4
        ),
        reflected,
        statics,
        security,
        request,
    )


# == Accept parsing ====================================================================

_TYPES = ["text/html", "application/json", "text/plain", "image/png"]
media_ranges = st.sampled_from([*_TYPES, "text/*", "application/*", "image/*", "*/*"])
qvalues = st.sampled_from(
    ["", ";q=0", ";q=0.0", ";q=0.000", ";q=0.5", ";q=1", ";q=0.001", ";q=1.0"]
)


def _q(suffix: str) -> float:
    return float(suffix[3:]) if suffix else 1.0


def _effective_q(offer: str, entries: dict[str, str]) -> float | None:
    """The q of the most specific range that matches ``offer``, or None."""
    main = offer.split("/")[0]
    for candidate in (offer, f"{main}/*", "*/*"):
        if candidate in entries:
            return _q(entries[candidate])
    return None


@pytest.mark.parametrize("profile", PROFILES)
def test_negotiation_never_picks_a_refused_offer(profile: str) -> None:
    def prop(entries: dict[str, str], offers: list[str], junk: str) -> None:
        header = ", ".join(f"{r}{q}" for r, q in entries.items())
        environ = make_environ(HTTP_ACCEPT=header)
        choice = negotiate_media_type(environ, offers)
        acceptable = [o for o in offers if (_effective_q(o, entries) or 0) > 0]
        if choice is None:
            assert not acceptable, (header, offers)
        else:
            assert choice in acceptable, (header, offers, choice)
        # Junk around it never raises, whatever it does to the choice.
        for noisy in (junk, header + "," + junk, junk + ";q=0," + header):
            picked = negotiate_media_type(make_environ(HTTP_ACCEPT=noisy), offers)
            assert picked is None or picked in offers

    run_property(
        profile,
        prop,
        st.dictionaries(media_ranges, qvalues, min_size=1, max_size=5),
        st.lists(st.sampled_from(_TYPES), min_size=1, max_size=4, unique=True),
        latin1_text,
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_negotiation_layer_answers_406_rather_than_a_refused_type(profile: str) -> None:
    offers = ["application/json", "text/html"]
    layer = Negotiation(
        media_types={"/data": offers}, languages={"/data": ["en", "es"]}, not_acceptable=True
    )

    def prop(entries: dict[str, str], language: str) -> None:
        header = ", ".join(f"{r}{q}" for r, q in entries.items())
        chosen: dict[str, Any] = {}

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            chosen["media"] = environ.get("headerware.negotiation.media_type")
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

        recorder, _ = serve(
            app, [layer], PATH_INFO="/data", HTTP_ACCEPT=header, HTTP_ACCEPT_LANGUAGE=language
        )
        assert_headers_safe(recorder.headers)
        if recorder.status.startswith("200"):
            assert (_effective_q(chosen["media"], entries) or 0) > 0
        else:
            assert recorder.status.startswith("406")

    run_property(
        profile,
        prop,
        st.dictionaries(media_ranges, qvalues, min_size=1, max_size=5),
        st.one_of(latin1_text, st.sampled_from(["es;q=0, en", "*;q=0", "en", ""])),
    )


def test_hypothesis_examples_are_counted() -> None:
    """The profiles exist and the CI one runs enough examples to matter."""
    from hypothesis import settings

    assert settings.get_profile("headerware-ci").max_examples >= 200
    assert settings.get_profile("headerware-slow").max_examples >= 10 * 200


# == the two adapters decide alike =====================================================

_NONCE_VALUE = re.compile(r"'nonce-[A-Za-z0-9+/=_-]+'")
_SESSION_KEY = "property-test-session-key-0123456789"
_BEARER = "property-test-token"


def _both_adapters_layers() -> list[Any]:
    """Every layer that decides on request headers, configured as the examples are."""
    return [
        SecurityHeaders(),
        ContentSecurityPolicy(),
        TrustedHosts(allowed_hosts=["localhost", "example.com", "*.example.com"]),
        RequestHeaders(),
        CORS(
            allow_origins=["https://app.example.com"],
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Content-Type", "Authorization"],
            rules={"/data": {}, "/api/*": {}},
        ),
        CookiePolicy(),
        SignedCookies(cookies=["username"], secret_keys=[_SESSION_KEY]),
        Sessions(secret_keys=[_SESSION_KEY]),
        CSRFProtect(),
        BearerAuth(paths=["/api/*"], tokens=[_BEARER]),
        Negotiation(media_types={"/data": ["application/json", "text/html"]}),
        Caching(etag="strong", rules={"/static/*": "max-age=60"}),
    ]


_BOTH_LAYERS = _both_adapters_layers()
_WSGI_BOTH = Stack(_BOTH_LAYERS, static_app([("Content-Length", "2")]))


async def _asgi_static_app(scope: Any, receive: Any, send: Any) -> None:
    """static_app's twin: the same head and body, as ASGI messages."""
    headers = [(b"content-type", b"text/html"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


_ASGI_BOTH = ASGIStack(_BOTH_LAYERS, _asgi_static_app)


def serve_stack(stack: Stack, environ: dict[str, Any]) -> tuple[Recorder, bytes]:
    recorder = Recorder()
    result = stack(environ, recorder)
    try:
        return recorder, b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _decision(
    status: int, headers: Headers, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a response decided, comparable across adapters (the nonce is random)."""
    normalised = sorted(
        (name.lower(), _NONCE_VALUE.sub("'nonce-N'", value)) for name, value in headers
    )
    return status, normalised, body


#: Request header values: the ones the layers know, and hostile latin-1 text.
_request_values = st.one_of(
    latin1_text,
    st.sampled_from(
        [
            "https://app.example.com",
            "null",
            "cross-site",
            "same-origin",
            "GET",
            "text/html",
            "application/json;q=0, */*",
            f"Bearer {_BEARER}",
            "Bearer wrong",
            "keep=1; username=x",
            "https",
            "example.com",
            "evil.example",
            '"x"',
        ]
    ),
)
_request_headers = st.dictionaries(
    st.sampled_from(
        [
            "origin",
            "cookie",
            "authorization",
            "accept",
            "accept-language",
            "sec-fetch-site",
            "access-control-request-method",
            "access-control-request-headers",
            "x-forwarded-proto",
            "if-none-match",
            "content-type",
            "x-other",
        ]
    ),
    _request_values,
    max_size=6,
)
#: ASCII paths (under WSGI a non-ASCII path is latin-1-decoded bytes, under ASGI the
#: UTF-8 text: the adapters differ there by the specifications, not by decision).
_paths = st.one_of(
    st.sampled_from(["/", "/data", "/api/x", "/static/a.css", "/a/../api/x", "//data", "/api"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30).map(
        lambda text: "/" + text
    ),
)


@pytest.mark.parametrize("profile", PROFILES)
def test_asgi_and_wsgi_adapters_decide_alike(profile: str) -> None:
    """For any request, the same layers answer with the same status, the same
    headers (values included, nonces aside) and the same body under both adapters."""

    def prop(
        method: str, path: str, host: str | None, headers: dict[str, str], scheme: str
    ) -> None:
        if host is not None:
            headers = {"host": host, **headers}
        environ = make_environ(REQUEST_METHOD=method, PATH_INFO=path, **{"wsgi.url_scheme": scheme})
        del environ["HTTP_HOST"]
        for name, value in headers.items():
            environ[environ_key(name)] = value
        recorder, wsgi_body = serve_stack(_WSGI_BOTH, environ)
        wsgi = _decision(int(recorder.status.split()[0]), recorder.headers, wsgi_body)
        scope = make_scope(
            method=method, path=path, scheme=scheme, host=None, headers=headers.items()
        )
        # Result() checks the messages are valid ASGI too.
        result = Result(loop.run_until_complete(asgi_call(_ASGI_BOTH, scope)))
        assert _decision(result.status, result.headers, result.body) == wsgi

    loop = asyncio.new_event_loop()  # one loop for every example
    try:
        run_property(
            profile,
            prop,
            st.sampled_from(["GET", "HEAD", "POST", "PUT", "OPTIONS", "DELETE"]),
            _paths,
            st.one_of(st.none(), st.sampled_from(["localhost", "a.example.com", "evil.example"])),
            _request_headers,
            st.sampled_from(["http", "https"]),
        )
    finally:
        loop.close()
