"""SecurityHeaders: defaults, profiles, canonical tokens, merge policy, HSTS, config errors."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest
import webtest

from headerware import Layer, OptionError, Stack
from headerware.config import ConfigError, stack_from_dict
from headerware.layers.security import DEFAULT_PERMISSIONS_POLICY, SecurityHeaders
from tests.contract import LayerContract, Recorder, consume, make_environ

Headers = list[tuple[str, str]]

HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS = (
    "accelerometer=(), browsing-topics=(), camera=(), display-capture=(), geolocation=(), "
    "gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), payment=(), "
    "screen-wake-lock=(), serial=(), usb=(), xr-spatial-tracking=()"
)
#: What every HTML (and any non-JSON) response gets by default.
DOCUMENT = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    "Permissions-Policy": PERMISSIONS,
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "X-DNS-Prefetch-Control": "off",
    "X-Download-Options": "noopen",
    "X-Frame-Options": "DENY",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-XSS-Protection": "0",
}
#: What a JSON response gets by default.
JSON = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
ALL_NAMES = {name.lower() for name in DOCUMENT} | {
    "strict-transport-security",
    "cross-origin-embedder-policy",
}


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [r.hw_fields for r in caplog.records if getattr(r, "hw_event", None) == name]


class App:
    """Answers with the given Content-Type and extra headers; counts its calls."""

    def __init__(
        self, content_type: str | None = "text/html; charset=utf-8", extra: Headers | None = None
    ) -> None:
        self.content_type = content_type
        self.extra = list(extra or [])
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        headers = [("Content-Length", "2")]
        if self.content_type is not None:
            headers.insert(0, ("Content-Type", self.content_type))
        start_response("200 OK", headers + self.extra)
        return [b"ok"]


def run(app: Any, **environ: Any) -> tuple[Recorder, bytes]:
    """Call ``app`` once; an environ key given as ``None`` is left out of the request."""
    env = make_environ(**environ)
    for key in [key for key, value in env.items() if value is None]:
        del env[key]
    recorder = Recorder()
    body = consume(app(env, recorder))
    return recorder, body


def security(recorder: Recorder) -> dict[str, list[str]]:
    """The security headers of a response, by canonical name."""
    found: dict[str, list[str]] = {}
    for name, value in recorder.headers:
        if name.lower() in ALL_NAMES:
            found.setdefault(name, []).append(value)
    return found


def single(expected: dict[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in expected.items()}


# -- defaults and profiles -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "scheme", "expected"),
    [
        pytest.param("text/html; charset=utf-8", "http", DOCUMENT, id="html-http"),
        pytest.param(
            "text/html; charset=utf-8",
            "https",
            {**DOCUMENT, "Strict-Transport-Security": HSTS},
            id="html-https",
        ),
        pytest.param("TEXT/HTML", "http", DOCUMENT, id="html-upper-case"),
        pytest.param("text/plain", "http", DOCUMENT, id="text"),
        pytest.param("image/svg+xml", "http", DOCUMENT, id="svg-is-a-document"),
        pytest.param(None, "http", DOCUMENT, id="no-content-type"),
        pytest.param("application/json", "http", JSON, id="json-http"),
        pytest.param(
            "application/json",
            "https",
            {**JSON, "Strict-Transport-Security": HSTS},
            id="json-https",
        ),
        pytest.param("application/json; charset=utf-8", "http", JSON, id="json-charset"),
        pytest.param("Application/JSON ; charset=UTF-8", "http", JSON, id="json-odd-spelling"),
        pytest.param("application/problem+json", "http", JSON, id="problem-json"),
        pytest.param("application/vnd.api+json", "http", JSON, id="vendor-json"),
        pytest.param("text/json-ish", "http", DOCUMENT, id="not-json"),
    ],
)
def test_defaults_by_profile_and_scheme(
    content_type: str | None, scheme: str, expected: dict[str, str]
) -> None:
    app = App(content_type, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    recorder, body = run(SecurityHeaders(app), **{"wsgi.url_scheme": scheme})
    assert (recorder.status, body) == ("200 OK", b"ok")
    assert security(recorder) == single(expected)
    assert recorder.header_values("Set-Cookie") == ["a=1", "b=2"]
    assert recorder.header_values("Content-Length") == ["2"]


def test_json_headers_none_sends_the_full_set_everywhere() -> None:
    recorder, _ = run(SecurityHeaders(App("application/json"), json_headers=None))
    assert security(recorder) == single(DOCUMENT)


def test_json_headers_configurable() -> None:
    layer = SecurityHeaders(App("application/json"), json_headers=["x-content-type-options"])
    recorder, _ = run(layer, **{"wsgi.url_scheme": "https"})
    assert security(recorder) == {"X-Content-Type-Options": ["nosniff"]}


@pytest.mark.parametrize(
    ("options", "changed"),
    [
        pytest.param(
            {"x_frame_options": "SAMEORIGIN"}, {"X-Frame-Options": "SAMEORIGIN"}, id="xfo"
        ),
        pytest.param({"x_frame_options": None}, {"X-Frame-Options": None}, id="xfo-off"),
        pytest.param(
            {"referrer_policy": "strict-origin-when-cross-origin"},
            {"Referrer-Policy": "strict-origin-when-cross-origin"},
            id="referrer",
        ),
        pytest.param(
            {"referrer_policy": "no-referrer, strict-origin-when-cross-origin"},
            {"Referrer-Policy": "no-referrer, strict-origin-when-cross-origin"},
            id="referrer-fallback-list",
        ),
        pytest.param(
            {"cross_origin_embedder_policy": True},
            {"Cross-Origin-Embedder-Policy": "require-corp"},
            id="coep-default",
        ),
        pytest.param(
            {"cross_origin_embedder_policy": "credentialless"},
            {"Cross-Origin-Embedder-Policy": "credentialless"},
            id="coep-credentialless",
        ),
        pytest.param(
            {"cross_origin_resource_policy": "cross-origin"},
            {"Cross-Origin-Resource-Policy": "cross-origin"},
            id="corp",
        ),
        pytest.param({"origin_agent_cluster": False}, {"Origin-Agent-Cluster": None}, id="oac"),
        pytest.param({"x_xss_protection": None}, {"X-XSS-Protection": None}, id="xxp-off"),
        pytest.param({"permissions_policy": None}, {"Permissions-Policy": None}, id="pp-off"),
        pytest.param(
            {"permissions_policy": "camera=(self)"},
            {"Permissions-Policy": "camera=(self)"},
            id="pp-string",
        ),
        pytest.param(
            {"permissions_policy": {"geolocation": ["self", "https://maps.example"], "usb": []}},
            {"Permissions-Policy": 'geolocation=(self "https://maps.example"), usb=()'},
            id="pp-mapping",
        ),
        pytest.param(
            {"permissions_policy": {"fullscreen": "*"}},
            {"Permissions-Policy": "fullscreen=*"},
            id="pp-star",
        ),
        pytest.param({"x_dns_prefetch_control": "on"}, {"X-DNS-Prefetch-Control": "on"}, id="dns"),
    ],
)
def test_each_header_configurable_or_disabled(
    options: dict[str, Any], changed: dict[str, str | None]
) -> None:
    recorder, _ = run(SecurityHeaders(App(), **options))
    expected = {**DOCUMENT, **changed}
    assert security(recorder) == {k: [v] for k, v in expected.items() if v is not None}


def test_default_permissions_policy_is_the_documented_mapping() -> None:
    assert all(allow == () for allow in DEFAULT_PERMISSIONS_POLICY.values())
    assert "camera" in DEFAULT_PERMISSIONS_POLICY and "microphone" in DEFAULT_PERMISSIONS_POLICY


# -- removal and merge -------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_headers",
    [
        pytest.param([("X-Powered-By", "Flask")], id="canonical"),
        pytest.param([("x-powered-by", "PHP/8")], id="lower"),
        pytest.param([("X-POWERED-BY", "a"), ("X-Powered-By", "b")], id="several"),
        pytest.param([("Server", "Apache/2.2.3 (CentOS)")], id="server"),
    ],
)
def test_stack_advertising_headers_removed(app_headers: Headers) -> None:
    for content_type in ("text/html", "application/json"):
        recorder, body = run(SecurityHeaders(App(content_type, [*app_headers, ("X-Keep", "1")])))
        names = {name.lower() for name, _ in recorder.headers}
        assert "x-powered-by" not in names and "server" not in names
        assert recorder.header_values("X-Keep") == ["1"]
        assert body == b"ok"


def test_remove_headers_configurable() -> None:
    app = App(extra=[("Server", "mine"), ("X-Powered-By", "x"), ("X-AspNet-Version", "4")])
    recorder, _ = run(SecurityHeaders(app, remove_headers=["X-AspNet-Version"]))
    assert recorder.header_values("Server") == ["mine"]
    assert recorder.header_values("X-Powered-By") == ["x"]
    assert recorder.header_values("X-AspNet-Version") == []


APP_WEAKER = [
    ("x-frame-options", "SAMEORIGIN"),
    ("X-XSS-Protection", "1; mode=block"),
    ("Referrer-Policy", "unsafe-url"),
    ("X-Powered-By", "Express"),
]


def test_overwrite_is_the_default_and_leaves_one_value() -> None:
    recorder, _ = run(SecurityHeaders(App(extra=APP_WEAKER)), **{"wsgi.url_scheme": "https"})
    assert security(recorder) == single({**DOCUMENT, "Strict-Transport-Security": HSTS})
    assert not recorder.header_values("X-Powered-By")


def test_keep_merge_leaves_the_apps_values_and_fills_in_the_rest() -> None:
    recorder, _ = run(SecurityHeaders(App(extra=APP_WEAKER), merge="keep"))
    expected = {
        **DOCUMENT,
        "X-Frame-Options": "SAMEORIGIN",
        "X-XSS-Protection": "1; mode=block",
        "Referrer-Policy": "unsafe-url",
    }
    assert {k.title(): v for k, v in security(recorder).items()} == {
        k.title(): [v] for k, v in expected.items()
    }
    assert not recorder.header_values("X-Powered-By"), "removal applies in keep mode too"


def test_headers_outside_the_profile_are_not_touched() -> None:
    # A JSON response: COOP is not headerware's there, and HSTS is not sent over http.
    extra = [("Cross-Origin-Opener-Policy", "unsafe-none"), ("Strict-Transport-Security", "x")]
    recorder, _ = run(SecurityHeaders(App("application/json", extra)))
    assert recorder.header_values("Cross-Origin-Opener-Policy") == ["unsafe-none"]
    assert recorder.header_values("Strict-Transport-Security") == ["x"]
    assert recorder.header_values("X-Frame-Options") == ["DENY"]


# -- HSTS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "https_value"),
    [
        pytest.param({}, HSTS, id="default"),
        pytest.param({"hsts_max_age": 63072000, "hsts_preload": True}, None, id="preload"),
        pytest.param({"hsts_include_subdomains": False}, "max-age=31536000", id="no-subdomains"),
        pytest.param({"hsts_max_age": 0}, "max-age=0; includeSubDomains", id="forget"),
        pytest.param({"hsts": False}, "", id="disabled"),
    ],
)
def test_hsts_only_on_secure_requests(options: dict[str, Any], https_value: str | None) -> None:
    if https_value is None:
        https_value = "max-age=63072000; includeSubDomains; preload"
    layer = SecurityHeaders(App(), **options)
    secure, _ = run(layer, **{"wsgi.url_scheme": "https"})
    plain, _ = run(layer, **{"wsgi.url_scheme": "http"})
    assert secure.header_values("Strict-Transport-Security") == (
        [https_value] if https_value else []
    )
    assert plain.header_values("Strict-Transport-Security") == []


def test_hsts_never_trusts_x_forwarded_proto() -> None:
    recorder, _ = run(SecurityHeaders(App()), HTTP_X_FORWARDED_PROTO="https")
    assert recorder.header_values("Strict-Transport-Security") == []


def test_webtest_https_and_http() -> None:
    client = webtest.TestApp(SecurityHeaders(App()), lint=True)
    secure = client.get("https://localhost/")
    assert secure.headers["Strict-Transport-Security"] == HSTS
    assert secure.headers["X-Frame-Options"] == "DENY"
    plain = client.get("http://localhost/")
    assert "Strict-Transport-Security" not in plain.headers
    assert plain.headers["X-Content-Type-Options"] == "nosniff"


def test_error_response_through_exc_info_gets_the_headers() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import sys

            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"error"]

    recorder, _ = run(SecurityHeaders(app))
    assert recorder.status.startswith("500")
    assert security(recorder) == single(DOCUMENT)


# -- issue 11 item 10: enumerated values are sent in their canonical spelling -----------


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        pytest.param(
            {"cross_origin_opener_policy": "SAME-ORIGIN"},
            {"Cross-Origin-Opener-Policy": "same-origin"},
            id="issue11-10-coop-uppercase",
        ),
        pytest.param(
            {"cross_origin_embedder_policy": "CREDENTIALLESS"},
            {"Cross-Origin-Embedder-Policy": "credentialless"},
            id="issue11-10-coep-uppercase",
        ),
        pytest.param(
            {"cross_origin_resource_policy": "Cross-Origin"},
            {"Cross-Origin-Resource-Policy": "cross-origin"},
            id="issue11-10-corp-mixed-case",
        ),
        pytest.param(
            {"referrer_policy": "ORIGIN"},
            {"Referrer-Policy": "origin"},
            id="issue11-10-referrer-uppercase",
        ),
        pytest.param(
            {"referrer_policy": " No-Referrer ,STRICT-ORIGIN-WHEN-CROSS-ORIGIN"},
            {"Referrer-Policy": "no-referrer, strict-origin-when-cross-origin"},
            id="issue11-10-referrer-list",
        ),
        pytest.param(
            {"x_content_type_options": "NoSniff", "x_dns_prefetch_control": "OFF"},
            {"X-Content-Type-Options": "nosniff", "X-DNS-Prefetch-Control": "off"},
            id="issue11-10-nosniff-dns",
        ),
        pytest.param(
            {"x_permitted_cross_domain_policies": "None", "x_download_options": " noOpen"},
            {"X-Permitted-Cross-Domain-Policies": "none", "X-Download-Options": "noopen"},
            id="issue11-10-xpcdp-download",
        ),
        pytest.param(
            {"x_frame_options": "sameorigin"},
            {"X-Frame-Options": "SAMEORIGIN"},
            id="issue11-10-xfo-canonical-upper",
        ),
    ],
)
def test_enumerated_values_are_sent_canonical(
    options: dict[str, Any], sent: dict[str, str]
) -> None:
    layer = SecurityHeaders(App(), **options)
    recorder, body = run(layer)
    assert body == b"ok"
    expected = {**DOCUMENT, **sent}
    assert security(recorder) == single(expected)  # nothing else lost or changed
    for option in options:
        assert layer.describe()[option] in sent.values()  # describe shows what is sent


# -- issue 11 item 13: the redirect moved to the https_redirect layer -------------------


@pytest.mark.parametrize(
    ("options", "option"),
    [
        pytest.param({"https_redirect": True}, "https_redirect", id="issue11-13-https-redirect"),
        pytest.param(
            {"https_redirect_status": 308}, "https_redirect_status", id="issue11-13-status"
        ),
        pytest.param(
            {"https_redirect_exempt": ["/healthz"]}, "https_redirect_exempt", id="issue11-13-exempt"
        ),
        pytest.param({"https_port": 8443}, "https_port", id="issue11-13-port"),
    ],
)
def test_retired_redirect_options_point_at_the_new_layer(
    options: dict[str, Any], option: str
) -> None:
    with pytest.raises(OptionError, match=r"https_redirect layer.*\[https_redirect\]") as info:
        SecurityHeaders(**options)
    assert info.value.option == option
    assert "HTTPSRedirect(" in str(info.value)
    with pytest.raises(ConfigError, match=rf"security_headers\.{option}: .*https_redirect layer"):
        stack_from_dict({"security_headers": options}, App())


def test_https_redirect_false_changes_nothing() -> None:
    app = App()
    recorder, body = run(SecurityHeaders(app, https_redirect=False))
    assert (recorder.status, body, app.calls) == ("200 OK", b"ok", 1)
    assert security(recorder) == single(DOCUMENT)


# -- issue 12: the default Referrer-Policy keeps same-origin form POSTs' Origin --------


def test_default_referrer_policy_is_strict_origin_when_cross_origin() -> None:
    for content_type in ("text/html", "application/json"):
        recorder, _ = run(SecurityHeaders(App(content_type)))
        assert recorder.header_values("Referrer-Policy") == ["strict-origin-when-cross-origin"]
    assert SecurityHeaders().describe()["referrer_policy"] == "strict-origin-when-cross-origin"


# -- configuration errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "option", "match"),
    [
        pytest.param(
            {"hsts_preload": True, "hsts_max_age": 86400},
            "hsts_preload",
            r"hsts_preload=true needs hsts_max_age >= 31536000 .*got 86400",
            id="preload-short",
        ),
        pytest.param(
            {"hsts_preload": True, "hsts_include_subdomains": False},
            "hsts_preload",
            "hsts_preload=true needs hsts_include_subdomains=true",
            id="preload-no-subdomains",
        ),
        pytest.param(
            {"hsts_preload": True, "hsts": False},
            "hsts_preload",
            "hsts=false",
            id="preload-no-hsts",
        ),
        pytest.param({"hsts_max_age": -1}, "hsts_max_age", "-1 must be a whole", id="negative"),
        pytest.param({"hsts_max_age": "1y"}, "hsts_max_age", "'1y' must be", id="max-age-str"),
        pytest.param({"hsts": "yes"}, "hsts", "'yes' is not a boolean", id="hsts-str"),
        pytest.param(
            {"x_frame_options": "ALLOW-FROM https://a.example"},
            "x_frame_options",
            "not a value browsers understand.*frame-ancestors",
            id="xfo-allow-from",
        ),
        pytest.param(
            {"x_content_type_options": "sniff"}, "x_content_type_options", "'sniff'", id="nosniff"
        ),
        pytest.param(
            {"referrer_policy": "no-referer"},
            "referrer_policy",
            "'no-referer' is not a referrer policy",
            id="typo",
        ),
        pytest.param(
            {"cross_origin_opener_policy": "same-origin\r\nX-Evil: 1"},
            "cross_origin_opener_policy",
            "the value of 'Cross-Origin-Opener-Policy' contains a control character",
            id="crlf",
        ),
        pytest.param(
            {"permissions_policy": "camera=()\n"},
            "permissions_policy",
            "control character",
            id="pp-crlf",
        ),
        pytest.param({"x_xss_protection": 1}, "x_xss_protection", "1 is not a header", id="int"),
        pytest.param(
            {"referrer_policy": " "}, "referrer_policy", "' ' is not a header", id="blank"
        ),
        pytest.param(
            {"permissions_policy": {"Camera": []}},
            "permissions_policy",
            "'Camera' is not a feature name",
            id="pp-name",
        ),
        pytest.param(
            {"permissions_policy": {"camera": ["https://a.example/path"]}},
            "permissions_policy",
            "camera='https://a.example/path' is not an allowlist entry",
            id="pp-origin-path",
        ),
        pytest.param(
            {"permissions_policy": {"camera": ['"self"']}},
            "permissions_policy",
            "not an allowlist entry",
            id="pp-quoted",
        ),
        pytest.param({"merge": "append"}, "merge", "'append' is not one of", id="merge"),
        pytest.param(
            {"json_headers": ["X-Unknown"]},
            "json_headers",
            "json_headers lists 'x-unknown'",
            id="json-unknown",
        ),
        pytest.param(
            {"json_headers": "X-Frame-Options"}, "json_headers", "is a string", id="json-str"
        ),
        pytest.param(
            {"remove_headers": ["X-Frame-Options"]},
            "remove_headers",
            "remove_headers lists 'x-frame-options', which this layer also sends",
            id="remove-clash",
        ),
        pytest.param(
            {"remove_headers": "Server"}, "remove_headers", "'Server' is a string", id="rm-str"
        ),
        pytest.param(
            {"remove_headers": ["Bad Name"]},
            "remove_headers",
            "'Bad Name' is not a valid",
            id="rm-name",
        ),
    ],
)
def test_bad_config_fails_at_start_up(options: dict[str, Any], option: str, match: str) -> None:
    with pytest.raises(OptionError, match=match) as info:
        SecurityHeaders(**options)
    assert info.value.option == option
    assert str(info.value).startswith(f"{option}: ")


def test_describe_is_option_shaped() -> None:
    layer = SecurityHeaders(
        App(), hsts_preload=True, x_frame_options="SAMEORIGIN", x_xss_protection=None
    )
    described = layer.describe()
    assert described["hsts"] is True
    assert described["hsts_max_age"] == 31536000
    assert described["hsts_include_subdomains"] is True
    assert described["hsts_preload"] is True
    assert described["x_frame_options"] == "SAMEORIGIN"
    assert described["cross_origin_embedder_policy"] is False  # off, as an option says it
    assert described["x_xss_protection"] is False
    assert described["merge"] == "overwrite"
    assert described["remove_headers"] == ["X-Powered-By", "Server"]
    assert not {key for key in described if key.startswith("https")}
    # Every key is a keyword of __init__ and pastes back to the same layer.
    again = SecurityHeaders(App(), **described)
    assert again.describe() == described
    assert run(again, **{"wsgi.url_scheme": "https"})[0].headers == (
        run(layer, **{"wsgi.url_scheme": "https"})[0].headers
    )


def test_in_a_stack_with_another_layer_one_value_each() -> None:
    stack = Stack([SecurityHeaders(), SecurityHeaders(x_frame_options="SAMEORIGIN")], App())
    recorder, _ = run(stack)
    # Response hooks run in reverse order: the outer layer has the last word.
    assert recorder.header_values("X-Frame-Options") == ["DENY"]
    assert recorder.header_values("X-Content-Type-Options") == ["nosniff"]


class TestSecurityHeadersContract(LayerContract):
    def make_layer(self) -> Layer:
        return SecurityHeaders()


class TestSecurityHeadersHTTPSContract(LayerContract):
    def make_layer(self) -> Layer:
        return SecurityHeaders(hsts_preload=True)

    def environ_extra(self) -> dict[str, Any]:
        return {"wsgi.url_scheme": "https", "SERVER_PORT": "443"}


# -- Permissions-Policy feature names (issue 12) -------------------------------------


@pytest.mark.parametrize(
    ("policy", "did_you_mean"),
    [
        pytest.param({"camra": []}, "'camera'", id="issue12-pp-typo-mapping"),
        pytest.param({"geolocation": [], "microphon": []}, "'microphone'", id="issue12-pp-typo"),
        pytest.param({"xr-spatial-tracker": []}, "'xr-spatial-tracking'", id="issue12-pp-xr"),
    ],
)
def test_permissions_policy_typo_fails_with_did_you_mean(
    policy: dict[str, list[str]], did_you_mean: str
) -> None:
    with pytest.raises(OptionError, match="did you mean " + did_you_mean) as raised:
        SecurityHeaders(permissions_policy=policy)
    assert raised.value.option == "permissions_policy"


def test_permissions_policy_typo_in_toml_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"permissions_policy.*did you mean 'camera'"):
        stack_from_dict({"security_headers": {"permissions_policy": {"camra": []}}}, App())


def test_permissions_policy_unknown_feature_without_close_match() -> None:
    with pytest.raises(OptionError, match="not a Permissions-Policy feature") as raised:
        SecurityHeaders(permissions_policy={"zzzzzz": []})
    assert "did you mean" not in str(raised.value)
    assert "as a string" in str(raised.value)  # the documented way to send a newer one


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param({"interest-cohort": [], "camera": []}, id="issue12-pp-retired-floc"),
        pytest.param({"document-domain": [], "camera": []}, id="issue12-pp-retired-domain"),
        pytest.param("interest-cohort=(), camera=()", id="issue12-pp-retired-in-string"),
    ],
)
def test_retired_permissions_policy_feature_warns_and_is_sent(
    policy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="headerware"):
        layer = SecurityHeaders(App(), permissions_policy=policy)
    records = [r for r in caplog.records if "retired" in r.getMessage()]
    assert len(records) == 1  # once per construction
    retired = "interest-cohort" if "interest-cohort" in str(policy) else "document-domain"
    assert retired in records[0].getMessage()
    assert records[0].name == "headerware"
    recorder, _ = run(layer)
    (sent,) = recorder.header_values("Permissions-Policy")
    assert sent.startswith(f"{retired}=()") and "camera=()" in sent  # still sent, nothing lost


def test_several_retired_features_log_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="headerware"):
        SecurityHeaders(permissions_policy={"vibrate": [], "vr": [], "usb": []})
    (record,) = [r for r in caplog.records if "retired" in r.getMessage()]
    assert "vibrate, vr" in record.getMessage()
    assert "xr-spatial-tracking" in record.getMessage()  # what replaced vr


def test_current_features_and_default_do_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="headerware"):
        SecurityHeaders()
        SecurityHeaders(permissions_policy={"fullscreen": ["self"], "ch-ua-model": ["*"]})
    assert not [r for r in caplog.records if "retired" in r.getMessage()]


def test_a_string_policy_is_sent_as_written_even_with_an_unknown_feature() -> None:
    layer = SecurityHeaders(App(), permissions_policy="brand-new-feature=(), camera=()")
    recorder, _ = run(layer)
    assert recorder.header_values("Permissions-Policy") == ["brand-new-feature=(), camera=()"]


def test_feature_list_names_its_source() -> None:
    import inspect

    from headerware import security_values

    source = inspect.getsource(security_values)
    assert "webappsec-permissions-policy" in source and "permissions_policy_features" in source
    assert security_values.DEFAULT_PERMISSIONS_POLICY.keys() <= (
        security_values.PERMISSIONS_POLICY_FEATURES
    )
    assert not (
        security_values.PERMISSIONS_POLICY_FEATURES
        & security_values.RETIRED_PERMISSIONS_POLICY_FEATURES.keys()
    )
