"""CookiePolicy: each Set-Cookie rewritten on its own, browser rules, limits, cleaning."""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

import flask
import pytest
import webtest
from werkzeug.http import http_date, parse_date

from headerware import Layer, OptionError, ResponseHead, Stack
from headerware.layers.cookies import MAX_LIFETIME, CookiePolicy, CookiePolicyError
from headerware.setcookie import SetCookie
from tests.contract import LayerContract, Recorder, consume, make_environ, text_app

Headers = list[tuple[str, str]]


def run(policy: CookiePolicy, cookies: list[str], scheme: str = "http") -> Headers:
    extra = [("X-Before", "1"), *(("Set-Cookie", c) for c in cookies), ("X-After", "2")]
    stack = Stack([policy], text_app(extra=extra))
    recorder = Recorder()
    assert consume(stack(make_environ(**{"wsgi.url_scheme": scheme}), recorder)) == b"hello"
    return recorder.headers


def set_cookies(headers: Headers) -> list[str]:
    return [value for key, value in headers if key.lower() == "set-cookie"]


def rewrite(cookie: str, scheme: str = "http", **options: Any) -> str:
    out = set_cookies(run(CookiePolicy(**options), [cookie], scheme))
    assert len(out) == 1
    return out[0]


@pytest.mark.parametrize(
    ("cookie", "scheme", "options", "expected"),
    [
        pytest.param(
            "username=john_doe; Max-Age=604800",
            "http",
            {},
            "username=john_doe; Max-Age=604800; HttpOnly; SameSite=Lax; Path=/",
            id="contract-http",
        ),
        pytest.param(
            "username=john_doe; Max-Age=604800",
            "https",
            {},
            "username=john_doe; Max-Age=604800; HttpOnly; SameSite=Lax; Path=/; Secure",
            id="contract-https",
        ),
        pytest.param("a=1", "https", {"secure": "never"}, "a=1; HttpOnly; SameSite=Lax; Path=/",
                     id="secure-never"),
        pytest.param("a=1", "http", {"secure": "always"},
                     "a=1; HttpOnly; SameSite=Lax; Path=/; Secure", id="secure-always"),
        pytest.param("a=1; Secure", "http", {}, "a=1; Secure; HttpOnly; SameSite=Lax; Path=/",
                     id="app-secure-kept-on-http"),
        pytest.param("a=1; httponly; samesite=strict; path=/x", "http", {},
                     "a=1; httponly; samesite=strict; path=/x", id="app-attributes-kept"),
        pytest.param("a=1; Path=relative", "http", {},
                     "a=1; Path=/; HttpOnly; SameSite=Lax", id="relative-path-fixed"),
        pytest.param("a=1; Priority=High; Foo", "http", {},
                     "a=1; Priority=High; Foo; HttpOnly; SameSite=Lax; Path=/",
                     id="unknown-attributes-kept"),
        pytest.param("a=1", "http", {"httponly": False}, "a=1; SameSite=Lax; Path=/",
                     id="httponly-off"),
        pytest.param("csrf=1", "http", {"script_readable": ["csrf"]},
                     "csrf=1; SameSite=Lax; Path=/", id="script-readable"),
        pytest.param("pref_x=1", "http", {"script_readable": ["pref_*"]},
                     "pref_x=1; SameSite=Lax; Path=/", id="script-readable-pattern"),
        pytest.param("a=1", "http", {"samesite": "Strict"},
                     "a=1; HttpOnly; SameSite=Strict; Path=/", id="samesite-default"),
        pytest.param("a=1; SameSite=Lax", "http", {"per_cookie": {"a": {"samesite": "Strict"}}},
                     "a=1; SameSite=Strict; HttpOnly; Path=/", id="samesite-per-cookie-forced"),
        pytest.param("a=1; SameSite=None", "http", {},
                     "a=1; SameSite=None; HttpOnly; Path=/; Secure", id="samesite-none-secure"),
        pytest.param("a=1; SameSite=Bogus", "http", {},
                     "a=1; SameSite=Lax; HttpOnly; Path=/", id="samesite-invalid-fixed"),
        pytest.param("a=1", "http", {"partitioned": True},
                     "a=1; HttpOnly; SameSite=Lax; Path=/; Partitioned; Secure",
                     id="partitioned"),
        pytest.param("a=1; Partitioned", "http", {},
                     "a=1; Partitioned; HttpOnly; SameSite=Lax; Path=/; Secure",
                     id="app-partitioned-secure"),
        pytest.param("b=1", "http", {"per_cookie": {"b": {"secure": "always"}}},
                     "b=1; HttpOnly; SameSite=Lax; Path=/; Secure", id="per-cookie-secure"),
        pytest.param("__Secure-a=1", "http", {"secure": "never"},
                     "__Secure-a=1; HttpOnly; SameSite=Lax; Path=/; Secure",
                     id="secure-prefix"),
        pytest.param("__Host-a=1; Domain=example.com; Path=/app", "http", {},
                     "__Host-a=1; Path=/; HttpOnly; SameSite=Lax; Secure",
                     id="host-prefix"),
        pytest.param("__HOST-a=1; Domain=example.com", "http", {},
                     "__HOST-a=1; HttpOnly; SameSite=Lax; Path=/; Secure",
                     id="host-prefix-any-case"),
        pytest.param("a=1; Max-Age=99999999999", "http", {},
                     f"a=1; Max-Age={MAX_LIFETIME}; HttpOnly; SameSite=Lax; Path=/",
                     id="max-age-capped"),
        pytest.param("a=; Max-Age=0", "https", {},
                     "a=; Max-Age=0; HttpOnly; SameSite=Lax; Path=/; Secure",
                     id="deletion-max-age"),
        pytest.param("a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", "http", {},
                     "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax; Path=/",
                     id="deletion-expires"),
        pytest.param("__Host-a=; Max-Age=0; Domain=x.org", "http", {},
                     "__Host-a=; Max-Age=0; HttpOnly; SameSite=Lax; Path=/; Secure",
                     id="deletion-host-prefix"),
        pytest.param("a = 1 ;Path=/", "http", {}, "a=1; Path=/; HttpOnly; SameSite=Lax",
                     id="whitespace-normalised"),
    ],
)  # fmt: skip
def test_rewrite_table(cookie: str, scheme: str, options: dict[str, Any], expected: str) -> None:
    assert rewrite(cookie, scheme, **options) == expected


