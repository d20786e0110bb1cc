"""Issue 12: a view amends this response's CSP (headerware.view.csp_amend).

Through WebTest and ``wsgiref.validate`` with a bare WSGI app, a Flask app and a
Django view: the same helper, the same environ key, decided before
``start_response`` (streamed responses too).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.validate import validator

import flask
import pytest
import webtest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path

from examples.django_app import wsgi as django_wsgi
from headerware import Stack
from headerware.csp_policy import csp_hash
from headerware.layers.csp import ContentSecurityPolicy
from headerware.view import CSP_AMEND_ENVIRON_KEY, csp_amend, csp_amendments, csp_nonce

CDN = "https://cdn.example"
INLINE = "console.log('hi')"

Amend = list[tuple[str, tuple[str, ...]]]


def directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


def bare_app(amend: Amend, *, stream: bool = False, ctype: str = "text/html") -> Any:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        for directive, sources in amend:
            csp_amend(environ, directive, *sources)
        nonce = csp_nonce(environ, default="")
        start_response("200 OK", [("Content-Type", ctype)])
        body = f'<script nonce="{nonce}">{INLINE}</script>'.encode()
        if stream:
            return iter([body[:10], body[10:]])
        return [body]

    return app


def client(app: Any, **options: Any) -> webtest.TestApp:
    return webtest.TestApp(validator(ContentSecurityPolicy(validator(app), **options)), lint=True)


# -- bare WSGI --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["list", "streamed"])
def test_bare_app_adds_a_host_and_keeps_the_nonce(stream: bool) -> None:
    response = client(bare_app([("script-src", (CDN,))], stream=stream)).get("/")
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"][:2] == ["'self'", CDN]
    assert policy["script-src"][2].startswith("'nonce-")
    assert policy["style-src"][0] == "'self'" and policy["style-src"][1].startswith("'nonce-")
    assert policy["default-src"] == ["'none'"]  # nothing else changed
    assert policy["object-src"] == ["'none'"]


def test_hash_is_added() -> None:
    digest = csp_hash(INLINE)
    response = client(bare_app([("script-src", (digest,))])).get("/")
    assert digest in directives(response.headers["Content-Security-Policy"])["script-src"]


def test_without_amendment_the_precomputed_policy_is_sent() -> None:
    plain = client(bare_app([])).get("/").headers["Content-Security-Policy"]
    assert CDN not in plain
    amended = client(bare_app([("img-src", (CDN,))])).get("/")
    assert re.sub(r"'nonce-[^']+'", "N", amended.headers["Content-Security-Policy"]).replace(
        f" {CDN}", ""
    ) == re.sub(r"'nonce-[^']+'", "N", plain)


def test_amendments_add_up_and_a_missing_directive_inherits_default_src() -> None:
    app = bare_app([("connect-src", ("wss://live.example",)), ("frame-src", (CDN,))])
    policy = directives(client(app).get("/").headers["Content-Security-Policy"])
    assert policy["connect-src"] == ["'self'", "wss://live.example"]
    assert policy["frame-src"] == [CDN]  # from default-src 'none': the 'none' is replaced


def test_amendment_reaches_report_only_and_other_types() -> None:
    app = bare_app([("img-src", (CDN,))], ctype="text/css")
    response = client(app, report_only_policy={"default-src": ["'self'"]}).get("/")
    assert CDN in directives(response.headers["Content-Security-Policy"])["img-src"]
    assert "'nonce-" not in response.headers["Content-Security-Policy"]  # not a document
    trial = directives(response.headers["Content-Security-Policy-Report-Only"])
    assert trial["img-src"] == ["'self'", CDN]


def test_form_action_unset_is_left_alone() -> None:
    app = bare_app([("form-action", (CDN,))])
    response = client(app, policy={"default-src": ["'self'"]}).get("/")
    assert "form-action" not in response.headers["Content-Security-Policy"]  # not narrowed


def test_app_own_policy_is_not_amended() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        csp_amend(environ, "img-src", CDN)
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Security-Policy", "x")])
        return [b"ok"]

    response = client(app).get("/")
    assert response.headers.getall("Content-Security-Policy") == ["x"]


@pytest.mark.parametrize(
    ("directive", "source"),
    [
        pytest.param("script-src", "'unsafe-inline'", id="issue12-amend-unsafe-inline"),
        pytest.param("script-src", "'unsafe-eval'", id="issue12-amend-unsafe-eval"),
        pytest.param("img-src", "*", id="issue12-amend-bare-star"),
        pytest.param("script-src", "https://*", id="issue12-amend-wildcard-host"),
        pytest.param("script-src", "HTTPS://*:443/js/", id="issue12-amend-wildcard-spelling"),
        pytest.param("script-src", "data:", id="issue12-amend-data"),
        pytest.param("script-src", "https:", id="issue12-amend-scheme"),
        pytest.param("script-src", "'strict-dynamic'", id="issue12-amend-strict-dynamic"),
        pytest.param("script-src", "'nonce-abc'", id="issue12-amend-fixed-nonce"),
        pytest.param("img-src", "'none'", id="issue12-amend-none"),
        pytest.param("script-src", "https://a.example\r\nX: 1", id="issue12-amend-crlf"),
        pytest.param("script-src", "https://a.example; script-src *", id="issue12-amend-split"),
        pytest.param("script-src", "self", id="issue12-amend-unquoted-keyword"),
        pytest.param("scirpt-src", CDN, id="issue12-amend-unknown-directive"),
        pytest.param("sandbox", "allow-scripts", id="issue12-amend-not-a-source-list"),
    ],
)
def test_refused_amendment_raises_in_the_view(directive: str, source: str) -> None:
    environ: dict[str, Any] = {}
    with pytest.raises(ValueError, match=r"csp_amend|script-src|refused|quoted"):
        csp_amend(environ, directive, source)
    assert CSP_AMEND_ENVIRON_KEY not in environ  # nothing recorded


def test_unknown_directive_has_a_did_you_mean() -> None:
    with pytest.raises(ValueError, match="did you mean 'script-src'"):
        csp_amend({}, "scirpt-src", CDN)


def test_no_source_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one source"):
        csp_amend({}, "img-src")


def test_the_record_is_documented_and_normalised() -> None:
    environ: dict[str, Any] = {}
    csp_amend(environ, "Script-Src", CDN, "'SELF'")
    csp_amend(environ, "img-src", "blob:")
    assert environ[CSP_AMEND_ENVIRON_KEY] == [
        ("script-src", (CDN, "'self'")),
        ("img-src", ("blob:",)),
    ]
    assert csp_amendments(environ) == tuple(environ[CSP_AMEND_ENVIRON_KEY])


def test_an_unsafe_value_written_directly_is_ignored_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ[CSP_AMEND_ENVIRON_KEY] = [("script-src", ("'unsafe-inline'",))]
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"ok"]

    with caplog.at_level(logging.WARNING, logger="headerware"):
        response = client(app).get("/")
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "'nonce-" in response.headers["Content-Security-Policy"]  # the configured one
    assert "csp_amend_refused" in caplog.text


def test_garbage_shape_is_ignored() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ[CSP_AMEND_ENVIRON_KEY] = [42]
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"ok"]

    assert "'nonce-" in client(app).get("/").headers["Content-Security-Policy"]


def test_allow_unsafe_policy_still_amends() -> None:
    app = bare_app([("script-src", (CDN,))])
    response = client(
        app, policy={"script-src": ["'unsafe-eval'"]}, allow_unsafe=["'unsafe-eval'"]
    ).get("/")
    assert directives(response.headers["Content-Security-Policy"])["script-src"][:2] == [
        "'unsafe-eval'",
        CDN,
    ]


# -- Flask ------------------------------------------------------------------------------


def flask_app() -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/map")
    def map_page() -> str:
        csp_amend(flask.request.environ, "script-src", CDN)
        csp_amend(flask.request.environ, "img-src", "https://tiles.example")
        return f'<script nonce="{csp_nonce(flask.request.environ)}"></script>'

    @app.get("/stream")
    def stream() -> flask.Response:
        csp_amend(flask.request.environ, "connect-src", "wss://live.example")

        def chunks() -> Iterator[str]:
            yield "<p>"
            yield "live</p>"

        return flask.Response(chunks(), mimetype="text/html")

    @app.get("/plain")
    def plain() -> str:
        return "<p>plain</p>"

    return app


def test_flask_view_amends_its_response_only() -> None:
    app = client(flask_app())
    amended = directives(app.get("/map").headers["Content-Security-Policy"])
    assert CDN in amended["script-src"] and "https://tiles.example" in amended["img-src"]
    plain = app.get("/plain").headers["Content-Security-Policy"]
    assert CDN not in plain and "tiles" not in plain


def test_flask_streamed_response_is_amended() -> None:
    response = client(flask_app()).get("/stream")
    assert response.text == "<p>live</p>"
    assert (
        "wss://live.example"
        in directives(response.headers["Content-Security-Policy"])["connect-src"]
    )


# -- Django -----------------------------------------------------------------------------


def django_page(request: HttpRequest) -> HttpResponse:
    csp_amend(request.META, "script-src", CDN)
    return HttpResponse(f'<script nonce="{csp_nonce(request.META)}"></script>')


def django_stream(request: HttpRequest) -> StreamingHttpResponse:
    csp_amend(request.META, "img-src", "https://tiles.example")
    return StreamingHttpResponse(iter(["<p>", "live</p>"]), content_type="text/html")


def django_plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<p>plain</p>")


urlpatterns = [
    path("page", django_page),
    path("stream", django_stream),
    path("plain", django_plain),
]


@pytest.fixture()
def django_client() -> Iterator[webtest.TestApp]:
    assert django_wsgi.bare_app  # Django is set up with the example's settings
    with override_settings(ROOT_URLCONF=__name__):
        app = Stack([ContentSecurityPolicy()], validator(django_wsgi.bare_app))
        yield webtest.TestApp(validator(app), lint=True)


def test_django_view_amends_through_request_meta(django_client: webtest.TestApp) -> None:
    response = django_client.get("/page")
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"][:2] == ["'self'", CDN]
    nonce = policy["script-src"][2][len("'nonce-") : -1]
    assert f'nonce="{nonce}"' in response.text
    assert CDN not in django_client.get("/plain").headers["Content-Security-Policy"]


def test_django_streamed_response_is_amended(django_client: webtest.TestApp) -> None:
    response = django_client.get("/stream")
    assert response.text == "<p>live</p>"
    img = directives(response.headers["Content-Security-Policy"])["img-src"]
    assert img == ["'self'", "https://tiles.example"]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param([("script-src", "https://h")], id="sources-a-string"),
        pytest.param([("script-src",)], id="no-sources"),
        pytest.param("script-src https://h", id="not-a-list"),
        pytest.param([("script-src", (1,))], id="not-strings"),
    ],
)
def test_a_record_of_another_shape_is_ignored_and_logged(
    record: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ[CSP_AMEND_ENVIRON_KEY] = record
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"ok"]

    with caplog.at_level(logging.WARNING, logger="headerware"):
        policy = client(app).get("/").headers["Content-Security-Policy"]
    assert directives(policy)["script-src"][0] == "'self'" and "https://h" not in policy
    assert " h " not in policy and "csp_amend_refused" in caplog.text
