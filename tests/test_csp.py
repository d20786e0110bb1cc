"""Content-Security-Policy: the policy builder, the nonce, profiles, reporting."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
from typing import Any

import pytest
import webtest

from headerware import Context, Layer, OptionError, Response, Stack
from headerware.csp_policy import DEFAULT_POLICY, JSON_POLICY, Policy, csp_hash
from headerware.layers.csp import NONCE_ENVIRON_KEY, ContentSecurityPolicy, csp_nonce
from tests.contract import LayerContract, Recorder, consume, make_environ

Headers = list[tuple[str, str]]
REPORT_PATH = "/_headerware/csp-report"
JSON_HEADER = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The default policy without a nonce (plain HTTP: no upgrade-insecure-requests).
DEFAULT_HEADER = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)


def nonce_app(content_type: str = "text/html; charset=utf-8", extra: Headers | None = None) -> Any:
    """An app that echoes the nonce it read through the helper."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = csp_nonce(environ, default="<none>").encode("ascii")
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers + (extra or []))
        return [body]

    return app


def directives_of(header: str) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        assert name not in result, f"duplicate directive {name}"
        result[name] = sources
    return result


def run(layer: ContentSecurityPolicy, app: Any = None, **environ: Any) -> tuple[Recorder, bytes]:
    recorder = Recorder()
    body = consume(Stack([layer], app or nonce_app())(make_environ(**environ), recorder))
    return recorder, body


# -- the builder ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("directives", "kwargs", "rendered"),
    [
        pytest.param(
            {"default-src": "'self'  https://cdn.example.com"},
            {},
            "default-src 'self' https://cdn.example.com",
            id="string-split-on-whitespace",
        ),
        pytest.param(
            {"Script-Src": ["'SELF'", "'self'"]},
            {},
            "script-src 'self'",
            id="names-and-keywords-lower-cased-repeats-dropped",
        ),
        pytest.param(
            {"img-src": ["*.example.com:443", "https://example.com/img/", "data:", "wss:"]},
            {},
            "img-src *.example.com:443 https://example.com/img/ data: wss:",
            id="hosts-paths-schemes",
        ),
        pytest.param(
            {"script-src": [csp_hash("alert(1)"), "'strict-dynamic'"]},
            {},
            f"script-src {csp_hash('alert(1)')} 'strict-dynamic'",
            id="strict-dynamic-with-hash",
        ),
        pytest.param(
            {"script-src": ["'strict-dynamic'", "https:", "'unsafe-inline'"]},
            {"nonce_directives": ["script-src"]},
            "script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-N'",
            id="backwards-compatible-strict-dynamic-with-request-nonce",
        ),
        pytest.param(
            {"script-src": ["'self'", "'unsafe-eval'"]},
            {"allow_unsafe": ["'unsafe-eval'"]},
            "script-src 'self' 'unsafe-eval'",
            id="allow-unsafe-by-name",
        ),
        pytest.param(
            {"default-src": ["*"]},
            {"allow_unsafe": True},
            "default-src *",
            id="allow-unsafe-true",
        ),
        pytest.param(
            {"default-src": ["'none'"], "upgrade-insecure-requests": True, "sandbox": True},
            {},
            "default-src 'none'; upgrade-insecure-requests; sandbox",
            id="flag-directives",
        ),
        pytest.param(
            {"default-src": ["'none'"], "img-src": None, "sandbox": ["allow-forms"]},
            {},
            "default-src 'none'; sandbox allow-forms",
            id="none-leaves-a-directive-out",
        ),
        pytest.param(
            {"style-src": ["'self'", "'unsafe-inline'"]},
            {},
            "style-src 'self' 'unsafe-inline'",
            id="unsafe-inline-styles-are-not-refused",
        ),
        pytest.param(
            {"default-src": ["'none'"], "report-to": "csp", "report-uri": ["/r"]},
            {},
            "default-src 'none'; report-to csp; report-uri /r",
            id="reporting-directives",
        ),
        pytest.param(
            {"require-trusted-types-for": ["'script'"], "trusted-types": ["app", "'none'"]},
            {},
            "require-trusted-types-for 'script'; trusted-types app 'none'",
            id="trusted-types",
        ),
    ],
)
def test_policy_accepts_and_renders(
    directives: dict[str, Any], kwargs: dict[str, Any], rendered: str
) -> None:
    assert Policy(directives, **kwargs).render("N") == rendered