def test_expires_capped_at_400_days(caplog: pytest.LogCaptureFixture) -> None:
    far = http_date(time.time() + 10 * 365 * 86400)
    out = SetCookie.parse(rewrite(f"a=1; Expires={far}"))
    expires = parse_date(out.get("expires"))
    assert expires is not None
    assert abs(expires.timestamp() - (time.time() + MAX_LIFETIME)) < 5
    assert "Expires capped at 400 days" in caplog.text


def test_each_header_rewritten_on_its_own_order_kept() -> None:
    headers = run(
        CookiePolicy(per_cookie={"b": {"samesite": "Strict"}}),
        ["a=1", "b=2; Priority=Low", "c=; Max-Age=0"],
    )
    assert [k for k, _ in headers] == [
        "Content-Type",
        "Content-Length",
        "X-Before",
        "Set-Cookie",
        "Set-Cookie",
        "Set-Cookie",
        "X-After",
    ]
    assert set_cookies(headers) == [
        "a=1; HttpOnly; SameSite=Lax; Path=/",
        "b=2; Priority=Low; HttpOnly; SameSite=Strict; Path=/",
        "c=; Max-Age=0; HttpOnly; SameSite=Lax; Path=/",
    ]


def test_no_set_cookie_leaves_headers_alone() -> None:
    original = [("Content-Type", "text/plain"), ("X-A", "1")]
    head = ResponseHead("200 OK", list(original))
    CookiePolicy().on_response(None, head)  # type: ignore[arg-type]
    assert head.headers == original


def test_fixes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "headerware"):
        rewrite("__Host-s=secret-value; Domain=example.com")
    (record,) = [r for r in caplog.records if getattr(r, "hw_event", "") == "cookie_fixed"]
    assert record.hw_fields["cookie"] == "__Host-s"  # type: ignore[attr-defined]
    assert "Domain removed (__Host- cookie)" in record.hw_fields["fixes"]  # type: ignore[attr-defined]
    assert "secret-value" not in caplog.text


