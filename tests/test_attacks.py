"""Known attacks from the CVE history of headerware's peers, one row each.

Every row goes through a full stack built like the examples' (every layer, canonical
order, through WebTest with lint) and checks three things: the attack gets its clear
outcome (a 4xx, or the value dropped), the security event is logged, and nothing
else in the request or the response was lost (the neighbouring cookie still reaches
the application, the application's own header and the security headers still go out).

The rows that concern a request are run under ASGI too (the end of this module): the
same tables, through ``ASGIStack`` around a Starlette application, whose own parsers
(``Request.cookies``) are the seam there as werkzeug's is under WSGI.

Rows marked ``xfail(strict=True)`` are issues found by the property tests and the
fuzz harness and reported, not yet fixed; each names its input precisely.
"""

from __future__ import annotations

import json
import logging
import time
import wsgiref.validate
from collections.abc import Iterable
from typing import Any

import pytest
import webtest
from werkzeug.http import parse_cookie

from headerware import Stack
from headerware.asgi import ASGIStack
from headerware.crypto import CookieSigner
from headerware.layers.auth import BearerAuth
from headerware.layers.cookies import CookiePolicy
from headerware.layers.cors import CORS
from headerware.layers.csp import ContentSecurityPolicy
from headerware.layers.csrf import CSRFProtect
from headerware.layers.headers import RequestHeaders, ResponseHeaders
from headerware.layers.hosts import TrustedHosts, TrustedProxy
from headerware.layers.https_redirect import HTTPSRedirect
from headerware.layers.negotiation import Negotiation
from headerware.layers.security import SecurityHeaders
from headerware.layers.sessions import Sessions, get_session
from headerware.layers.signing import SignedCookies
from headerware.origins import OriginMatcher
from tests.asgi_contract import Result, make_scope, run
from tests.asgi_contract import text_app as asgi_text_app
from tests.contract import Recorder, make_environ

NEW_KEY = "attack-table-newest-key-0123456789"
OLD_KEY = "attack-table-older-key-0123456789"
KEYS = [NEW_KEY, OLD_KEY]
ALLOWED = "https://app.example.com"
TOKEN = "example-token"
SECURITY = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Reports what it saw; sets the cookies and session of the example routes."""
    path = environ["PATH_INFO"]
    headers = [("Content-Type", "application/json"), ("X-App", "intact")]
    if path == "/set-cookie":
        headers.append(("Set-Cookie", "username=john_doe; Max-Age=604800"))
        headers.append(("Set-Cookie", "keep=1; Path=/"))
    if path == "/big-cookie":
        headers.append(("Set-Cookie", "big=" + "x" * 5000))
        headers.append(("Set-Cookie", "keep=1; Path=/"))
    session_user = None
    if path == "/login":
        get_session(environ)["user_id"] = 42
    if path == "/dashboard":
        session_user = get_session(environ).get("user_id")
    seen = {
        "cookies": parse_cookie(environ.get("HTTP_COOKIE", "")),
        "scheme": environ["wsgi.url_scheme"],
        "user": session_user,
    }
    body = json.dumps(seen).encode()
    headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body]


def layers(**cors: Any) -> list[Any]:
    """Every layer, configured as the examples are, in the canonical order except that
    CSP comes right after the security headers, so the refusals of TrustedHosts and
    RequestHeaders carry a policy too (in the canonical order they carry the security
    headers - test_canonical_order_refusals_carry_security_headers - but no CSP).
    """
    return [
        SecurityHeaders(),
        ContentSecurityPolicy(),
        TrustedHosts(allowed_hosts=["localhost", "example.com", "*.example.com"]),
        RequestHeaders(),
        CORS(
            allow_origins=[ALLOWED],
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "Authorization"],
            rules={"/data": {}, "/api/*": {}},
            **cors,
        ),
        CookiePolicy(),
        SignedCookies(cookies=["username", "theme"], secret_keys=KEYS),
        Sessions(secret_keys=KEYS),
        CSRFProtect(),
        BearerAuth(paths=["/api/*"], tokens=[TOKEN]),
        Negotiation(media_types={"/data": ["application/json", "text/html"]}),
    ]


STACK = Stack(layers(), app)
CLIENT = webtest.TestApp(STACK, lint=True)
SIGNED: SignedCookies = next(layer for layer in STACK.layers if isinstance(layer, SignedCookies))


def signed(name: str, value: str) -> str:
    return SIGNED.signer_for(name).sign(value)


def seen(response: webtest.TestResponse) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.body)
    return data


def assert_intact(response: webtest.TestResponse, *, from_app: bool = True) -> None:
    """Nothing else lost: the security headers, and the app's own header when it ran."""
    for name in SECURITY:
        assert name in response.headers, f"{name} lost"
    assert "Content-Security-Policy" in response.headers
    if from_app:
        assert response.headers["X-App"] == "intact"