@pytest.mark.parametrize(
    ("directives", "kwargs", "message"),
    [
        pytest.param({"default-src": ["self"]}, {}, "must be quoted: write \"'self'\"", id="self"),
        pytest.param({"script-src": ["none"]}, {}, "must be quoted", id="none-unquoted"),
        pytest.param(
            {"script-src": ["sha256-" + "A" * 43 + "="]},
            {},
            "must be quoted: write \"'sha256-",
            id="hash-unquoted",
        ),
        pytest.param({"script-src": ["nonce-abc"]}, {}, "must be quoted", id="nonce-unquoted"),
        pytest.param({"script-src": ["'slef'"]}, {}, "did you mean \"'self'\"", id="typo-keyword"),
        pytest.param({"script-src": ["'self"]}, {}, "unknown keyword", id="open-quote"),
        pytest.param({"script-src": ["self'"]}, {}, "unbalanced quotes", id="close-quote"),
        pytest.param(
            {"scirpt-src": ["'self'"]}, {}, "did you mean 'script-src'", id="typo-directive"
        ),
        pytest.param({"script_src": ["'self'"]}, {}, "did you mean 'script-src'", id="underscore"),
        pytest.param({"bogus": ["'self'"]}, {}, "unknown CSP directive 'bogus'", id="unknown"),
        pytest.param(
            {"block-all-mixed-content": True}, {}, "upgrade-insecure-requests", id="obsolete"
        ),
        pytest.param({"img-src": ["a;b"]}, {}, "contains ';'", id="semicolon"),
        pytest.param({"img-src": ["a,b"]}, {}, "contains ','", id="comma"),
        pytest.param({"img-src": ["a\r\nX-Evil: 1"]}, {}, "contains '\\r'", id="crlf"),
        pytest.param({"img-src": ["a b"]}, {}, "one source per list item", id="space-in-item"),
        pytest.param({"img-src": ["exämple.com"]}, {}, "non-ASCII", id="non-ascii"),
        pytest.param({"img-src": ["https://exa mple"]}, {}, "contains ' '", id="space-in-url"),
        pytest.param({"img-src": ["https://example.com?q"]}, {}, "is not a CSP source", id="q"),
        pytest.param({"img-src": ["'none'", "'self'"]}, {}, "must stand alone", id="none-plus"),
        pytest.param({"img-src": []}, {}, "an empty list", id="empty-list"),
        pytest.param({"img-src": 3}, {}, "expected a list of sources", id="not-a-list"),
        pytest.param({"img-src": [3]}, {}, "must be a string", id="not-a-string"),
        pytest.param(
            {"script-src": ["'strict-dynamic'"]},
            {},
            "'strict-dynamic' without a nonce or hash",
            id="strict-dynamic-alone",
        ),
        pytest.param(
            {"default-src": ["'strict-dynamic'", "'self'"]},
            {"nonce_directives": ["script-src"]},
            "'strict-dynamic' without a nonce or hash",
            id="strict-dynamic-in-default-src",
        ),
        pytest.param(
            {"script-src": ["'self'", "'unsafe-inline'"]},
            {},
            "allow_unsafe=[\"'unsafe-inline'\"]",
            id="unsafe-inline",
        ),
        pytest.param(
            {"script-src": ["'unsafe-eval'"]}, {}, "injected strings run as code", id="eval"
        ),
        pytest.param({"script-src": ["*"]}, {}, "load from anywhere", id="star"),
        pytest.param({"script-src": ["https:"]}, {}, "allow_unsafe=['https:']", id="https"),
        pytest.param({"script-src-elem": ["http:"]}, {}, "script-src-elem: http:", id="http-elem"),
        pytest.param({"script-src": ["data:"]}, {}, "data:", id="data"),
        pytest.param(
            {"script-src": ["'nonce-abc'", "'strict-dynamic'", "'unsafe-eval'"]},
            {},
            "'unsafe-eval'",
            id="eval-not-neutralised-by-nonce",
        ),
        pytest.param(
            {"script-src": ["'self'", "https:"]},
            {"allow_unsafe": ["'unsafe-eval'"]},
            "allow_unsafe=['https:']",
            id="allow-unsafe-names-only-what-it-names",
        ),
        pytest.param(
            {"default-src": ["'self'", "https:"]},
            {},
            "fall back to default-src",
            id="inherited-by-script-src",
        ),
        pytest.param(
            {"script-src": ["'sha256-abc='"]}, {}, "not a base64 sha256 digest", id="short-hash"
        ),
        pytest.param(
            {"script-src": ["'sha256-" + "A" * 64 + "'"]},
            {},
            "not a base64 sha256",
            id="long-hash",
        ),
        pytest.param({"script-src": ["'nonce-a!b'"]}, {}, "base64 value", id="bad-nonce"),
        pytest.param(
            {"frame-ancestors": ["'unsafe-inline'"]},
            {},
            "has no effect in frame-ancestors",
            id="frame-ancestors-keyword",
        ),
        pytest.param(
            {"form-action": ["'nonce-abc'"]}, {}, "no effect in form-action", id="form-nonce"
        ),
        pytest.param({"sandbox": ["allow-scirpts"]}, {}, "'allow-scripts'", id="sandbox-flag"),
        pytest.param({"report-to": ["a", "b"]}, {}, "exactly one name", id="report-to-two"),
        pytest.param({"webrtc": ["allow"]}, {}, "\"'allow'\"", id="webrtc"),
        pytest.param(
            {"require-trusted-types-for": ["script"]}, {}, "\"'script'\"", id="trusted-types-for"
        ),
        pytest.param(
            {"upgrade-insecure-requests": ["'self'"]}, {}, "takes no sources", id="flag-value"
        ),
        pytest.param({"img-src": True}, {}, "not True", id="true-for-list"),
        pytest.param(
            {"script-src": ["'self'"], "SCRIPT-SRC": ["'self'"]}, {}, "given twice", id="dup"
        ),
        pytest.param({}, {}, "has no directive", id="empty-policy"),
        pytest.param({"img-src": None}, {}, "has no directive", id="only-none"),
        pytest.param(
            {"default-src": ["'none'"]},
            {"nonce_directives": ["img-src"]},
            "cannot carry a nonce",
            id="nonce-on-img-src",
        ),
        pytest.param(
            {"script-src": ["'self'"]},
            {"allow_unsafe": "'unsafe-eval'"},
            "allow_unsafe=[\"'unsafe-eval'\"]",
            id="allow-unsafe-string",
        ),
    ],
)
def test_policy_refuses_with_the_fix(
    directives: dict[str, Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(OptionError) as info:
        Policy(directives, **kwargs)
    assert message in str(info.value)
    option = (
        "nonce_directives"
        if "cannot carry" in message
        else "allow_unsafe"
        if isinstance(kwargs.get("allow_unsafe"), str)
        else "policy"
    )
    assert info.value.option == option
    assert str(info.value).startswith(f"{option}: ")


@pytest.mark.parametrize(
    ("source", "unsafe"),
    [
        pytest.param("https://*", "https://*", id="issue11-12-canonical"),
        pytest.param("https://*/", "https://*", id="issue11-12-trailing-slash"),
        pytest.param("HTTPS://*", "https://*", id="issue11-12-scheme-case"),
        pytest.param("https://*:443", "https://*", id="issue11-12-port"),
        pytest.param("https://*:*", "https://*", id="issue11-12-any-port"),
        pytest.param("Http://*:8080/js/", "http://*", id="issue11-12-http-port-path"),
        pytest.param("*:*", "*", id="issue11-12-star-any-port"),
        pytest.param("*/", "*", id="issue11-12-star-slash"),
        pytest.param("*:443/x", "*", id="issue11-12-star-port-path"),
        pytest.param("HTTPS:", "https:", id="issue11-12-scheme-source-case"),
        pytest.param("DATA:", "data:", id="issue11-12-data-case"),
        pytest.param("'UNSAFE-EVAL'", "'unsafe-eval'", id="issue11-12-keyword-case"),
    ],
)
def test_unsafe_script_sources_in_any_spelling(source: str, unsafe: str) -> None:
    for directives in ({"script-src": [source]}, {"default-src": [source]}):
        with pytest.raises(OptionError, match="defeats CSP") as info:
            Policy(directives)
        assert f"allow_unsafe=[{unsafe!r}]" in str(info.value)
        # Accepting it by its normalised name, or as written, lets exactly it through.
        assert Policy(directives, allow_unsafe=[unsafe]).render()
        assert Policy(directives, allow_unsafe=[source]).render()
    # Nothing else was lost: the same spellings outside scripts are fine, named hosts too.
    assert Policy({"img-src": [source]}).render()
    assert Policy({"script-src": ["https://cdn.example.com:443/", "*.example.com"]}).render()
    # and 'strict-dynamic' next to a nonce still neutralises host and scheme sources.
    strict = {"script-src": [source, "'strict-dynamic'"]}
    if unsafe not in ("'unsafe-eval'",):
        assert Policy(strict, nonce_directives=["script-src"]).render("N")


def test_policy_refuses_a_non_mapping() -> None:
    with pytest.raises(ValueError, match="expected a mapping"):
        Policy([("default-src", "'none'")])  # type: ignore[arg-type]


def test_policy_render_needs_the_nonce_when_it_has_slots() -> None:
    policy = Policy(DEFAULT_POLICY, nonce_directives=["script-src"])
    with pytest.raises(ValueError, match="nonce"):
        policy.render()
    assert "'nonce-{nonce}'" in repr(policy)
    assert Policy(JSON_POLICY).render() == JSON_HEADER


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_csp_hash(algorithm: str) -> None:
    text = "document.body.dataset.ran = 'yes';"
    digest = hashlib.new(algorithm, text.encode()).digest()
    expected = f"'{algorithm}-{base64.b64encode(digest).decode()}'"
    assert csp_hash(text, algorithm) == expected
    assert csp_hash(text.encode(), algorithm) == expected
    # The result is accepted by the builder and unlocks 'strict-dynamic'.
    Policy({"script-src": [expected, "'strict-dynamic'"]})


def test_csp_hash_refuses_other_algorithms() -> None:
    with pytest.raises(ValueError, match="'sha256', 'sha384' or 'sha512'"):
        csp_hash("x", "md5")


def test_default_policy_earns_the_observatory_top_csp_result() -> None:
    """The conditions of mdn-http-observatory's csp test for the +10 result."""
    layer = ContentSecurityPolicy()
    recorder, body = run(layer)
    policy = directives_of(recorder.header_values("Content-Security-Policy")[0])
    assert policy["default-src"] == ["'none'"]
    for name in (
        "script-src",
        "style-src",
        "img-src",
        "connect-src",
        "font-src",
        "form-action",
        "base-uri",
        "frame-ancestors",
        "object-src",
    ):
        assert name in policy, name
    for name in ("script-src", "style-src"):
        assert f"'nonce-{body.decode()}'" in policy[name]
    broad = {"*", "http:", "https:", "ftp:", "http://*", "https://*", "'unsafe-inline'", "data:"}
    for name in ("script-src", "style-src", "object-src", "base-uri", "form-action"):
        assert not broad & set(policy[name]), name
    assert not {"'unsafe-eval'"} & set(policy["script-src"] + policy["style-src"])
    assert policy["frame-ancestors"] == ["'none'"]


# -- the nonce ---------------------------------------------------------------------


def test_nonce_in_header_is_the_one_the_app_saw() -> None:
    app = webtest.TestApp(ContentSecurityPolicy(nonce_app()), lint=True)
    response = app.get("/")
    nonce = response.text
    decoded = base64.b64decode(nonce, validate=True)
    assert len(decoded) == 16  # 128 bits
    header = response.headers["Content-Security-Policy"]
    assert header.count(f"'nonce-{nonce}'") == 2
    policy = directives_of(header)
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce}'"]


def test_nonce_is_fresh_per_request_and_in_the_environ() -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ[NONCE_ENVIRON_KEY])
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b""]

    stack = ContentSecurityPolicy(app)
    headers = []
    for _ in range(50):
        recorder = Recorder()
        consume(stack(make_environ(), recorder))
        headers.append(recorder.header_values("Content-Security-Policy")[0])
    assert len(set(seen)) == 50
    assert all(f"'nonce-{nonce}'" in header for nonce, header in zip(seen, headers, strict=True))