def test_cached_rewrite_is_the_same_and_scheme_aware() -> None:
    policy = CookiePolicy()
    for _ in range(3):
        assert set_cookies(run(policy, ["a=x"], "https")) == [
            "a=x; HttpOnly; SameSite=Lax; Path=/; Secure"
        ]
        assert set_cookies(run(policy, ["a=y"], "http")) == ["a=y; HttpOnly; SameSite=Lax; Path=/"]


# -- refusals -------------------------------------------------------------------


def _events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [r.hw_fields for r in caplog.records if getattr(r, "hw_event", "") == event]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cookie", "reason"),
    [
        pytest.param("big=" + "x" * 4100, "too_large", id="too-large-value"),
        pytest.param("big=" + "x" * 4000 + "; Path=/" + "p" * 200, "too_large",
                     id="too-large-attrs"),
        pytest.param("a=1; Domain=" + "d" * 1100, "attribute_too_large", id="attribute-too-large"),
        pytest.param("a=1\x01; Path=/", "bad_value", id="control-character"),
        pytest.param("a=\u20ac", "bad_value", id="non-latin-1"),
        pytest.param("a b=1", "bad_name", id="space-in-name"),
        pytest.param("=nameless", "bad_name", id="nameless"),
        pytest.param("novalue", "bad_name", id="no-equals"),
    ],
)  # fmt: skip
def test_refused_cookie_dropped_logged_rest_intact(
    cookie: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "headerware"):
        headers = run(CookiePolicy(), ["keep=1", cookie, "also=2"])
    assert set_cookies(headers) == [
        "keep=1; HttpOnly; SameSite=Lax; Path=/",
        "also=2; HttpOnly; SameSite=Lax; Path=/",
    ]
    assert ("X-Before", "1") in headers and ("X-After", "2") in headers
    (event,) = _events(caplog, "cookie_refused")
    assert event["reason"] == reason
    assert event["size"] > 0
    assert "xxxx" not in caplog.text, "the value must never be logged"


def test_too_many_cookies_dropped_but_deletions_pass(caplog: pytest.LogCaptureFixture) -> None:
    cookies = [f"c{i}=v" for i in range(4)] + ["gone=; Max-Age=0"]
    with caplog.at_level(logging.WARNING, "headerware"):
        headers = run(CookiePolicy(max_cookies=2), cookies)
    names = [value.split("=", 1)[0] for value in set_cookies(headers)]
    assert names == ["c0", "c1", "gone"]
    assert [e["cookie"] for e in _events(caplog, "cookie_refused")] == ["c2", "c3"]
    assert {e["reason"] for e in _events(caplog, "cookie_refused")} == {"too_many"}


def test_exactly_max_size_passes() -> None:
    policy = CookiePolicy(httponly=False, secure="never")
    suffix = "; SameSite=Lax; Path=/"
    value = "x" * (4096 - len("a=") - len(suffix))
    assert set_cookies(run(policy, [f"a={value}"])) == [f"a={value}{suffix}"]
    assert set_cookies(run(policy, [f"a={value}x"])) == []


def test_strict_mode_raises() -> None:
    with pytest.raises(CookiePolicyError, match=r"'big'.*too_large"):
        run(CookiePolicy(strict=True), ["big=" + "x" * 5000])


