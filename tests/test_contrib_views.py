"""headerware.contrib.views: the policy decorators and their before-view checks.

The framework tests (tests/test_contrib_flask.py, tests/test_contrib_django.py)
run them through real apps; these check the shared part with a bare WSGI app.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest

from headerware import CORS, Caching, ContentSecurityPolicy, Stack
from headerware.contrib.views import (
    before_view,
    cache_policy_view,
    cors_allow_view,
    csp_amend_view,
    csrf_exempt,
)
from headerware.layers.caching import POLICY_KEY
from headerware.view import csp_amendments

StartResponse = Callable[..., Any]


def test_stacked_decorators_add_up_and_the_outer_cache_policy_wins() -> None:
    @cache_policy_view("no-cache")
    @cors_allow_view("https://b.example")
    @csp_amend_view("img-src", "https://img.example")
    @cache_policy_view("private")
    @cors_allow_view("https://a.example", expose_headers=["X-Total"])
    @csp_amend_view("script-src", "https://cdn.example", "https://cdn.example")
    def view() -> None:
        """A view."""

    environ: dict[str, Any] = {}
    assert before_view(environ, view) is None
    assert csp_amendments(environ) == (
        ("script-src", ("https://cdn.example",)),
        ("img-src", ("https://img.example",)),
    )
    assert environ[POLICY_KEY] == "no-cache"
    grant = environ["headerware.cors.allow"]
    assert grant.origins == {"https://a.example", "https://b.example"}
    assert grant.expose_headers == ("X-Total",)


def test_decorators_return_the_view_and_survive_functools_wraps() -> None:
    def view() -> str:
        return "ok"

    marked = csrf_exempt(csp_amend_view("script-src", "https://cdn.example")(view))
    assert marked is view

    @functools.wraps(view)
    def wrapper() -> str:
        return view()

    environ: dict[str, Any] = {}
    before_view(environ, wrapper)
    assert csp_amendments(environ) == (("script-src", ("https://cdn.example",)),)


def test_no_view_and_an_unmarked_view_record_nothing() -> None:
    environ: dict[str, Any] = {}
    assert before_view(environ, None) is None
    assert before_view(environ, lambda: None) is None
    assert before_view(environ, object()) is None
    assert environ == {}


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(lambda: csp_amend_view("script-src", "'unsafe-eval'"), "refused", id="csp"),
        pytest.param(lambda: csp_amend_view("script-src"), "at least one", id="csp-empty"),
        pytest.param(lambda: csp_amend_view("script-src", "a b"), "' '", id="csp-space"),
        pytest.param(lambda: cors_allow_view("ftp:/x"), "serialized origin", id="cors-origin"),
        pytest.param(
            lambda: cors_allow_view(expose_headers=["bad name"]), "header name", id="cors-header"
        ),
        pytest.param(lambda: cors_allow_view(expose_headers="X-A"), "not a string", id="cors-str"),
        pytest.param(lambda: cache_policy_view("a\nb"), "control character", id="cache"),
    ],
)
def test_bad_arguments_raise_before_a_view_is_decorated(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_a_bare_wsgi_app_dispatching_through_before_view() -> None:
    @csp_amend_view("connect-src", "wss://live.example")
    @cors_allow_view("https://partner.example")
    @cache_policy_view("no-cache")
    def live(environ: dict[str, Any]) -> bytes:
        return b"<p>live</p>"

    def other(environ: dict[str, Any]) -> bytes:
        return b"<p>other</p>"

    routes = {"/live": live, "/other": other}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        view = routes[environ["PATH_INFO"]]
        before_view(environ, view)
        body = view(environ)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    layers = [
        ContentSecurityPolicy(),
        CORS(allow_origins=["https://app.example"]),
        Caching(rules={"/*": "no-store"}),
    ]
    client = webtest.TestApp(validator(Stack(layers, validator(app))), lint=True)
    origin = {"Origin": "https://partner.example"}
    amended, plain = client.get("/live", headers=origin), client.get("/other", headers=origin)
    assert "wss://live.example" in amended.headers["Content-Security-Policy"]
    assert "wss://live.example" not in plain.headers["Content-Security-Policy"]
    assert amended.headers["Access-Control-Allow-Origin"] == "https://partner.example"
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert "no-cache" in amended.headers["Cache-Control"]
    assert plain.headers["Cache-Control"] == "no-store"