def test_csp_nonce_without_headerware() -> None:
    with pytest.raises(LookupError, match="ContentSecurityPolicy"):
        csp_nonce(make_environ())
    assert csp_nonce(make_environ(), default="") == ""
    assert csp_nonce({NONCE_ENVIRON_KEY: "abc"}) == "abc"


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param(
            {"default-src": ["'self'", "https://cdn.example.com"]},
            {
                "default-src": ["'self'", "https://cdn.example.com"],
                "script-src": ["'self'", "https://cdn.example.com", "'nonce-N'"],
                "style-src": ["'self'", "https://cdn.example.com", "'nonce-N'"],
            },
            id="inherited-sources-kept",
        ),
        pytest.param(
            {"default-src": ["'none'"], "img-src": ["'self'"]},
            {
                "default-src": ["'none'"],
                "script-src": ["'nonce-N'"],
                "style-src": ["'nonce-N'"],
                "img-src": ["'self'"],
            },
            id="inherited-none-dropped",
        ),
        pytest.param(
            {"default-src": ["'self'"], "script-src": ["'none'"]},
            {
                "default-src": ["'self'"],
                "style-src": ["'self'", "'nonce-N'"],
                "script-src": ["'none'"],
            },
            id="explicit-none-left-alone",
        ),
        pytest.param(
            {"img-src": ["'self'"]},
            {"img-src": ["'self'"]},
            id="unrestricted-scripts-get-no-nonce",
        ),
        pytest.param(
            {"script-src": ["'self'"], "script-src-elem": ["'self'"], "style-src": ["'self'"]},
            {
                "script-src": ["'self'", "'nonce-N'"],
                "script-src-elem": ["'self'", "'nonce-N'"],
                "style-src": ["'self'", "'nonce-N'"],
            },
            id="elem-override-gets-the-nonce-too",
        ),
    ],
)
def test_nonce_placement(policy: dict[str, Any], expected: dict[str, list[str]]) -> None:
    layer = ContentSecurityPolicy(policy=policy, upgrade_insecure_requests=False)
    assert directives_of(layer.policy.render("N")) == expected  # type: ignore[union-attr]
    # The request nonce is spliced where the policy says.
    recorder, body = run(layer)
    header = recorder.header_values("Content-Security-Policy")[0]
    assert header == layer.policy.render(body.decode())  # type: ignore[union-attr]