def test_report_only_logs_and_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    cookies = ["__Host-a=1; Domain=x.org", "big=" + "x" * 5000, "plain=1"]
    with caplog.at_level(logging.WARNING, "headerware"):
        headers = run(CookiePolicy(report_only=True), cookies)
    assert set_cookies(headers) == cookies
    refused = _events(caplog, "cookie_refused")
    fixed = _events(caplog, "cookie_fixed")
    assert refused[0]["report_only"] is True and refused[0]["cookie"] == "big"
    assert fixed[0]["report_only"] is True and fixed[0]["cookie"] == "__Host-a"


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        pytest.param({"samesite": "None", "secure": "never"}, "samesite",
                     "samesite: SameSite=None", id="none-without-secure"),
        pytest.param({"partitioned": True, "secure": "never"}, "partitioned",
                     "Partitioned requires Secure", id="partitioned-without-secure"),
        pytest.param({"per_cookie": {"x": {"samesite": "None", "secure": "never"}}},
                     "per_cookie", r"per_cookie: \['x'\]", id="per-cookie-none-never"),
        pytest.param({"per_cookie": {"__Host-x": {"secure": "never"}}}, "per_cookie",
                     "__Host- prefix", id="prefix-never"),
        pytest.param({"per_cookie": {"x": {"colour": "red"}}}, "per_cookie",
                     "unknown option", id="per-cookie-unknown"),
        pytest.param({"per_cookie": {"a b": {}}}, "per_cookie", "not a valid cookie name",
                     id="per-cookie-bad-name"),
        pytest.param({"samesite": "lox"}, "samesite", "samesite: 'lox'", id="bad-samesite"),
        pytest.param({"secure": True}, "secure", "secure: True", id="bad-secure"),
        pytest.param({"max_cookies": 0}, "max_cookies", "max_cookies", id="max-cookies"),
        pytest.param({"max_size": 5000}, "max_size", "max_size.*4096", id="max-size"),
        pytest.param({"script_readable": "csrf"}, "script_readable",
                     r"script_readable: .*\['csrf'\]", id="script-readable-string"),
        pytest.param({"script_readable": ["a b"]}, "script_readable",
                     "not a valid cookie name", id="script-readable-bad-name"),
        pytest.param({"script_readable": ["x"], "per_cookie": {"x": {"httponly": True}}},
                     "script_readable", "keep one", id="httponly-conflict"),
        pytest.param({"httponly": "yes"}, "httponly", "httponly: 'yes'",
                     id="httponly-not-bool"),
    ],
)  # fmt: skip
def test_config_errors_name_the_option(options: dict[str, Any], option: str, message: str) -> None:
    with pytest.raises(OptionError, match=message) as caught:
        CookiePolicy(**options)
    assert caught.value.option == option


def test_describe() -> None:
    described = CookiePolicy(script_readable=["csrf"]).describe()
    assert described["samesite"] == "Lax"
    assert described["secure"] == "auto"
    assert described["script_readable"] == ["csrf"]
    assert described["per_cookie"] == {}


def test_describe_is_option_shaped() -> None:
    """Exactly the keywords ``__init__`` takes, with values it accepts as given."""
    options: dict[str, Any] = {
        "httponly": False,
        "script_readable": ["csrf", "ui_*"],
        "samesite": "strict",
        "secure": "always",
        "partitioned": True,
        "per_cookie": {"theme": {"samesite": "None"}, "sid": {"httponly": True}},
        "max_cookies": 7,
        "max_size": 2048,
        "clean_request": False,
        "strict": True,
        "report_only": True,
    }
    described = CookiePolicy(**options).describe()
    assert set(described) == set(inspect.signature(CookiePolicy).parameters) - {"app"}
    assert described == {**options, "samesite": "Strict"}
    assert CookiePolicy(**described).describe() == described


# -- request cleaning -----------------------------------------------------------------

BAD_COOKIE = "a=1; junk; \xa0__Host-x=evil; a=2; b=2"


def bare_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    from http.cookies import SimpleCookie

    jar = SimpleCookie()
    jar.load(environ.get("HTTP_COOKIE", ""))
    body = ",".join(f"{k}={m.value}" for k, m in sorted(jar.items())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def flask_app() -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/")
    def index() -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(flask.request.cookies.items()))

    return app


@pytest.mark.parametrize("app", [bare_app, flask_app()], ids=["bare", "flask"])
def test_app_sees_the_cleaned_cookie_header(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = webtest.TestApp(CookiePolicy(app), lint=True)
    with caplog.at_level(logging.INFO, "headerware"):
        response = client.get("/", headers={"Cookie": BAD_COOKIE})
    assert response.text == "a=1,b=2"
    (event,) = _events(caplog, "cookie_header_cleaned")
    assert event["dropped"] == 2 and event["duplicates"] == ["a"]


def test_clean_request_off_and_clean_header_untouched() -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ.get("HTTP_COOKIE", ""))
        return text_app()(environ, start_response)  # type: ignore[no-any-return]

    consume(
        CookiePolicy(app, clean_request=False)(make_environ(HTTP_COOKIE=BAD_COOKIE), Recorder())
    )
    consume(CookiePolicy(app)(make_environ(HTTP_COOKIE="a=1;b=2"), Recorder()))
    assert seen == [BAD_COOKIE, "a=1;b=2"]


