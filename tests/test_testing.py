"""The testing kit: assertion helpers, the browser-like client and its cookie jar."""
# ruff: noqa: F811  (tests take the imported fixtures as arguments of the same name)

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import pytest
import webtest

from headerware.setcookie import SetCookie
from headerware.testing import (  # the fixtures too: the plugin may not be installed
    Browser,
    CookieJar,
    assert_cookie_flags,
    assert_cors_allowed,
    assert_cors_refused,
    assert_csrf_refused,
    assert_security_headers,
    fetch_site,
    headerware_app,  # noqa: F401
    headerware_browser,  # noqa: F401
    headerware_config,  # noqa: F401
    headerware_testapp,  # noqa: F401
    headerware_wsgi_app,  # noqa: F401
    make_testapp,
    parse_set_cookie,
)

Headers = list[tuple[str, str]]

GOOD = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'self'; script-src 'self' 'nonce-abc'"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
]


def static_app(headers: Headers, status: str = "200 OK") -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response(status, [("Content-Type", "text/plain"), *headers])
        return [b"ok"]

    return app


def get(headers: Headers, url: str = "https://localhost/", status: str = "200 OK") -> Any:
    return webtest.TestApp(static_app(headers, status)).get(url, expect_errors=True)


def without(name: str) -> Headers:
    return [(k, v) for k, v in GOOD if k != name]


class TestAssertSecurityHeaders:
    def test_passes_on_a_good_https_response(self) -> None:
        assert_security_headers(get(GOOD))

    @pytest.mark.parametrize(
        ("headers", "url", "message"),
        [
            pytest.param(
                without("X-Content-Type-Options"), "https://localhost/", "nosniff", id="nosniff"
            ),
            pytest.param(
                without("X-Frame-Options"), "https://localhost/", "frame policy", id="frame"
            ),
            pytest.param(
                without("Referrer-Policy"),
                "https://localhost/",
                "Referrer-Policy is missing",
                id="referrer",
            ),
            pytest.param(
                [*without("Referrer-Policy"), ("Referrer-Policy", "unsafe-url")],
                "https://localhost/",
                "leaks",
                id="referrer-unsafe",
            ),
            pytest.param(
                without("Content-Security-Policy"),
                "https://localhost/",
                "Content-Security-Policy is missing",
                id="csp",
            ),
            pytest.param(
                [
                    *without("Content-Security-Policy"),
                    ("Content-Security-Policy", "script-src 'unsafe-inline'"),
                ],
                "https://localhost/",
                "'unsafe-inline'",
                id="csp-unsafe-inline",
            ),
            pytest.param(
                [*without("Content-Security-Policy"), ("Content-Security-Policy", "default-src *")],
                "https://localhost/",
                "any host",
                id="csp-wildcard",
            ),
            pytest.param(
                [
                    *without("Content-Security-Policy"),
                    ("Content-Security-Policy", "img-src 'self'"),
                ],
                "https://localhost/",
                "restricts no scripts",
                id="csp-no-scripts",
            ),
            pytest.param(
                without("Strict-Transport-Security"),
                "https://localhost/",
                "Strict-Transport-Security is missing",
                id="hsts-missing",
            ),
            pytest.param(
                [
                    *without("Strict-Transport-Security"),
                    ("Strict-Transport-Security", "max-age=60"),
                ],
                "https://localhost/",
                "under a year",
                id="hsts-short",
            ),
            pytest.param(GOOD, "http://localhost/", "plain-HTTP", id="hsts-on-http"),
        ],
    )
    def test_each_problem_is_named(self, headers: Headers, url: str, message: str) -> None:
        with pytest.raises(AssertionError, match="security headers") as info:
            assert_security_headers(get(headers, url))
        assert message in str(info.value)

    def test_frame_ancestors_counts_as_frame_policy(self) -> None:
        headers = [
            *without("X-Frame-Options"),
            ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
        ]
        headers = [h for h in headers if h[1] != GOOD[3][1]]
        assert_security_headers(get(headers))

    def test_with_the_real_security_layers(self) -> None:
        app = make_testapp(static_app([]), {"security_headers": {}, "csp": {}})
        assert_security_headers(app.get("/"))
        http = make_testapp(static_app([]), {"security_headers": {}, "csp": {}}, https=False)
        assert_security_headers(http.get("/"))