def test_static_policy_without_nonces() -> None:
    layer = ContentSecurityPolicy(nonce_directives=())
    first, body = run(layer)
    second, _ = run(layer)
    assert body == b"<none>"  # no nonce key in the environ
    value = first.header_values("Content-Security-Policy")[0]
    assert value == second.header_values("Content-Security-Policy")[0]
    assert "nonce" not in value


# -- profiles, report-only, upgrade ---------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "APPLICATION/JSON",
    ],
)
def test_json_profile(content_type: str) -> None:
    recorder, body = run(
        ContentSecurityPolicy(report_only_policy=DEFAULT_POLICY), nonce_app(content_type)
    )
    assert recorder.header_values("Content-Security-Policy") == [JSON_HEADER]
    assert recorder.header_values("Content-Security-Policy-Report-Only") == []
    assert len(body) == 24  # the nonce was still made for the app


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "TEXT/HTML; charset=utf-8", "application/xhtml+xml", "image/svg+xml", None],
)
def test_nonce_policy_on_documents_that_can_use_it(content_type: str | None) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = csp_nonce(environ).encode("ascii")
        headers = [("Content-Type", content_type)] if content_type else []
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        return [body]

    recorder, body = run(ContentSecurityPolicy(), app)
    assert f"'nonce-{body.decode()}'" in recorder.header_values("Content-Security-Policy")[0]


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        pytest.param("application/problem+json", True, id="application-plus-json"),
        pytest.param("text/x+json", False, id="text-plus-json-is-not-json"),
        pytest.param("application/json-seq", False, id="json-seq"),
    ],
)
def test_json_classification_is_the_shared_one(content_type: str, json: bool) -> None:
    recorder, _ = run(ContentSecurityPolicy(), nonce_app(content_type))
    (value,) = recorder.header_values("Content-Security-Policy")
    if json:
        assert value == JSON_HEADER
    else:  # not JSON, and not a document either: the policy without the nonce
        assert value == DEFAULT_HEADER


def test_json_policy_none_gives_json_the_document_policy_without_nonce() -> None:
    recorder, body = run(ContentSecurityPolicy(json_policy=None), nonce_app("application/json"))
    assert recorder.header_values("Content-Security-Policy") == [DEFAULT_HEADER]
    assert len(body) == 24  # the nonce was still made for the app


# -- issue 15 / issue 11 item 15: a per-request nonce only where it is used ------------

STATIC_TYPES = [
    pytest.param("text/css", id="issue11-15-css"),
    pytest.param("text/javascript", id="issue11-15-js"),
    pytest.param("image/png", id="issue11-15-image"),
    pytest.param("text/plain; charset=utf-8", id="issue11-15-text"),
    pytest.param("application/octet-stream", id="issue11-15-binary"),
]


@pytest.mark.parametrize("content_type", STATIC_TYPES)
def test_other_types_get_the_policy_without_a_nonce(content_type: str) -> None:
    trial = {**DEFAULT_POLICY, "require-trusted-types-for": ["'script'"]}
    layer = ContentSecurityPolicy(report_only_policy=trial)
    cached = [("Cache-Control", "public, max-age=86400")]
    recorder, body = run(layer, nonce_app(content_type, cached))
    assert len(body) == 24  # the app still got a nonce
    assert recorder.header_values("Content-Security-Policy") == [DEFAULT_HEADER]
    (trying,) = recorder.header_values("Content-Security-Policy-Report-Only")
    assert "nonce" not in trying and "require-trusted-types-for 'script'" in trying
    assert recorder.header_values("Cache-Control") == ["public, max-age=86400"]
    # The same response is byte-identical on every request: safe for a shared cache.
    again, _ = run(layer, nonce_app(content_type, cached))
    assert again.headers == recorder.headers