def events(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [getattr(record, "hw_event", "") for record in caplog.records]


# == origins ============================================================================


FOREIGN_ORIGINS = [
    pytest.param("https://app.example.com.evil.example", "prefix match", id="suffix-append"),
    pytest.param("https://evilapp.example.com", "suffix match", id="suffix-match"),
    pytest.param("https://app.example.co", "substring match", id="substring"),
    pytest.param("https://appxexample.com", "unescaped dot", id="dot-any-char"),
    pytest.param("null", "sandboxed iframe / file: origin", id="null-origin"),
    pytest.param("http://app.example.com", "scheme downgrade", id="scheme-downgrade"),
    pytest.param("https://APP.example.com", "not a serialized origin", id="upper-case"),
    pytest.param("https://app.example.com:443", "explicit default port", id="default-port"),
    pytest.param("https://evil.example", "credentials with reflected origin", id="reflect"),
]


@pytest.mark.parametrize(("origin", "why"), FOREIGN_ORIGINS)
def test_cors_never_reflects_a_foreign_origin(
    origin: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headerware")  # actual-request refusals: INFO
    response = CLIENT.get(
        "/data",
        headers={"Origin": origin, "Cookie": "keep=1"},
        extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "example.com"},
    )
    assert response.status_int == 200
    assert "Access-Control-Allow-Origin" not in response.headers, why
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]
    assert seen(response)["cookies"] == {"keep": "1"}
    assert_intact(response)
    assert "cors_refused" in events(caplog)