class TestAssertCookieFlags:
    RESPONSE_HEADERS: ClassVar[Headers] = [
        ("Set-Cookie", "sid=1; Path=/; Secure; HttpOnly; SameSite=Lax"),
        ("Set-Cookie", "theme=dark; Path=/prefs"),
    ]

    def test_flags_match(self) -> None:
        cookie = assert_cookie_flags(
            get(self.RESPONSE_HEADERS), "sid", secure=True, httponly=True, samesite="lax", path="/"
        )
        assert cookie.value == "1"

    @pytest.mark.parametrize(
        ("name", "kwargs", "message"),
        [
            pytest.param("theme", {"secure": True}, "Secure should be set", id="secure"),
            pytest.param("theme", {"httponly": True}, "HttpOnly should be set", id="httponly"),
            pytest.param(
                "sid", {"httponly": False}, "HttpOnly should be absent", id="httponly-absent"
            ),
            pytest.param("theme", {"samesite": "Strict"}, "SameSite is None", id="samesite"),
            pytest.param("theme", {"path": "/"}, "Path is '/prefs'", id="path"),
            pytest.param("nope", {}, "no Set-Cookie for 'nope' (set: sid, theme)", id="absent"),
        ],
    )
    def test_mismatch(self, name: str, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(AssertionError) as info:
            assert_cookie_flags(get(self.RESPONSE_HEADERS), name, **kwargs)
        assert message in str(info.value)


ORIGIN = "https://app.example.com"


class TestAssertCors:
    def test_allowed_with_credentials(self) -> None:
        response = get(
            [
                ("Access-Control-Allow-Origin", ORIGIN),
                ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Origin"),
            ]
        )
        assert_cors_allowed(response, ORIGIN, credentials=True)
        with pytest.raises(AssertionError, match="Allow-Origin"):
            assert_cors_refused(response)

    @pytest.mark.parametrize(
        ("headers", "credentials", "message"),
        [
            pytest.param([], None, "is None, expected", id="absent"),
            pytest.param(
                [("Access-Control-Allow-Origin", ORIGIN)], None, "Vary: Origin", id="no-vary"
            ),
            pytest.param(
                [("Access-Control-Allow-Origin", "*")],
                True,
                "cannot be used with credentials",
                id="star-credentials",
            ),
            pytest.param(
                [("Access-Control-Allow-Origin", ORIGIN), ("Vary", "Origin")],
                True,
                "Credentials: true is missing",
                id="no-credentials",
            ),
        ],
    )
    def test_not_allowed(self, headers: Headers, credentials: bool | None, message: str) -> None:
        with pytest.raises(AssertionError) as info:
            assert_cors_allowed(get(headers), ORIGIN, credentials=credentials)
        assert message in str(info.value)

    def test_refused(self) -> None:
        assert_cors_refused(get([]))
        assert_cors_refused(get([("Access-Control-Allow-Origin", ORIGIN)]), "https://evil.example")
        with pytest.raises(AssertionError):
            assert_cors_refused(get([("Access-Control-Allow-Origin", "*")]), "https://evil.example")


class TestAssertCsrf:
    def test_refused(self) -> None:
        assert_csrf_refused(get([], status="403 Forbidden"))

    @pytest.mark.parametrize(
        ("headers", "status", "message"),
        [
            pytest.param([], "200 OK", "status is 200", id="allowed"),
            pytest.param([("Set-Cookie", "a=b")], "403 Forbidden", "sets cookies", id="cookie"),
        ],
    )
    def test_not_refused(self, headers: Headers, status: str, message: str) -> None:
        with pytest.raises(AssertionError) as info:
            assert_csrf_refused(get(headers, status=status))
        assert message in str(info.value)


class TestCookieJar:
    @pytest.mark.parametrize(
        ("header", "url", "reason"),
        [
            pytest.param(
                "a=1; Secure",
                "http://localhost/",
                "Secure cookie set over plain HTTP",
                id="secure-over-http",
            ),
            pytest.param(
                "a=1; SameSite=None",
                "https://localhost/",
                "SameSite=None without Secure",
                id="none-without-secure",
            ),
            pytest.param(
                "__Secure-a=1", "https://localhost/", "__Secure- prefix", id="secure-prefix"
            ),
            pytest.param(
                "__Host-a=1; Secure; Path=/; Domain=localhost",
                "https://localhost/",
                "__Host- prefix",
                id="host-prefix-domain",
            ),
            pytest.param(
                "__Host-a=1; Secure; Path=/x",
                "https://localhost/",
                "__Host- prefix",
                id="host-prefix-path",
            ),
            pytest.param(
                "a=1; Domain=other.example",
                "https://localhost/",
                "does not match",
                id="foreign-domain",
            ),
            pytest.param("a=" + "x" * 4096, "https://localhost/", "4096", id="too-large"),
        ],
    )
    def test_rejects_what_browsers_reject(self, header: str, url: str, reason: str) -> None:
        jar = CookieJar()
        jar.store(header, url)
        assert (
            jar.get("a") is None and jar.get("__Secure-a") is None and jar.get("__Host-a") is None
        )
        assert reason in jar.rejected[0][1]

    def test_accepts_valid_prefixed_cookies(self) -> None:
        jar = CookieJar()
        jar.store("__Host-a=1; Secure; Path=/", "https://localhost/x")
        jar.store("__Secure-b=2; Secure; Domain=localhost", "https://localhost/")
        assert {c.name for c in jar} == {"__Host-a", "__Secure-b"}
        assert not jar.rejected

    def test_expiry_and_deletion(self) -> None:
        now = [1000.0]
        jar = CookieJar(clock=lambda: now[0])
        jar.store("a=1; Max-Age=10", "https://localhost/")
        assert jar.get("a") is not None
        now[0] += 11
        assert jar.get("a") is None
        jar.store("b=1", "https://localhost/")
        jar.store("b=; Max-Age=0", "https://localhost/")
        assert jar.get("b") is None
        jar.store("c=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "https://localhost/")
        assert jar.get("c") is None

    def test_default_path_and_path_matching(self) -> None:
        jar = CookieJar()
        jar.store("a=1", "https://localhost/docs/page")
        cookie = jar.get("a")
        assert cookie is not None and cookie.path == "/docs"
        send = {"same_site": True, "top_level_safe": True}
        assert jar.header_for("https://localhost/docs/x", **send) == "a=1"
        assert jar.header_for("https://localhost/docsx", **send) is None
        assert jar.header_for("https://localhost/", **send) is None

    @pytest.mark.parametrize(
        ("attributes", "same_site", "top_level_safe", "sent"),
        [
            pytest.param("SameSite=Strict", True, False, True, id="strict-same-site"),
            pytest.param("SameSite=Strict", False, True, False, id="strict-cross-site-navigation"),
            pytest.param("SameSite=Lax", False, True, True, id="lax-cross-site-navigation"),
            pytest.param("SameSite=Lax", False, False, False, id="lax-cross-site-post"),
            pytest.param("", False, False, False, id="default-is-lax"),
            pytest.param("SameSite=None; Secure", False, False, True, id="none-cross-site"),
        ],
    )
    def test_samesite(
        self, attributes: str, same_site: bool, top_level_safe: bool, sent: bool
    ) -> None:
        jar = CookieJar()
        jar.store(f"a=1; Path=/; {attributes}", "https://localhost/")
        header = jar.header_for(
            "https://localhost/", same_site=same_site, top_level_safe=top_level_safe
        )
        assert (header == "a=1") is sent

    def test_secure_cookie_not_sent_over_http(self) -> None:
        jar = CookieJar()
        jar.store("a=1; Secure; Path=/", "https://localhost/")
        assert jar.header_for("http://localhost/", same_site=True, top_level_safe=True) is None

    def test_parse_set_cookie(self) -> None:
        parsed = parse_set_cookie("n=v=w; Path=/; SECURE; samesite=strict; Max-Age=5")
        assert (parsed.name, parsed.value) == ("n", "v=w")
        assert parsed.secure and parsed.samesite == "Strict" and parsed.max_age == 5
        assert isinstance(parsed, SetCookie), "the one Set-Cookie model"
        assert parse_set_cookie("a=1; Max-Age=1; Max-Age=9").max_age == 9, "the last wins"

    def test_domain_attribute_normalised_like_browsers(self) -> None:
        jar = CookieJar()
        jar.store("a=1; Domain=.LocalHost; Path=/", "https://localhost/")
        cookie = jar.get("a")
        assert cookie is not None and cookie.domain == "localhost" and not cookie.host_only
        jar.store("b=1; Domain=other.example; Path=/", "https://localhost/")
        assert jar.get("b") is None
        assert jar.rejected[-1] == ("b", "Domain other.example does not match localhost")

    def test_max_age_wins_over_expires(self) -> None:
        jar = CookieJar()
        jar.store("a=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "https://localhost/")
        assert jar.get("a") is not None
        jar.store("a=; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT", "https://localhost/")
        assert jar.get("a") is None


@pytest.mark.parametrize(
    ("initiator", "target", "site"),
    [
        pytest.param(None, "https://a.example/", "none", id="typed"),
        pytest.param("https://a.example", "https://a.example/x", "same-origin", id="same-origin"),
        pytest.param(
            "https://www.a.example", "https://api.a.example/", "same-site", id="same-site"
        ),
        pytest.param("http://a.example", "https://a.example/", "cross-site", id="schemeful"),
        pytest.param("https://evil.example", "https://a.example/", "cross-site", id="cross-site"),
    ],
)
def test_fetch_site(initiator: str | None, target: str, site: str) -> None:
    assert fetch_site(initiator, target) == site


def echo_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Echoes the request headers a browser sent, and sets cookies on /set."""
    keys = [
        "HTTP_ORIGIN",
        "HTTP_SEC_FETCH_SITE",
        "HTTP_SEC_FETCH_MODE",
        "HTTP_SEC_FETCH_DEST",
        "HTTP_COOKIE",
    ]
    body = "\n".join(f"{key}={environ.get(key, '-')}" for key in keys).encode()
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    if environ["PATH_INFO"] == "/set":
        headers += [
            ("Set-Cookie", "lax=1; Path=/; Secure; SameSite=Lax"),
            ("Set-Cookie", "strict=1; Path=/; Secure; SameSite=Strict"),
        ]
    start_response("200 OK", headers)
    return [body]


def seen(response: Any) -> dict[str, str]:
    return dict(line.split("=", 1) for line in response.text.splitlines())


class TestBrowser:
    def test_navigation_typed_in_the_address_bar(self) -> None:
        browser = Browser(echo_app)
        browser.navigate("/set")
        got = seen(browser.navigate("/"))
        assert got["HTTP_SEC_FETCH_SITE"] == "none"
        assert got["HTTP_SEC_FETCH_MODE"] == "navigate"
        assert got["HTTP_SEC_FETCH_DEST"] == "document"
        assert got["HTTP_ORIGIN"] == "-"
        assert got["HTTP_COOKIE"] == "lax=1; strict=1"
        assert browser.cookies == {"lax": "1", "strict": "1"}

    def test_cross_site_form_post_sends_origin_and_no_lax_cookies(self) -> None:
        browser = Browser(echo_app)
        browser.navigate("/set")
        got = seen(browser.submit("/", {"a": "b"}, from_origin="https://evil.example"))
        assert got["HTTP_ORIGIN"] == "https://evil.example"
        assert got["HTTP_SEC_FETCH_SITE"] == "cross-site"
        assert got["HTTP_COOKIE"] == "-"

    def test_cross_site_link_sends_lax_not_strict(self) -> None:
        browser = Browser(echo_app)
        browser.navigate("/set")
        got = seen(browser.navigate("/", from_origin="https://evil.example"))
        assert got["HTTP_COOKIE"] == "lax=1"
        assert got["HTTP_ORIGIN"] == "-"

    def test_same_origin_post_sends_origin_and_cookies(self) -> None:
        browser = Browser(echo_app)
        browser.navigate("/set")
        got = seen(browser.submit("/", {}))
        assert got["HTTP_ORIGIN"] == "https://localhost"
        assert got["HTTP_SEC_FETCH_SITE"] == "same-origin"
        assert got["HTTP_COOKIE"] == "lax=1; strict=1"

    def test_cross_origin_fetch(self) -> None:
        got = seen(Browser(echo_app).fetch("/", from_origin=ORIGIN))
        assert got["HTTP_ORIGIN"] == ORIGIN
        assert got["HTTP_SEC_FETCH_MODE"] == "cors"
        assert got["HTTP_SEC_FETCH_DEST"] == "empty"

    def test_same_origin_get_fetch_sends_no_origin(self) -> None:
        assert seen(Browser(echo_app).fetch("/"))["HTTP_ORIGIN"] == "-"

    def test_plain_http_site_does_not_keep_secure_cookies(self) -> None:
        browser = Browser(echo_app, origin="http://localhost")
        browser.navigate("/set")
        assert browser.cookies == {}
        assert [reason for _, reason in browser.jar.rejected] == [
            "Secure cookie set over plain HTTP"
        ] * 2


class TestWithRealLayers:
    CONFIG: ClassVar[dict[str, Any]] = {
        "cors": {
            "allow_origins": [ORIGIN],
            "allow_credentials": True,
            "allow_methods": ["GET", "PUT"],
        },
        "cookie_policy": {},
        "csrf": {},
    }

    def app(self) -> Any:
        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "sid=abc")])
            return [b"ok"]

        return app

    def test_csrf_refuses_the_cross_site_form_and_keeps_the_same_origin_one(self) -> None:
        browser = Browser(make_testapp(self.app(), self.CONFIG))
        assert_csrf_refused(
            browser.submit("/prefs", {"a": "b"}, from_origin="https://evil.example")
        )
        response = browser.submit("/prefs", {"a": "b"})
        assert response.status_int == 200
        assert_cookie_flags(response, "sid", secure=True, httponly=True, samesite="Lax")

    def test_cors(self) -> None:
        browser = Browser(make_testapp(self.app(), self.CONFIG))
        assert_cors_allowed(browser.fetch("/data", from_origin=ORIGIN), ORIGIN, credentials=True)
        assert_cors_refused(browser.fetch("/data", from_origin="https://evil.example"))
        preflight = browser.preflight("/data", "PUT", from_origin=ORIGIN)
        assert_cors_allowed(preflight, ORIGIN, credentials=True)


class TestPluginFixtures:
    @pytest.fixture
    def headerware_wsgi_app(self) -> Any:
        return static_app([("Set-Cookie", "sid=1")])

    @pytest.fixture
    def headerware_config(self) -> Any:
        return {"security_headers": {}, "csp": {}, "cookie_policy": {}}

    def test_headerware_app(self, headerware_app: webtest.TestApp) -> None:
        response = headerware_app.get("/")
        assert_security_headers(response)
        assert_cookie_flags(response, "sid", secure=True, httponly=True)

    def test_browser(self, headerware_browser: Browser) -> None:
        headerware_browser.navigate("/")
        assert headerware_browser.jar.get("sid") is not None

    def test_factory(self, headerware_testapp: Any) -> None:
        app = headerware_testapp(static_app([]), {"security_headers": {}}, https=False)
        assert "Strict-Transport-Security" not in app.get("/").headers