def not_modified_app(content_type: str, extra: Headers | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("304 Not Modified", [("Content-Type", content_type), *(extra or [])])
        return []

    return app


@pytest.mark.parametrize(
    ("options", "content_type", "kept"),
    [
        pytest.param({}, "text/html", [], id="issue11-15-304-html"),
        pytest.param(
            {"report_only_policy": DEFAULT_POLICY}, "text/html", [], id="issue11-15-304-both"
        ),
        pytest.param({}, "image/svg+xml", [], id="issue11-15-304-svg"),
        pytest.param({}, "application/json", [JSON_HEADER], id="issue11-15-304-json-static"),
        pytest.param({}, "text/css", [DEFAULT_HEADER], id="issue11-15-304-css-static"),
        pytest.param(
            {"nonce_directives": ()}, "text/html", [DEFAULT_HEADER], id="issue11-15-304-no-nonces"
        ),
    ],
)
def test_a_304_carries_no_nonce_policy(
    options: dict[str, Any], content_type: str, kept: list[str]
) -> None:
    recorder, body = run(ContentSecurityPolicy(**options), not_modified_app(content_type))
    assert (recorder.status, body) == ("304 Not Modified", b"")
    sent = recorder.header_values("Content-Security-Policy")
    assert sent == kept  # what has no nonce is still sent
    assert recorder.header_values("Content-Security-Policy-Report-Only") == []
    assert not any("nonce" in value for _, value in recorder.headers)
    assert recorder.header_values("Cache-Control") == []


def test_a_304_from_the_app_loses_its_own_nonce_policy_too() -> None:
    own = [
        ("Content-Security-Policy", "script-src 'nonce-abc'"),
        ("Content-Security-Policy-Report-Only", "img-src 'self'"),
        ("ETag", '"x"'),
    ]
    recorder, _ = run(ContentSecurityPolicy(), not_modified_app("text/html", own))
    assert recorder.header_values("Content-Security-Policy") == []
    assert recorder.header_values("Content-Security-Policy-Report-Only") == ["img-src 'self'"]
    assert recorder.header_values("ETag") == ['"x"']


def test_a_304_through_the_caching_layer_carries_no_nonce_policy() -> None:
    from headerware.layers.caching import Caching

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/html"), ("ETag", '"v1"'), ("Content-Length", "2")]
        start_response("200 OK", headers)
        return [b"ok"]

    stack = Stack([ContentSecurityPolicy(), Caching()], app)
    recorder = Recorder()
    consume(stack(make_environ(HTTP_IF_NONE_MATCH='"v1"'), recorder))
    assert recorder.status == "304 Not Modified"
    assert recorder.header_values("Content-Security-Policy") == []
    fresh = Recorder()
    consume(stack(make_environ(), fresh))
    assert "'nonce-" in fresh.header_values("Content-Security-Policy")[0]


@pytest.mark.parametrize(
    ("extra", "cache_control"),
    [
        pytest.param([], ["private"], id="issue11-15-nonce-page-gets-private"),
        pytest.param(
            [("Cache-Control", "public, max-age=60")],
            ["public, max-age=60"],
            id="issue11-15-apps-cache-control-kept",
        ),
        pytest.param([("Cache-Control", "no-store")], ["no-store"], id="issue11-15-no-store-kept"),
    ],
)
def test_nonce_page_without_cache_control_is_private(
    extra: Headers, cache_control: list[str]
) -> None:
    recorder, body = run(ContentSecurityPolicy(), nonce_app("text/html", extra))
    assert f"'nonce-{body.decode()}'" in recorder.header_values("Content-Security-Policy")[0]
    assert recorder.header_values("Cache-Control") == cache_control


@pytest.mark.parametrize(
    ("options", "content_type"),
    [
        pytest.param({"nonce_directives": ()}, "text/html", id="static-policy"),
        pytest.param({}, "text/css", id="stylesheet"),
        pytest.param({}, "application/json", id="json"),
    ],
)
def test_no_cache_control_added_without_a_nonce(options: dict[str, Any], content_type: str) -> None:
    recorder, _ = run(ContentSecurityPolicy(**options), nonce_app(content_type))
    assert recorder.header_values("Content-Security-Policy")
    assert recorder.header_values("Cache-Control") == []


def test_apps_own_nonce_policy_gets_private_too() -> None:
    own = [("Content-Security-Policy", "script-src 'nonce-abc'")]
    recorder, _ = run(ContentSecurityPolicy(), nonce_app("text/html", own))
    assert recorder.header_values("Content-Security-Policy") == ["script-src 'nonce-abc'"]
    assert recorder.header_values("Cache-Control") == ["private"]


def test_enforced_and_report_only_together_share_the_nonce() -> None:
    trial = {**DEFAULT_POLICY, "require-trusted-types-for": ["'script'"]}
    layer = ContentSecurityPolicy(report_only_policy=trial, report_uri="/csp")
    recorder, body = run(layer)
    nonce = body.decode()
    enforced = directives_of(recorder.header_values("Content-Security-Policy")[0])
    trying = directives_of(recorder.header_values("Content-Security-Policy-Report-Only")[0])
    assert f"'nonce-{nonce}'" in enforced["script-src"]
    assert f"'nonce-{nonce}'" in trying["script-src"]
    assert "require-trusted-types-for" in trying and "require-trusted-types-for" not in enforced
    assert enforced["report-uri"] == trying["report-uri"] == ["/csp"]


def test_report_only_mode_sends_the_policy_as_report_only() -> None:
    layer = ContentSecurityPolicy(report_only=True)
    recorder, _ = run(layer, **{"wsgi.url_scheme": "https"})
    assert recorder.header_values("Content-Security-Policy") == []
    (value,) = recorder.header_values("Content-Security-Policy-Report-Only")
    assert "upgrade-insecure-requests" not in value  # ignored in report-only policies
    recorder, _ = run(layer, nonce_app("application/json"))
    assert recorder.header_values("Content-Security-Policy-Report-Only") == [JSON_HEADER]


def test_only_a_report_only_policy() -> None:
    recorder, _ = run(ContentSecurityPolicy(policy=None, report_only_policy=DEFAULT_POLICY))
    assert recorder.header_values("Content-Security-Policy") == []
    assert len(recorder.header_values("Content-Security-Policy-Report-Only")) == 1


def test_upgrade_insecure_requests_only_on_https() -> None:
    layer = ContentSecurityPolicy()
    plain, _ = run(layer)
    secure, _ = run(layer, **{"wsgi.url_scheme": "https"})
    assert "upgrade-insecure-requests" not in plain.header_values("Content-Security-Policy")[0]
    assert secure.header_values("Content-Security-Policy")[0].endswith(
        "; upgrade-insecure-requests"
    )
    off, _ = run(
        ContentSecurityPolicy(upgrade_insecure_requests=False), **{"wsgi.url_scheme": "https"}
    )
    assert "upgrade-insecure-requests" not in off.header_values("Content-Security-Policy")[0]


# -- reporting directives and Reporting-Endpoints ---------------------------------


def test_report_to_adds_reporting_endpoints() -> None:
    layer = ContentSecurityPolicy(
        nonce_app(), report_to="https://reports.example.com/csp", report_uri="/r"
    )
    app = webtest.TestApp(layer, lint=True)
    plain = app.get("/")
    assert "report-to" not in plain.headers["Content-Security-Policy"]
    assert "Reporting-Endpoints" not in plain.headers
    assert "report-uri /r" in plain.headers["Content-Security-Policy"]
    response = app.get("https://localhost/")
    policy = directives_of(response.headers["Content-Security-Policy"])
    assert policy["report-to"] == ["csp-endpoint"]
    assert policy["report-uri"] == ["/r"]
    assert response.headers["Reporting-Endpoints"] == (
        'csp-endpoint="https://reports.example.com/csp"'
    )


def test_reporting_endpoints_merged_with_the_apps() -> None:
    layer = ContentSecurityPolicy(report_to="/r", report_group="csp")
    https = {"wsgi.url_scheme": "https"}
    own = [("Reporting-Endpoints", 'default="/d"')]
    recorder, _ = run(layer, nonce_app(extra=own), **https)
    assert recorder.header_values("Reporting-Endpoints") == ['default="/d", csp="/r"']
    own = [("Reporting-Endpoints", 'csp="/mine"')]
    recorder, _ = run(layer, nonce_app(extra=own), **https)
    assert recorder.header_values("Reporting-Endpoints") == ['csp="/mine"']


def test_report_path_points_reporting_at_the_receiver() -> None:
    recorder, _ = run(
        ContentSecurityPolicy(report_path=REPORT_PATH), **{"wsgi.url_scheme": "https"}
    )
    policy = directives_of(recorder.header_values("Content-Security-Policy")[0])
    assert policy["report-uri"] == [REPORT_PATH]
    assert policy["report-to"] == ["csp-endpoint"]
    assert recorder.header_values("Reporting-Endpoints") == [f'csp-endpoint="{REPORT_PATH}"']


# -- the application's own policy ---------------------------------------------------


def test_app_policy_kept_by_default() -> None:
    own = [("Content-Security-Policy", "default-src 'self'")]
    recorder, _ = run(ContentSecurityPolicy(report_to="/r"), nonce_app(extra=own))
    assert recorder.header_values("Content-Security-Policy") == ["default-src 'self'"]
    assert recorder.header_values("Reporting-Endpoints") == []
    assert recorder.header_values("Content-Type") == ["text/html; charset=utf-8"]


def test_app_report_only_policy_kept_ours_enforced_still_added() -> None:
    own = [("Content-Security-Policy-Report-Only", "default-src 'self'")]
    layer = ContentSecurityPolicy(report_only_policy={"default-src": ["'none'"]})
    recorder, _ = run(layer, nonce_app(extra=own))
    assert recorder.header_values("Content-Security-Policy-Report-Only") == ["default-src 'self'"]
    assert len(recorder.header_values("Content-Security-Policy")) == 1


def test_override_app_policy_replaces_it() -> None:
    own = [("content-security-policy", "default-src *"), ("X-App", "1")]
    recorder, body = run(ContentSecurityPolicy(override_app_policy=True), nonce_app(extra=own))
    (value,) = recorder.header_values("Content-Security-Policy")
    assert f"'nonce-{body.decode()}'" in value
    assert recorder.header_values("X-App") == ["1"]


# -- configuration errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"policy": None}, "would send nothing", id="nothing"),
        pytest.param(
            {"report_only": True, "report_only_policy": DEFAULT_POLICY},
            "drop report_only_policy",
            id="report-only-twice",
        ),
        pytest.param({"report_path": "csp"}, "starting with '/'", id="relative-report-path"),
        pytest.param({"report_max_bytes": 10}, "at least 1024", id="tiny-cap"),
        pytest.param({"report_uri": "/a b"}, "report_uri", id="space-in-report-uri"),
        pytest.param({"report_to": '/a"b'}, "report_to", id="quote-in-report-to"),
        pytest.param({"report_to": "/r", "report_group": "a b"}, "report_group", id="group"),
        pytest.param(
            {"policy": {**DEFAULT_POLICY, "report-uri": ["/x"]}, "report_uri": "/y"},
            "configure reporting in one place",
            id="report-uri-twice",
        ),
        pytest.param(
            {"policy": {"script-src": ["'self'", "'nonce-abc'"]}},
            "a fixed nonce",
            id="static-nonce",
        ),
        pytest.param(
            {"policy": {"script-src": ["'unsafe-inline'"]}, "nonce_directives": ()},
            "policy: script-src: 'unsafe-inline'",
            id="unsafe-policy",
        ),
        pytest.param(
            {"json_policy": {"script-src": ["*"]}}, "json_policy: script-src: *", id="unsafe-json"
        ),
        pytest.param(
            {"report_only_policy": {"default-src": ["self"]}},
            "report_only_policy: default-src: 'self' must be quoted",
            id="report-only-policy-named",
        ),
        pytest.param({"policy": "default-src 'none'"}, "expected a mapping", id="string-policy"),
        pytest.param({"override_app_policy": "yes"}, "not a boolean", id="boolean"),
        pytest.param({"allow_unsafe": "'unsafe-eval'"}, "must be true or a list", id="allow-str"),
    ],
)
def test_layer_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError) as info:
        ContentSecurityPolicy(**options)
    assert message in str(info.value)
    assert info.value.option in options  # the bare option name, one of those given