def test_flask_set_cookie_through_webtest() -> None:
    app = flask.Flask(__name__)

    @app.get("/set")
    def set_() -> Any:
        response = flask.make_response("ok")
        response.set_cookie("username", "john_doe", max_age=604800)
        response.set_cookie("theme", "dark", max_age=31536000, samesite="Strict")
        return response

    @app.get("/delete")
    def delete() -> Any:
        response = flask.make_response("ok")
        response.delete_cookie("username")
        return response

    client = webtest.TestApp(CookiePolicy(app), lint=True)
    response = client.get("https://localhost/set")
    username, theme = (SetCookie.parse(v) for v in response.headers.getall("Set-Cookie"))
    for cookie in (username, theme):
        assert cookie.has("httponly") and cookie.has("secure") and cookie.get("path") == "/"
    assert username.get("samesite") == "Lax"
    assert theme.get("samesite") == "Strict"
    assert client.cookies["username"] == "john_doe"
    client.get("https://localhost/delete")
    assert "username" not in client.cookies


class TestCookiePolicyContract(LayerContract):
    def make_layer(self) -> Layer:
        return CookiePolicy()


class TestCookiePolicyHttpsContract(LayerContract):
    def make_layer(self) -> Layer:
        return CookiePolicy(secure="always", partitioned=True, max_cookies=5)

    def environ_extra(self) -> dict[str, Any]:
        return {"wsgi.url_scheme": "https", "HTTP_COOKIE": "a=1; bad; a=2"}


def test_remembered_rewrite_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """An Expires-dependent answer is never reused once the date has passed."""
    now = time.time()
    soon = f"b=; Expires={http_date(now + 100)}"
    policy = CookiePolicy(max_cookies=1)
    assert [c.split("=")[0] for c in set_cookies(run(policy, ["a=1", soon]))] == ["a"]
    monkeypatch.setattr("headerware.layers.cookies.time.time", lambda: now + 200)
    # Now a deletion: deletions never count against max_cookies.
    assert [c.split("=")[0] for c in set_cookies(run(policy, ["a=1", soon]))] == ["a", "b"]


# -- the Set-Cookie model every layer shares ------------------------------------------


def test_set_cookie_model_build_parse_render() -> None:
    built = SetCookie.build(
        "sid", "abc", max_age=60, path="/", secure=True, httponly=True, samesite="Lax"
    )
    header = built.render()
    assert header == "sid=abc; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Lax"
    parsed = SetCookie.parse(header)
    assert (parsed.name, parsed.value, parsed.attrs) == ("sid", "abc", built.attrs)
    assert parsed.secure and parsed.httponly and not parsed.partitioned
    assert (parsed.samesite, parsed.path, parsed.max_age, parsed.domain) == ("Lax", "/", 60, None)
    assert SetCookie.parse("a=1; samesite=NONE").samesite == "None"
    assert SetCookie.parse("a=1; SameSite=odd").samesite == "odd"
    assert SetCookie.parse("novalue").name == "" and SetCookie.parse("novalue").value == "novalue"
    assert SetCookie.parse("a=1").tail() == "" and SetCookie.parse("a=1").render() == "a=1"


@pytest.mark.parametrize(
    ("header", "deletion"),
    [
        ("a=; Max-Age=0", True),
        ("a=; Max-Age=-1", True),
        ("a=1; Max-Age=10", False),
        ("a=; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT", False),
        ("a=; Max-Age=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", True),
        ("a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", True),
        ("a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT", False),
        ("a=1", False),
    ],
)
def test_set_cookie_model_deletion(header: str, deletion: bool) -> None:
    assert SetCookie.parse(header).is_deletion() is deletion