def test_cors_allowed_origin_still_works_next_to_the_attacks() -> None:
    response = CLIENT.get("/data", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"regex": [r"https://app.example.com"]}, "unescaped", id="loose-dot-regex"),
        pytest.param({"regex": [r"https://.*"]}, "arbitrary", id="match-anything-regex"),
        pytest.param(
            {"regex": [r"https://app\.example\.com|.*"]}, "arbitrary", id="alternation-regex"
        ),
        pytest.param({"origins": ["*", ALLOWED]}, "alone", id="star-with-others"),
        pytest.param({"origins": ["https://*example.com"]}, "anchored", id="unanchored-wildcard"),
        pytest.param({"origins": ["https://*.com"]}, "top-level", id="wildcard-tld"),
    ],
)
def test_unsafe_origin_configuration_fails_at_start_up(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OriginMatcher(**kwargs)


def test_unanchored_regex_cannot_be_extended() -> None:
    """A regex is matched with fullmatch: ``app\\.example\\.com`` is not a prefix."""
    stack = Stack(layers(allow_origin_regex=[r"https://app\.example\.com"]), app)
    response = webtest.TestApp(stack, lint=True).get(
        "/data", headers={"Origin": "https://app.example.com.evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert_intact(response)


def test_wildcard_with_credentials_fails_at_start_up() -> None:
    with pytest.raises(ValueError, match="credentials"):
        CORS(allow_origins=["*"], allow_credentials=True)


CROSS_SITE_POSTS = [
    pytest.param({"Origin": "null"}, "origin_mismatch", id="null-origin"),
    pytest.param({"Origin": "https://evil.example"}, "origin_mismatch", id="foreign-origin"),
    pytest.param({"Origin": "http://localhost"}, "origin_mismatch", id="scheme-downgrade"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, "cross_site", id="fetch-metadata"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, "cross_site", id="sibling-subdomain"),
]


@pytest.mark.parametrize(("headers", "reason"), CROSS_SITE_POSTS)
def test_cross_site_post_is_refused(
    headers: dict[str, str], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = CLIENT.post(
        "/preferences",
        {"theme": "dark"},
        headers=headers,
        extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "localhost"},
        status=403,
    )
    assert_intact(response, from_app=False)
    record = next(r for r in caplog.records if getattr(r, "hw_event", "") == "csrf_refused")
    assert record.hw_fields["reason"] == reason  # type: ignore[attr-defined]


def test_same_origin_post_passes() -> None:
    response = CLIENT.post(
        "/preferences",
        {"theme": "dark"},
        headers={"Origin": "https://localhost", "Sec-Fetch-Site": "same-origin"},
        extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "localhost"},
    )
    assert response.status_int == 200


# == request cookies =====================================================================


PREFIX_SPOOFS = [
    pytest.param("\xa0__Host-id=evil; keep=1", "__Host-id", id="nbsp-host-prefix"),
    pytest.param("__Host-id\xa0=evil; keep=1", "__Host-id", id="trailing-nbsp"),
    pytest.param("\xc2\xa0__Host-id=evil; keep=1", "__Host-id", id="utf8-nbsp-host-prefix"),
    pytest.param("\x85__Secure-id=evil; keep=1", "__Secure-id", id="nel-secure-prefix"),
    pytest.param("=__Host-id=evil; keep=1", "__Host-id", id="nameless-cookie"),
    pytest.param("=; keep=1", "", id="empty-pair"),
    pytest.param("__Host-id; keep=1", "__Host-id", id="no-equals"),
]


@pytest.mark.parametrize(("header", "dropped"), PREFIX_SPOOFS)
def test_prefix_spoofs_are_dropped_and_neighbours_kept(header: str, dropped: str) -> None:
    response = CLIENT.get("/", extra_environ={"HTTP_COOKIE": header})
    cookies = seen(response)["cookies"]
    assert cookies == {"keep": "1"}, f"{dropped!r} (or a look-alike) reached the app"
    assert_intact(response)


def test_conflicting_duplicate_signed_cookie_is_tampering(caplog: pytest.LogCaptureFixture) -> None:
    header = f"username={signed('username', 'john')}; keep=1; username={signed('username', 'eve')}"
    response = CLIENT.get("/", extra_environ={"HTTP_COOKIE": header})
    assert seen(response)["cookies"] == {"keep": "1"}
    assert "cookie_signature_invalid" in events(caplog)
    assert_intact(response)


def test_identical_duplicate_is_not_tampering() -> None:
    value = signed("username", "john")
    header = f"username={value}; keep=1; username={value}"
    response = CLIENT.get("/", extra_environ={"HTTP_COOKIE": header})
    assert seen(response)["cookies"] == {"username": "john", "keep": "1"}


def test_duplicate_unsigned_cookie_first_wins() -> None:
    response = CLIENT.get("/", extra_environ={"HTTP_COOKIE": "pref=a; keep=1; pref=b"})
    assert seen(response)["cookies"] == {"pref": "a", "keep": "1"}


# == CR/LF in reflected values ===========================================================


CRLF_HEADERS = [
    pytest.param("HTTP_ORIGIN", ALLOWED + "\r\nSet-Cookie: evil=1", id="origin"),
    pytest.param("HTTP_COOKIE", "keep=1; username=a\r\nSet-Cookie: evil=1", id="cookie"),
    pytest.param("HTTP_ACCEPT", "text/html\nX-Evil: 1", id="accept"),
    pytest.param("HTTP_X_ANY", "\x00", id="nul"),
]


@pytest.mark.parametrize(("key", "value"), CRLF_HEADERS)
def test_crlf_in_request_headers_is_refused(
    key: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = CLIENT.get("/data", extra_environ={key: value}, status=400)
    assert "evil" not in str(response.headers).lower()
    assert "request_header_malformed" in events(caplog)
    assert_intact(response, from_app=False)


def test_crlf_in_the_https_redirect_target_is_encoded() -> None:
    stack = Stack([SecurityHeaders(), HTTPSRedirect(), ContentSecurityPolicy()], app)
    recorder = Recorder()
    body = stack(
        make_environ(PATH_INFO="/a\r\nSet-Cookie: evil=1", QUERY_STRING="x=\r\n"), recorder
    )
    assert recorder.status.startswith("301")
    (location,) = recorder.header_values("Location")
    assert "\r" not in location and "\n" not in location
    assert location.startswith("https://localhost/a%0D%0ASet-Cookie")
    assert not recorder.header_values("Set-Cookie")
    assert list(body)


def test_reflected_origin_callable_value_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    stack = Stack([ResponseHeaders(set={"X-Echo": lambda ctx: ctx.header("x-echo")})], app)
    recorder = Recorder()
    list(stack(make_environ(HTTP_X_ECHO="a\r\nSet-Cookie: evil=1"), recorder))
    assert recorder.header_values("X-Echo") == []
    assert recorder.header_values("X-App") == ["intact"]
    assert "response_header_dropped" in events(caplog)


# == oversized headers and cookies ======================================================


OVERSIZED_HEADERS = [
    pytest.param({"HTTP_COOKIE": "keep=1; big=" + "x" * 9000}, id="one-huge-cookie"),
    pytest.param({f"HTTP_X_H{i}": "v" * 300 for i in range(60)}, id="total-size"),
    pytest.param({f"HTTP_X_H{i}": "v" for i in range(150)}, id="header-count"),
]


@pytest.mark.parametrize("extra", OVERSIZED_HEADERS)
def test_oversized_request_headers_get_431(
    extra: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    response = CLIENT.get("/", extra_environ=extra, status=431)
    assert "request_headers_too_large" in events(caplog)
    assert_intact(response, from_app=False)


def test_oversized_set_cookie_is_dropped_and_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    response = CLIENT.get("/big-cookie")
    cookies = response.headers.getall("Set-Cookie")
    assert [c.split("=")[0] for c in cookies] == ["keep"]
    assert "cookie_refused" in events(caplog)
    assert_intact(response)


# == X-Forwarded-Proto spoofing ==========================================================


def test_forwarded_proto_from_an_untrusted_peer_is_ignored() -> None:
    response = CLIENT.get("/set-cookie", headers={"X-Forwarded-Proto": "https"})
    assert seen(response)["scheme"] == "http"
    assert "Strict-Transport-Security" not in response.headers
    assert all("Secure" not in c for c in response.headers.getall("Set-Cookie"))
    assert_intact(response)


def test_trusted_proxy_uses_only_the_hop_it_trusts() -> None:
    """One trusted proxy appends its own value: a client-sent ``https`` before it is ignored."""
    stack = Stack([TrustedProxy(x_proto=1), *layers()], app)
    response = webtest.TestApp(stack, lint=True).get(
        "/set-cookie", headers={"X-Forwarded-Proto": "https, http"}
    )
    assert seen(response)["scheme"] == "http"
    assert "Strict-Transport-Security" not in response.headers
    response = webtest.TestApp(stack, lint=True).get(
        "/set-cookie", headers={"X-Forwarded-Proto": "http, https"}
    )
    assert seen(response)["scheme"] == "https"
    assert "Strict-Transport-Security" in response.headers


# == signatures ===========================================================================


def _signed_long_ago(name: str, value: str, seconds: int) -> str:
    past = time.time() - seconds
    signer = CookieSigner(KEYS, f"headerware.signed-cookie:{name}", max_age=60)
    real = time.time
    try:
        time.time = lambda: past  # itsdangerous stamps with time.time()
        return signer.sign(value)
    finally:
        time.time = real


BAD_SIGNATURES = [
    pytest.param("username=john_doe", "unsigned", id="unsigned"),
    pytest.param(
        "username=" + signed("username", "john_doe")[:-2] + "xx", "bad_signature", id="tampered"
    ),
    pytest.param(
        "username=mallory." + signed("username", "john_doe").rsplit(".", 1)[1],
        "bad_signature",
        id="value-swapped",
    ),
    pytest.param(
        "username=" + signed("theme", "john_doe"),
        "bad_signature",
        id="signed-for-another-cookie",
    ),
    pytest.param(
        "username=" + CookieSigner(KEYS, "headerware.session").sign("{}"),
        "bad_signature",
        id="session-value-as-signed-cookie",
    ),
    pytest.param(
        "username=" + CookieSigner(["some-other-apps-key-0123456789"], "x").sign("john_doe"),
        "bad_signature",
        id="foreign-key",
    ),
]


@pytest.mark.parametrize(("cookie", "reason"), BAD_SIGNATURES)
def test_bad_signatures_are_dropped(
    cookie: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = CLIENT.get("/", extra_environ={"HTTP_COOKIE": cookie + "; keep=1"})
    assert seen(response)["cookies"] == {"keep": "1"}
    record = next(
        r for r in caplog.records if getattr(r, "hw_event", "") == "cookie_signature_invalid"
    )
    assert record.hw_fields == {"cookie": "username", "reason": reason}  # type: ignore[attr-defined]
    assert "john_doe" not in caplog.text
    assert_intact(response)


def test_expired_signature_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    stack = Stack([SignedCookies(cookies=["username"], secret_keys=KEYS, max_age=60)], app)
    old = _signed_long_ago("username", "john_doe", 3600)
    fresh = _signed_long_ago("username", "john_doe", 0)
    client = webtest.TestApp(stack, lint=True)
    response = client.get("/", extra_environ={"HTTP_COOKIE": f"username={old}; keep=1"})
    assert seen(response)["cookies"] == {"keep": "1"}
    assert "cookie_signature_invalid" in events(caplog)
    response = client.get("/", extra_environ={"HTTP_COOKIE": f"username={fresh}; keep=1"})
    assert seen(response)["cookies"] == {"username": "john_doe", "keep": "1"}


def test_signed_cookie_presented_as_session_reads_as_a_new_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = CLIENT.get(
        "/dashboard", extra_environ={"HTTP_COOKIE": "session=" + signed("username", "42")}
    )
    assert seen(response)["user"] is None
    assert "session_rejected" in events(caplog)
    assert_intact(response)


def test_old_key_still_verifies_and_the_new_key_signs() -> None:
    old_only = SignedCookies(cookies=["username"], secret_keys=[OLD_KEY])
    from_old = old_only.signer_for("username").sign("john_doe")
    response = CLIENT.get("/", extra_environ={"HTTP_COOKIE": f"username={from_old}"})
    assert seen(response)["cookies"] == {"username": "john_doe"}
    response = CLIENT.get("/set-cookie")
    header = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("username="))
    value = header.split(";")[0].split("=", 1)[1]
    new_only = CookieSigner([NEW_KEY], "headerware.signed-cookie:username")
    assert new_only.verify(value) == ("john_doe", "ok")
    assert old_only.signer_for("username").verify(value)[0] is None
    assert_intact(response)


def test_session_round_trip_survives_the_whole_stack() -> None:
    client = webtest.TestApp(STACK, lint=True)
    client.get("/login")
    assert seen(client.get("/dashboard"))["user"] == 42


# == bearer tokens ==========================================================================


BAD_BEARER_TOKENS = [
    pytest.param(None, 401, id="missing"),
    pytest.param("Bearer wrong", 401, id="wrong-token"),
    pytest.param("Bearer " + TOKEN + "x", 401, id="token-prefix"),
    pytest.param("Bearer " + TOKEN[:-1], 401, id="token-truncated"),
    pytest.param("Basic " + TOKEN, 401, id="other-scheme"),
    pytest.param("Bearer a b", 400, id="two-tokens"),
]


@pytest.mark.parametrize(("authorization", "status"), BAD_BEARER_TOKENS)
def test_bad_bearer_tokens_are_refused(authorization: str | None, status: int) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = CLIENT.get("/api/protected", headers=headers, status=status)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_intact(response, from_app=False)


# == reported issues, pinned =============================================================


def _validated(stack: Any, **environ: Any) -> tuple[str, list[tuple[str, str]]]:
    recorder = Recorder()
    result = wsgiref.validate.validator(stack)(make_environ(**environ), recorder)
    try:
        b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return recorder.status, recorder.headers


def test_canonical_order_refusals_carry_security_headers() -> None:
    from headerware.config import stack_from_dict

    config = {
        "trusted_hosts": {"allowed_hosts": ["example.com"]},
        "request_headers": {},
        "security_headers": {},
    }
    stack = stack_from_dict(config, app)
    client = webtest.TestApp(stack, lint=True)
    refused = client.get("/", extra_environ={"HTTP_HOST": "evil.example"}, status=400)
    big = {"HTTP_HOST": "example.com", "HTTP_X_BIG": "x" * 9000}
    too_large = client.get("/", extra_environ=big, status=431)
    for response in (refused, too_large):
        for name in SECURITY:
            assert name in response.headers


def test_set_cookie_attribute_with_crlf_is_refused() -> None:
    def bad(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain"),
                ("Set-Cookie", "a=1; Path=/\r\nX-Injected: 1"),
                ("Set-Cookie", "keep=1"),
            ],
        )
        return [b""]

    recorder = Recorder()
    list(Stack([CookiePolicy()], bad)(make_environ(), recorder))
    for _, value in recorder.headers:
        assert "\r" not in value and "\n" not in value


def test_reflected_value_with_a_tab_passes_wsgiref_validate() -> None:
    stack = Stack([ResponseHeaders(set={"X-Echo": lambda ctx: ctx.header("x-echo")})], app)
    status, _ = _validated(stack, HTTP_X_ECHO="value\t")
    assert status.startswith("200")


def test_trusted_proxy_refuses_a_scheme_that_is_not_http_or_https() -> None:
    environ = make_environ(HTTP_X_FORWARDED_PROTO="javascript")
    seen_scheme: list[str] = []

    def probe(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen_scheme.append(environ["wsgi.url_scheme"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b""]

    list(Stack([TrustedProxy(x_proto=1)], probe)(environ, Recorder()))
    assert seen_scheme == ["http"]


def test_no_body_written_after_a_304() -> None:
    from headerware.layers.caching import Caching

    def writer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("ETag", '"v1"')])
        write(b"the body")
        return []

    recorder = Recorder()
    body = b"".join(Stack([Caching()], writer)(make_environ(HTTP_IF_NONE_MATCH='"v1"'), recorder))
    assert recorder.status.startswith("304")
    assert body + b"".join(recorder.written) == b""


def test_validated_helper_is_sound() -> None:
    # The helper above runs a valid stack cleanly (so the xfails fail for their reason).
    status, headers = _validated(Stack([SecurityHeaders()], app))
    assert status.startswith("200") and ("X-App", "intact") in headers


# == seams between headerware and the framework it wraps (issue 11, items 1-3) =========


def test_issue11_1_preflight_lookalike_reaches_no_protected_view() -> None:
    """An OPTIONS with Access-Control-Request-Method but no Origin is not a preflight:
    CORS does not answer it, so BearerAuth must (Django and Flask views answer OPTIONS
    like GET)."""
    response = CLIENT.options(
        "/api/protected", headers={"Access-Control-Request-Method": "GET"}, status=401
    )
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "X-App" not in response.headers, "the application was not called"
    assert_intact(response, from_app=False)
    # A real preflight is still answered by CORS, without a token.
    preflight = CLIENT.options(
        "/api/protected",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED


FRAMEWORK_COOKIE_SEAMS = [
    pytest.param("\xc2\xa0username=admin; keep=1", id="issue11-2-nbsp-name-django"),
    pytest.param("username; keep=1", id="issue11-2-bare-name-werkzeug"),
    pytest.param("username=; keep=1", id="issue11-2-empty-unsigned"),
    pytest.param(
        "\u3000username=admin; keep=1".encode().decode("latin-1"), id="issue11-2-utf8-space"
    ),
]


@pytest.mark.parametrize("header", FRAMEWORK_COOKIE_SEAMS)
def test_issue11_2_the_app_sees_only_the_rebuilt_cookie_header(header: str) -> None:
    """With SignedCookies in the stack, the framework parses only what headerware's
    strict parser accepted: Django strips Unicode white space from names and werkzeug
    reads a bare name as present; neither may see an unsigned ``username``."""
    from django.http import parse_cookie as django_parse_cookie

    seen_headers: list[str] = []

    def framework_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen_headers.append(environ.get("HTTP_COOKIE", ""))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    # No CookiePolicy: SignedCookies alone must hand over a rebuilt header.
    without_policy = [layer for layer in layers() if not isinstance(layer, CookiePolicy)]
    client = webtest.TestApp(Stack(without_policy, framework_app), lint=True)
    client.get("/", extra_environ={"HTTP_COOKIE": header})
    rebuilt = seen_headers[-1]
    django_view = django_parse_cookie(rebuilt.encode("latin-1").decode("utf-8", "replace"))
    werkzeug_view = parse_cookie(rebuilt)
    assert "username" not in django_view and "username" not in werkzeug_view
    assert django_view.get("keep") == werkzeug_view.get("keep") == "1", "nothing else lost"
    # Without headerware both frameworks would have read it (the differential).
    raw_django = django_parse_cookie(header.encode("latin-1").decode("utf-8", "replace"))
    try:
        raw_werkzeug = parse_cookie(header)
    except UnicodeDecodeError:  # werkzeug decodes the header as UTF-8 first
        raw_werkzeug = {}
    assert "username" in raw_django or "username" in raw_werkzeug


def test_issue11_3_a_laxer_route_needs_raw_and_resolved_paths_to_agree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Frameworks route the raw PATH_INFO (``/admin/<path:>`` takes ``../legacy/x``);
    the route table must not pick the report-only ``/legacy/*`` route for it."""
    calls: list[str] = []

    def framework_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    legacy = [*layers()[:-3], Negotiation(media_types={"/data": ["application/json"]})]
    stack = Stack(layers(), framework_app, routes=[("/legacy/*", legacy)])
    client = webtest.TestApp(stack, lint=True)
    with caplog.at_level(logging.WARNING, logger="headerware"):
        response = client.get("/admin/../legacy/x", status=400)
    assert calls == [], "the application was not called"
    assert "ambiguous_route" in events(caplog)
    assert_intact(response, from_app=False)
    # Without a dot segment the routes apply as configured.
    client.get("/legacy/x")
    assert calls == ["/legacy/x"]
    client.get("/api/x", status=401)


# == the same attacks under ASGI (a Starlette application) =============================
#
# The rows above, through ASGIStack(layers(), a Starlette app). Under ASGI the seam is
# Starlette's own parsers (Request.cookies, request.url), as werkzeug's is under WSGI;
# requests are raw scopes, so every byte of a header reaches the stack as sent.


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def view(request: Request) -> JSONResponse:
        path = request.url.path
        session_user = None
        if path == "/login":
            get_session(request.scope)["user_id"] = 42
        if path == "/dashboard":
            session_user = get_session(request.scope).get("user_id")
        seen = {"cookies": request.cookies, "scheme": request.url.scheme, "user": session_user}
        response = JSONResponse(seen, headers={"X-App": "intact"})
        if path == "/set-cookie":
            response.raw_headers.append((b"set-cookie", b"username=john_doe; Max-Age=604800"))
            response.raw_headers.append((b"set-cookie", b"keep=1; Path=/"))
        if path == "/big-cookie":
            response.raw_headers.append((b"set-cookie", b"big=" + b"x" * 5000))
            response.raw_headers.append((b"set-cookie", b"keep=1; Path=/"))
        return response

    methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", view, methods=methods)])


STARLETTE_APP = _starlette_app()
ASGI_STACK = ASGIStack(layers(), STARLETTE_APP)


def asgi_request(
    path: str,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    method: str = "GET",
    scheme: str = "http",
    host: str | None = "localhost",
    body: bytes = b"",
    stack: Any = None,
) -> Result:
    """One request to ``stack`` (default: every layer around the Starlette app)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    port = 443 if scheme == "https" else 80
    scope = make_scope(
        method=method, path=path, scheme=scheme, headers=items, host=host, server=("srv", port)
    )
    return run(ASGI_STACK if stack is None else stack, scope, body)


def asgi_seen(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.body)
    return data


def assert_asgi_intact(result: Result, *, from_app: bool = True) -> None:
    """:func:`assert_intact` for an ASGI response."""
    for name in SECURITY:
        assert result.header_values(name), f"{name} lost"
    assert result.header_values("content-security-policy")
    if from_app:
        assert result.header_values("x-app") == ["intact"]


def _header_of(environ_key: str) -> str:
    return environ_key.removeprefix("HTTP_").replace("_", "-").lower()


@pytest.mark.parametrize(("origin", "why"), FOREIGN_ORIGINS)
def test_asgi_cors_never_reflects_a_foreign_origin(
    origin: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="headerware")
    headers = {"origin": origin, "cookie": "keep=1"}
    result = asgi_request("/data", headers, scheme="https", host="example.com")
    assert result.status == 200
    assert not result.header_values("access-control-allow-origin"), why
    assert not result.header_values("access-control-allow-credentials")
    assert "Origin" in result.header("vary")  # type: ignore[operator]
    assert asgi_seen(result)["cookies"] == {"keep": "1"}
    assert_asgi_intact(result)
    assert "cors_refused" in events(caplog)


def test_asgi_cors_allowed_origin_still_works_next_to_the_attacks() -> None:
    result = asgi_request("/data", {"origin": ALLOWED})
    assert result.header_values("access-control-allow-origin") == [ALLOWED]
    assert result.header_values("access-control-allow-credentials") == ["true"]


@pytest.mark.parametrize(("headers", "reason"), CROSS_SITE_POSTS)
def test_asgi_cross_site_post_is_refused(
    headers: dict[str, str], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    form = {"content-type": "application/x-www-form-urlencoded", **headers}
    result = asgi_request("/preferences", form, method="POST", scheme="https", body=b"theme=dark")
    assert result.status == 403
    assert_asgi_intact(result, from_app=False)
    record = next(r for r in caplog.records if getattr(r, "hw_event", "") == "csrf_refused")
    assert record.hw_fields["reason"] == reason  # type: ignore[attr-defined]


def test_asgi_same_origin_post_passes() -> None:
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "origin": "https://localhost",
        "sec-fetch-site": "same-origin",
    }
    result = asgi_request("/preferences", headers, method="POST", scheme="https", body=b"t=1")
    assert result.status == 200


@pytest.mark.parametrize(("header", "dropped"), PREFIX_SPOOFS)
def test_asgi_prefix_spoofs_never_reach_starlettes_cookie_parser(header: str, dropped: str) -> None:
    result = asgi_request("/", {"cookie": header})
    assert asgi_seen(result)["cookies"] == {"keep": "1"}, f"{dropped!r} reached the app"
    assert_asgi_intact(result)


def test_asgi_conflicting_duplicate_signed_cookie_is_tampering(
    caplog: pytest.LogCaptureFixture,
) -> None:
    header = f"username={signed('username', 'john')}; keep=1; username={signed('username', 'eve')}"
    result = asgi_request("/", {"cookie": header})
    assert asgi_seen(result)["cookies"] == {"keep": "1"}
    assert "cookie_signature_invalid" in events(caplog)
    assert_asgi_intact(result)


def test_asgi_duplicate_cookies_read_as_headerware_reads_them() -> None:
    """Starlette's parser keeps the last of two same-named cookies, headerware the
    first: the app must see headerware's choice, or the layers judged another value."""
    value = signed("username", "john")
    twice = asgi_request("/", {"cookie": f"username={value}; keep=1; username={value}"})
    assert asgi_seen(twice)["cookies"] == {"username": "john", "keep": "1"}
    result = asgi_request("/", {"cookie": "pref=a; keep=1; pref=b"})
    assert asgi_seen(result)["cookies"] == {"pref": "a", "keep": "1"}


@pytest.mark.parametrize(("key", "value"), CRLF_HEADERS)
def test_asgi_crlf_in_request_headers_is_refused(
    key: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    result = asgi_request("/data", {_header_of(key): value})
    assert result.status == 400
    assert "evil" not in str(result.headers).lower()
    assert "request_header_malformed" in events(caplog)
    assert_asgi_intact(result, from_app=False)


@pytest.mark.parametrize("extra", OVERSIZED_HEADERS)
def test_asgi_oversized_request_headers_get_431(
    extra: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    result = asgi_request("/", [(_header_of(key), value) for key, value in extra.items()])
    assert result.status == 431
    assert "request_headers_too_large" in events(caplog)
    assert_asgi_intact(result, from_app=False)


def test_asgi_oversized_set_cookie_is_dropped_and_others_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = asgi_request("/big-cookie")
    assert [c.split("=")[0] for c in result.header_values("set-cookie")] == ["keep"]
    assert "cookie_refused" in events(caplog)
    assert_asgi_intact(result)


def test_asgi_forwarded_proto_from_an_untrusted_peer_is_ignored() -> None:
    result = asgi_request("/set-cookie", {"x-forwarded-proto": "https"})
    assert asgi_seen(result)["scheme"] == "http"
    assert not result.header_values("strict-transport-security")
    assert all("Secure" not in c for c in result.header_values("set-cookie"))
    assert_asgi_intact(result)


def test_asgi_trusted_proxy_uses_only_the_hop_it_trusts() -> None:
    stack = ASGIStack([TrustedProxy(x_proto=1), *layers()], STARLETTE_APP)
    spoofed = asgi_request("/set-cookie", {"x-forwarded-proto": "https, http"}, stack=stack)
    assert asgi_seen(spoofed)["scheme"] == "http"
    assert not spoofed.header_values("strict-transport-security")
    trusted = asgi_request("/set-cookie", {"x-forwarded-proto": "http, https"}, stack=stack)
    assert asgi_seen(trusted)["scheme"] == "https"
    assert trusted.header_values("strict-transport-security")


@pytest.mark.parametrize(("cookie", "reason"), BAD_SIGNATURES)
def test_asgi_bad_signatures_are_dropped(
    cookie: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    result = asgi_request("/", {"cookie": cookie + "; keep=1"})
    assert asgi_seen(result)["cookies"] == {"keep": "1"}
    record = next(
        r for r in caplog.records if getattr(r, "hw_event", "") == "cookie_signature_invalid"
    )
    assert record.hw_fields == {"cookie": "username", "reason": reason}  # type: ignore[attr-defined]
    assert "john_doe" not in caplog.text
    assert_asgi_intact(result)


def test_asgi_session_round_trip_survives_the_whole_stack() -> None:
    login = asgi_request("/login")
    cookie = next(c for c in login.header_values("set-cookie") if c.startswith("session="))
    dashboard = asgi_request("/dashboard", {"cookie": cookie.split(";")[0]})
    assert asgi_seen(dashboard)["user"] == 42
    forged = asgi_request("/dashboard", {"cookie": "session=" + signed("username", "42")})
    assert asgi_seen(forged)["user"] is None


@pytest.mark.parametrize(("authorization", "status"), BAD_BEARER_TOKENS)
def test_asgi_bad_bearer_tokens_are_refused(authorization: str | None, status: int) -> None:
    headers = {"authorization": authorization} if authorization else {}
    result = asgi_request("/api/protected", headers)
    assert result.status == status
    assert result.header("www-authenticate").startswith("Bearer")  # type: ignore[union-attr]
    assert_asgi_intact(result, from_app=False)


@pytest.mark.parametrize(
    ("host_lines", "status"),
    [
        pytest.param(["example.com"], 200, id="allowed"),
        pytest.param(["evil.example"], 400, id="foreign-host"),
        pytest.param(["example.com@evil.example"], 400, id="userinfo"),
        pytest.param(["example.com", "evil.example"], 400, id="two-host-lines"),
        pytest.param(["evil.example", "example.com"], 400, id="two-host-lines-evil-first"),
        pytest.param(["example.com:80\r\nX-Evil: 1"], 400, id="crlf"),
        pytest.param([], 200, id="no-host-uses-the-server-name"),
    ],
)
def test_asgi_host_header_attacks(host_lines: list[str], status: int) -> None:
    """The Host a layer checks is the one the app sees, however many lines were sent."""
    stack = ASGIStack(
        [SecurityHeaders(), TrustedHosts(allowed_hosts=["example.com"])], STARLETTE_APP
    )
    scope = make_scope(host=None, headers=[("host", line) for line in host_lines])
    scope["server"] = ("example.com", 80)
    result = run(stack, scope)
    assert result.status == status
    assert result.header_values("x-content-type-options") == ["nosniff"]


def test_asgi_preflight_lookalike_reaches_no_protected_view() -> None:
    lookalike = {"access-control-request-method": "GET"}
    result = asgi_request("/api/protected", lookalike, method="OPTIONS")
    assert result.status == 401
    assert result.header("www-authenticate").startswith("Bearer")  # type: ignore[union-attr]
    assert not result.header_values("x-app"), "the application was not called"
    assert_asgi_intact(result, from_app=False)
    preflight = asgi_request("/api/protected", {"origin": ALLOWED, **lookalike}, method="OPTIONS")
    assert preflight.header_values("access-control-allow-origin") == [ALLOWED]


@pytest.mark.parametrize("header", FRAMEWORK_COOKIE_SEAMS)
def test_asgi_starlette_sees_only_the_rebuilt_cookie_header(header: str) -> None:
    """Starlette (and Django under ASGI) parse only what headerware's parser accepted."""
    from django.http import parse_cookie as django_parse_cookie
    from starlette.requests import cookie_parser

    seen_headers: list[str] = []

    async def framework_app(scope: Any, receive: Any, send: Any) -> None:
        cookie = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
        seen_headers.append(cookie)
        await asgi_text_app(b"ok")(scope, receive, send)

    without_policy = [layer for layer in layers() if not isinstance(layer, CookiePolicy)]
    asgi_request("/", {"cookie": header}, stack=ASGIStack(without_policy, framework_app))
    rebuilt = seen_headers[-1]
    starlette_view = cookie_parser(rebuilt)
    django_view = django_parse_cookie(rebuilt.encode("latin-1").decode("utf-8", "replace"))
    assert "username" not in starlette_view and "username" not in django_view
    assert starlette_view.get("keep") == django_view.get("keep") == "1", "nothing else lost"
    # Without headerware one of the parsers would have read it (werkzeug's too: a Flask
    # app under asgiref's WsgiToAsgi), the differential each row is named after.
    text = header.encode("latin-1").decode("utf-8", "replace")
    try:
        raw_werkzeug = dict(parse_cookie(header))
    except UnicodeDecodeError:  # werkzeug decodes the header as UTF-8 first
        raw_werkzeug = {}
    raw_views = [cookie_parser(text), django_parse_cookie(text), raw_werkzeug]
    assert any("username" in view for view in raw_views)


def test_asgi_a_laxer_route_needs_raw_and_resolved_paths_to_agree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def framework_app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await asgi_text_app(b"ok")(scope, receive, send)

    legacy = [*layers()[:-3], Negotiation(media_types={"/data": ["application/json"]})]
    stack = ASGIStack(layers(), framework_app, routes=[("/legacy/*", legacy)])
    with caplog.at_level(logging.WARNING, logger="headerware"):
        result = asgi_request("/admin/../legacy/x", stack=stack)
    assert result.status == 400
    assert calls == [], "the application was not called"
    assert "ambiguous_route" in events(caplog)
    assert_asgi_intact(result, from_app=False)
    assert asgi_request("/legacy/x", stack=stack).status == 200
    assert calls == ["/legacy/x"]
    assert asgi_request("/api/x", stack=stack).status == 401