def test_unsafe_inline_next_to_the_request_nonce_is_accepted() -> None:
    """Browsers with nonce support ignore it; it only helps CSP1-era browsers."""
    layer = ContentSecurityPolicy(
        policy={"script-src": ["'self'", "'unsafe-inline'"]}, upgrade_insecure_requests=False
    )
    assert layer.policy is not None
    assert layer.policy.render("N") == "script-src 'self' 'unsafe-inline' 'nonce-N'"


def test_layer_allow_unsafe_and_policy_objects() -> None:
    layer = ContentSecurityPolicy(
        policy={"script-src": ["'self'", "'unsafe-eval'"]}, allow_unsafe=["'unsafe-eval'"]
    )
    assert layer.policy is not None
    assert "'unsafe-eval'" in layer.policy.render("N")
    built = Policy({"default-src": ["'self'"]})
    layer = ContentSecurityPolicy(policy=built, upgrade_insecure_requests=False)
    assert layer.policy.render("N") == (  # type: ignore[union-attr]
        "default-src 'self'; script-src 'self' 'nonce-N'; style-src 'self' 'nonce-N'"
    )


def test_describe_is_option_shaped() -> None:
    layer = ContentSecurityPolicy(
        report_path=REPORT_PATH, report_only_policy={"script-src": "'self'", "sandbox": True}
    )
    described = layer.describe()
    # The policies as given: no nonce, no reporting, no upgrade-insecure-requests.
    assert described["policy"] == {name: list(value) for name, value in DEFAULT_POLICY.items()}
    assert described["json_policy"] == {name: list(value) for name, value in JSON_POLICY.items()}
    assert described["report_only_policy"] == {"script-src": ["'self'"], "sandbox": True}
    assert described["report_path"] == REPORT_PATH
    assert described["report_uri"] is None and described["report_to"] is None  # derived
    assert described["override_app_policy"] is False
    assert described["nonce_directives"] == ["script-src", "style-src"]
    json.dumps(described)
    again = ContentSecurityPolicy(**described)
    assert again.describe() == described
    for scheme in ("http", "https"):
        first, _ = run(layer, nonce_app(), **{"wsgi.url_scheme": scheme})
        second, _ = run(again, nonce_app(), **{"wsgi.url_scheme": scheme})
        assert [name for name, _ in first.headers] == [name for name, _ in second.headers]


def test_describe_keeps_an_explicit_upgrade_directive() -> None:
    policy = {"default-src": ["'self'"], "upgrade-insecure-requests": True}
    described = ContentSecurityPolicy(policy=policy).describe()
    assert described["policy"] == {"default-src": ["'self'"], "upgrade-insecure-requests": True}


# -- the report receiver -------------------------------------------------------------

LEVEL2 = {
    "csp-report": {
        "document-uri": "https://example.com/page?token=SECRET#frag",
        "referrer": "",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "default-src 'none'; script-src 'nonce-x'",
        "disposition": "enforce",
        "blocked-uri": "inline",
        "line-number": 12,
        "column-number": 5,
        "source-file": "https://example.com/page?token=SECRET",
        "status-code": 200,
        "script-sample": "alert('" + "x" * 100 + "')",
    }
}
REPORTS_JSON = [
    {
        "type": "csp-violation",
        "age": 10,
        "url": "https://example.com/page",
        "user_agent": "Mozilla/5.0",
        "body": {
            "documentURL": "https://example.com/page",
            "blockedURL": "https://evil.example/" + "a" * 500,
            "effectiveDirective": "img-src",
            "disposition": "report",
            "statusCode": 200,
            "lineNumber": True,  # not a number: dropped
        },
    },
    {"type": "deprecation", "body": {"id": "x"}},
]


def receiver(**options: Any) -> tuple[webtest.TestApp, list[str]]:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    options.setdefault("report_path", REPORT_PATH)
    return webtest.TestApp(ContentSecurityPolicy(app, **options), lint=True), calls


def violations(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.hw_fields for r in caplog.records if getattr(r, "hw_event", "") == "csp_violation"]


def refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.hw_fields for r in caplog.records if getattr(r, "hw_event", "") == "csp_report_refused"
    ]


def test_receiver_csp_report(caplog: pytest.LogCaptureFixture) -> None:
    app, calls = receiver()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        response = app.post(
            REPORT_PATH, json.dumps(LEVEL2), content_type="application/csp-report", status=204
        )
    assert response.body == b""
    assert calls == []  # answered by headerware, the app never saw it
    (fields,) = violations(caplog)
    assert fields["report_format"] == "csp-report"
    assert fields["document_uri"] == "https://example.com/page"  # query and fragment dropped
    assert fields["source_file"] == "https://example.com/page"
    assert fields["blocked_uri"] == "inline"
    assert fields["violated_directive"] == "script-src-elem"
    assert fields["disposition"] == "enforce"
    assert fields["line_number"] == 12 and fields["column_number"] == 5
    assert fields["status_code"] == 200
    assert fields["sample"] == "alert('" + "x" * 33 + "..."
    assert "SECRET" not in caplog.text
    assert "original" not in " ".join(fields)


def test_receiver_reports_json(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = receiver()
    with caplog.at_level(logging.WARNING, logger="headerware"):
        app.post(
            REPORT_PATH,
            json.dumps(REPORTS_JSON),
            content_type="application/reports+json",
            status=204,
        )
    (fields,) = violations(caplog)  # the deprecation report is not ours
    assert fields["report_format"] == "reports+json"
    assert fields["document_uri"] == "https://example.com/page"
    assert fields["violated_directive"] == "img-src"
    assert fields["blocked_uri"] == "https://evil.example/" + "a" * 235 + "..."
    assert fields["disposition"] == "report"
    assert "line_number" not in fields


def test_receiver_level2_violated_directive_fallback(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = receiver()
    body = {"csp-report": {"violated-directive": "style-src 'self'", "document-uri": 3}}
    with caplog.at_level(logging.WARNING, logger="headerware"):
        app.post(REPORT_PATH, json.dumps(body), content_type="application/csp-report", status=204)
    (fields,) = violations(caplog)
    assert fields == {"report_format": "csp-report", "violated_directive": "style-src 'self'"}


def test_receiver_logs_at_most_100_reports_per_body(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = receiver()
    many = [{"type": "csp-violation", "body": {"effectiveDirective": "img-src"}}] * 150
    with caplog.at_level(logging.WARNING, logger="headerware"):
        app.post(REPORT_PATH, json.dumps(many), content_type="application/reports+json", status=204)
    assert len(violations(caplog)) == 100


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        pytest.param(b"{not json", "application/csp-report", 400, "not valid JSON", id="bad-json"),
        pytest.param(b"\xff\xfe\x00", "application/csp-report", 400, "not valid JSON", id="bytes"),
        pytest.param(b"[" * 5000 + b"]" * 5000, "application/csp-report", 400, "", id="deep"),
        pytest.param(b"[1]", "application/csp-report", 400, "expected shape", id="shape-l2"),
        pytest.param(b'{"csp-report": 1}', "application/csp-report", 400, "shape", id="inner"),
        pytest.param(b"{}", "application/reports+json", 400, "expected shape", id="shape-json"),
        pytest.param(b"[1]", "application/reports+json", 400, "shape", id="item"),
        pytest.param(
            b'[{"type": "csp-violation", "body": []}]',
            "application/reports+json",
            400,
            "shape",
            id="body",
        ),
        pytest.param(b"{}", "application/json", 415, "application/csp-report", id="json"),
        pytest.param(b"{}", "text/plain", 415, "application/reports+json", id="text"),
        pytest.param(
            b"x" * (64 * 1024 + 1), "application/csp-report", 413, "at most 65536", id="big"
        ),
    ],
)
def test_receiver_refusals(
    body: bytes, content_type: str, status: int, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, calls = receiver()
    with caplog.at_level(logging.INFO, logger="headerware"):
        response = app.post(REPORT_PATH, body, content_type=content_type, status=status)
    assert reason in response.text
    assert calls == []
    assert violations(caplog) == []
    (refused,) = refusals(caplog)
    assert refused["status"] == status
    # The refusal is still a complete, headed response.
    assert "Content-Security-Policy" in response.headers
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_receiver_refuses_other_methods(method: str, caplog: pytest.LogCaptureFixture) -> None:
    app, calls = receiver()
    with caplog.at_level(logging.INFO, logger="headerware"):
        response = app.request(REPORT_PATH, method=method, status=405)
    assert response.headers["Allow"] == "POST"
    assert calls == []
    assert refusals(caplog)[0]["status"] == 405


def test_receiver_oversize_body_is_not_read() -> None:
    stream = io.BytesIO(b"x" * 100_000)
    layer = ContentSecurityPolicy(nonce_app(), report_path=REPORT_PATH)
    recorder = Recorder()
    environ = make_environ(
        REQUEST_METHOD="POST",
        PATH_INFO=REPORT_PATH,
        CONTENT_TYPE="application/csp-report",
        CONTENT_LENGTH="100000",
        **{"wsgi.input": stream},
    )
    consume(layer(environ, recorder))
    assert recorder.status.startswith("413")
    assert stream.tell() == 0


@pytest.mark.parametrize(
    ("length", "status"),
    [
        pytest.param(None, "411", id="missing"),
        pytest.param("abc", "411", id="garbage"),
        pytest.param("-1", "400", id="negative"),
        pytest.param("50", "400", id="short-body"),
        pytest.param("0", "400", id="empty"),
    ],
)
def test_receiver_content_length(length: str | None, status: str) -> None:
    layer = ContentSecurityPolicy(nonce_app(), report_path=REPORT_PATH)
    extra: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": REPORT_PATH,
        "CONTENT_TYPE": "application/csp-report; charset=utf-8",
        "wsgi.input": io.BytesIO(b"{}"),
    }
    if length is not None:
        extra["CONTENT_LENGTH"] = length
    recorder = Recorder()
    consume(layer(make_environ(**extra), recorder))
    assert recorder.status.startswith(status)


def test_receiver_survives_a_broken_input_stream() -> None:
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise OSError("client went away")

    layer = ContentSecurityPolicy(nonce_app(), report_path=REPORT_PATH)
    recorder = Recorder()
    environ = make_environ(
        REQUEST_METHOD="POST",
        PATH_INFO=REPORT_PATH,
        CONTENT_TYPE="application/csp-report",
        CONTENT_LENGTH="10",
        **{"wsgi.input": Broken()},
    )
    consume(layer(environ, recorder))
    assert recorder.status.startswith("400")


def test_receiver_off_by_default_and_other_paths_reach_the_app() -> None:
    app, calls = receiver(report_path=None)
    app.post(REPORT_PATH, "{}", content_type="application/csp-report", status=200)
    assert calls == [REPORT_PATH]
    app, calls = receiver()
    app.post("/other", "{}", content_type="application/csp-report", status=200)
    assert calls == ["/other"]


# -- inside a stack ---------------------------------------------------------------------


def test_early_answer_from_an_inner_layer_gets_the_policy() -> None:
    class Deny(Layer):
        name = "deny"

        def on_request(self, ctx: Context) -> Response | None:
            return Response.html("403 Forbidden", "no")

    recorder = Recorder()
    stack = Stack([ContentSecurityPolicy(), Deny()], nonce_app())
    environ = make_environ()
    assert consume(stack(environ, recorder)) == b"no"
    assert recorder.status == "403 Forbidden"
    nonce = environ[NONCE_ENVIRON_KEY]
    assert f"'nonce-{nonce}'" in recorder.header_values("Content-Security-Policy")[0]


class TestContentSecurityPolicyContract(LayerContract):
    def make_layer(self) -> Layer:
        return ContentSecurityPolicy(report_path=REPORT_PATH)


class TestContentSecurityPolicyStaticContract(LayerContract):
    def make_layer(self) -> Layer:
        return ContentSecurityPolicy(
            nonce_directives=(), report_only_policy=JSON_POLICY, report_to="/r"
        )


# -- nonce uniqueness ----------------------------------------------------------------


def test_nonces_are_unique_128_bit_values() -> None:
    stack = ContentSecurityPolicy(nonce_app())
    nonces = [consume(stack(make_environ(), Recorder())).decode() for _ in range(300)]
    assert len(set(nonces)) == len(nonces)
    assert all(len(base64.b64decode(nonce, validate=True)) == 16 for nonce in nonces)


def test_threads_never_share_a_nonce() -> None:
    import threading

    stack = ContentSecurityPolicy(nonce_app())
    results: list[list[str]] = [[] for _ in range(4)]

    def draw(out: list[str]) -> None:
        for _ in range(200):
            out.append(consume(stack(make_environ(), Recorder())).decode())

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [nonce for out in results for nonce in out]
    assert len(set(every)) == len(every) == 800


# -- issue 12: the development profile (werkzeug debugger, framework error pages) --------


def failing_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise RuntimeError("boom")


def debugger_client(**options: Any) -> webtest.TestApp:
    from werkzeug.debug import DebuggedApplication

    debugged = DebuggedApplication(failing_app, evalex=False)
    return webtest.TestApp(ContentSecurityPolicy(debugged, **options), lint=True)


def test_development_profile_from_the_documented_toml(caplog: pytest.LogCaptureFixture) -> None:
    import tomllib

    from headerware.config import stack_from_dict

    snippet = '[csp]\nprofile = "development"   # DEVELOPMENT ONLY: blocks nothing\n'
    with caplog.at_level(logging.WARNING, logger="headerware"):
        stack = stack_from_dict(tomllib.loads(snippet), nonce_app())
    (warning,) = [r for r in caplog.records if "profile='development'" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "never use it in production" in warning.msg
    response = webtest.TestApp(stack, lint=True).get("/")
    assert "Content-Security-Policy" not in response.headers  # nothing is enforced
    trial = response.headers["Content-Security-Policy-Report-Only"]
    assert "'nonce-" in trial  # the production policy, reported: the console lists violations
    assert "unsafe" not in trial  # no 'unsafe-inline' anywhere


def test_development_profile_lets_the_werkzeug_debugger_page_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        page = debugger_client(profile="development").get("/", status=500, expect_errors=True)
    assert "<script>" in page.text  # the debugger's inline script (no nonce)
    assert "Content-Security-Policy" not in page.headers
    assert "unsafe" not in page.headers["Content-Security-Policy-Report-Only"]


def test_production_profile_blocks_the_debugger_inline_script(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        page = debugger_client().get("/", status=500, expect_errors=True)
    enforced = directives_of(page.headers["Content-Security-Policy"])
    assert "'unsafe-inline'" not in enforced["script-src"]
    assert "<script>" in page.text  # without the nonce: a browser blocks it


def test_development_profile_describe_pastes_back() -> None:
    described = ContentSecurityPolicy(profile="development").describe()
    assert described["profile"] == "development" and described["report_only"] is True
    again = ContentSecurityPolicy(**described)
    assert again.describe() == described
    assert ContentSecurityPolicy().describe()["profile"] == "production"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        pytest.param({"profile": "dev"}, "'dev' is not one of", id="issue12-profile-typo"),
        pytest.param(
            {"profile": "development", "report_only_policy": {"default-src": ["'self'"]}},
            "already sends `policy` as the report-only header",
            id="issue12-profile-with-report-only-policy",
        ),
    ],
)
def test_development_profile_refusals(options: dict[str, Any], match: str) -> None:
    with pytest.raises(OptionError, match=match) as raised:
        ContentSecurityPolicy(**options)
    assert raised.value.option == "profile"


def test_production_profile_logs_no_development_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="headerware"):
        ContentSecurityPolicy()
    assert "development" not in caplog.text
