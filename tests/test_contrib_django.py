"""headerware.contrib.django: context processor, template tags, CSPNonceMiddleware.

Runs on Django 5.2 (no CSP in core: the middleware only sets ``request.csp_nonce``)
and Django >= 6.0 (Django's own nonce, read by its ``csp`` context processor and
``{% csp_nonce_attr %}``, must be headerware's). The example project's settings
are used, with this module as the URLconf. Every test taking ``interface`` runs on
Django's WSGI handler in a ``Stack`` and on its ASGI handler in an ``ASGIStack``
(headerware's keys then live in ``request.scope``, not in ``request.META``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from io import BytesIO
from typing import Any
from wsgiref.validate import validator

import django
import pytest
import webtest
from asgiref.sync import iscoroutinefunction
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template import engines
from django.test import override_settings
from django.urls import path
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt as django_csrf_exempt

from examples.django_app import wsgi
from headerware import (
    CORS,
    Caching,
    ContentSecurityPolicy,
    CSRFProtect,
    Sessions,
    Stack,
    csp_amend,
    get_session,
)
from headerware.asgi import ASGIStack
from headerware.contrib.django import published
from headerware.contrib.django.context_processors import headerware as processor
from headerware.contrib.django.decorators import (
    cache_policy_view,
    cors_allow_view,
    csp_amend_view,
    csrf_exempt,
)
from headerware.contrib.django.middleware import CSPNonceMiddleware, CSRFMiddleware, adopt_nonce
from tests.asgi_contract import make_scope
from tests.django_asgi import asgi_as_wsgi

KEY = "k" * 32
DJANGO_6 = django.VERSION >= (6, 0)


def _render(request: HttpRequest, source: str) -> HttpResponse:
    return HttpResponse(engines["django"].from_string(source).render(request=request))


def tags(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse("posted")
    return _render(
        request, '{% load headerware %}<script nonce="{% csp_nonce %}"></script>{% csrf_input %}'
    )


def context(request: HttpRequest) -> HttpResponse:
    return _render(request, "{{ csp_nonce }}|{{ csrf_token }}")


def django_token(request: HttpRequest) -> HttpResponse:
    return _render(request, "{% csrf_token %}")


def nonces(request: HttpRequest) -> HttpResponse:
    seen: dict[str, Any] = {"attribute": getattr(request, "csp_nonce", None)}
    if DJANGO_6:
        from django.middleware.csp import get_nonce
        from django.template.context_processors import csp

        seen["get_nonce"] = str(get_nonce(request))
        seen["processor"] = str(csp(request)["csp_nonce"])
        seen["attr_tag"] = (
            engines["django"]
            .from_string("{% csp_nonce_attr %}")
            .render({"csp_nonce": csp(request)["csp_nonce"]})
        )
    # HTML: the CSP layer sends the nonce on pages, not on JSON.
    return HttpResponse(json.dumps(seen), content_type="text/html")


urlpatterns = [
    path("tags", tags),
    path("context", context),
    path("django-token", django_token),
    path("nonces", nonces),
]


@pytest.fixture(autouse=True)
def _urls() -> Any:
    assert wsgi.bare_app  # Django is set up with the example's settings
    with override_settings(ROOT_URLCONF=__name__):
        yield


@pytest.fixture(params=["wsgi", "asgi"])
def interface(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def wrapped(interface: str, layers: list[Any], middleware: list[str] | None = None) -> Any:
    """``layers`` around a fresh Django handler (``MIDDLEWARE`` loaded now), under
    webtest: WSGIHandler in a Stack, or ASGIHandler in an ASGIStack."""
    with override_settings(**({} if middleware is None else {"MIDDLEWARE": middleware})):
        if interface == "wsgi":
            return webtest.TestApp(validator(Stack(layers, validator(WSGIHandler()))), lint=True)
        return webtest.TestApp(asgi_as_wsgi(ASGIStack(layers, ASGIHandler())), lint=True)


def client(interface: str, *, token_mode: bool = True, csp: bool = True) -> webtest.TestApp:
    layers: list[Any] = [ContentSecurityPolicy()] if csp else []
    layers.append(Sessions(secret_keys=[KEY]))
    if token_mode:
        layers.append(CSRFProtect(mode="token", secret_keys=[KEY]))
    return wrapped(interface, layers)


def nonce_of(response: Any) -> str:
    match = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert match is not None
    return match.group(1)


def test_template_tags_render_the_nonce_and_a_working_token(interface: str) -> None:
    app = client(interface)
    response = app.get("/tags")
    assert f'<script nonce="{nonce_of(response)}">' in response.text
    token = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', response.text)
    assert token is not None
    assert app.post("/tags", {"csrf_token": token.group(1)}).text == "posted"
    app.post("/tags", {"csrf_token": "forged"}, status=403)


def test_context_processor_gives_nonce_and_token(interface: str) -> None:
    response = client(interface).get("/context")
    nonce, token = response.text.split("|")
    assert nonce == nonce_of(response)
    assert len(token) > 20


def test_context_processor_leaves_django_csrf_alone_without_token_mode(interface: str) -> None:
    response = client(interface, token_mode=False).get("/django-token")
    assert 'name="csrfmiddlewaretoken"' in response.text


def test_csrf_input_without_token_mode_names_the_fix() -> None:
    template = engines["django"].from_string("{% load headerware %}{% csrf_input %}")
    request = HttpRequest()
    request.META["headerware.csp.nonce"] = "n"
    with pytest.raises(LookupError, match="mode='token'"):
        template.render(request=request)


def test_csrf_input_field_name_and_escaping() -> None:
    template = engines["django"].from_string('{% load headerware %}{% csrf_input "f" %}')
    request = HttpRequest()
    request.META["headerware.csrf.token"] = lambda: '"<t>'
    assert template.render(request=request) == (
        '<input type="hidden" name="f" value="&quot;&lt;t&gt;">'
    )


def test_context_processor_without_headerware_is_empty() -> None:
    request = HttpRequest()
    assert processor(request) == {}


def test_middleware_makes_django_nonce_headerware_nonce(interface: str) -> None:
    response = client(interface).get("/nonces")
    nonce = nonce_of(response)
    seen = json.loads(response.text)
    assert seen["attribute"] == nonce
    if DJANGO_6:
        assert seen["get_nonce"] == nonce
        assert seen["processor"] == nonce
        assert seen["attr_tag"] == f'nonce="{nonce}"'


def test_middleware_without_headerware_nonce_changes_nothing(interface: str) -> None:
    response = client(interface, csp=False).get("/nonces")
    assert json.loads(response.text)["attribute"] is None


def test_middleware_readopts_after_a_later_middleware_replaced_it() -> None:
    request = HttpRequest()
    request.META["headerware.csp.nonce"] = "hw-nonce"
    middleware = CSPNonceMiddleware(lambda r: HttpResponse(r.csp_nonce))
    assert middleware(request).content == b"hw-nonce"
    request._csp_nonce = "django-own"  # as Django's ContentSecurityPolicyMiddleware would
    middleware.process_view(request, tags, (), {})
    assert request._csp_nonce == "hw-nonce"
    assert adopt_nonce(HttpRequest()) is None


@pytest.mark.skipif(DJANGO_6, reason="Django 5.2 only: there is no CSP in core")
def test_django_5_has_no_core_nonce_to_replace() -> None:
    with pytest.raises(ImportError):
        import django.middleware.csp  # noqa: F401


# -- issue 12: per-view CSRF exemption (CSRFProtect(defer_to_framework=True)) ------

ran_views: list[str] = []
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
CSRF_MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "headerware.contrib.django.middleware.CSPNonceMiddleware",
    "headerware.contrib.django.middleware.CSRFMiddleware",
]


def preferences(request: HttpRequest) -> HttpResponse:
    ran_views.append("preferences")
    return HttpResponse("Preferences updated!")


@csrf_exempt
def payment_hook(request: HttpRequest) -> HttpResponse:
    ran_views.append("payment_hook")
    return HttpResponse("paid")


@django_csrf_exempt
def django_exempt(request: HttpRequest) -> HttpResponse:
    ran_views.append("django_exempt")
    return HttpResponse("django-exempt")


@method_decorator(csrf_exempt, name="dispatch")
class ExemptView(View):
    def post(self, request: HttpRequest) -> HttpResponse:
        ran_views.append("class_view")
        return HttpResponse("class-view")


urlpatterns += [
    path("preferences", preferences),
    path("hooks/pay", payment_hook),
    path("hooks/django", django_exempt),
    path("hooks/class", ExemptView.as_view()),
]


def deferring_client(interface: str, **options: Any) -> webtest.TestApp:
    ran_views.clear()
    layers = [CSRFProtect(defer_to_framework=True, **options)]
    return wrapped(interface, layers, CSRF_MIDDLEWARE)


def events(caplog: Any, name: str) -> list[dict[str, Any]]:
    return [
        record.hw_fields for record in caplog.records if getattr(record, "hw_event", "") == name
    ]


def test_cross_site_post_to_a_normal_view_is_refused_before_it_runs(
    interface: str, caplog: Any
) -> None:
    app = deferring_client(interface)
    with caplog.at_level(logging.INFO, logger="headerware"):
        response = app.post("/preferences", {"theme": "dark"}, headers=CROSS_SITE, status=403)
    assert response.json == {"error": "Forbidden: cross-site request refused"}
    assert response.headers["Cache-Control"] == "no-store"
    assert ran_views == [], "the view must not run"
    assert events(caplog, "csrf_verdict_unchecked") == []
    html = app.post("/preferences", headers={**CROSS_SITE, "Accept": "text/html"}, status=403)
    assert html.content_type == "text/html" and ran_views == []


@pytest.mark.parametrize(
    ("url", "body", "view"),
    [
        pytest.param("/hooks/pay", "paid", "payment_hook", id="headerware-decorator"),
        pytest.param("/hooks/django", "django-exempt", "django_exempt", id="django-decorator"),
        pytest.param("/hooks/class", "class-view", "class_view", id="class-based-view"),
    ],
)
def test_exempt_views_run(url: str, body: str, view: str, interface: str, caplog: Any) -> None:
    app = deferring_client(interface)
    with caplog.at_level(logging.INFO, logger="headerware"):
        assert app.post(url, {"a": "1"}, headers=CROSS_SITE).text == body
    assert ran_views == [view]
    (exempted,) = events(caplog, "csrf_view_exempt")
    assert exempted["reason"] == "cross_site"
    assert events(caplog, "csrf_verdict_unchecked") == []


def test_same_origin_passes_and_an_unknown_url_stays_a_404(interface: str, caplog: Any) -> None:
    app = deferring_client(interface)
    same = app.post("/preferences", headers={"Sec-Fetch-Site": "same-origin"})
    assert same.text == "Preferences updated!"
    with caplog.at_level(logging.INFO, logger="headerware"):
        app.post("/nowhere", headers=CROSS_SITE, status=404)
    assert events(caplog, "csrf_verdict_unchecked") == []


def test_without_the_middleware_the_layer_refuses_after_the_fact(
    interface: str, caplog: Any
) -> None:
    """defer_to_framework without the adapter is never silent: logged, and refused."""
    ran_views.clear()
    app = wrapped(interface, [CSRFProtect(defer_to_framework=True)])
    with caplog.at_level(logging.INFO, logger="headerware"):
        app.post("/preferences", headers=CROSS_SITE, status=403)
    assert ran_views == ["preferences"]
    (unchecked,) = events(caplog, "csrf_verdict_unchecked")
    assert unchecked["reason"] == "cross_site"


# -- issue 12: this view's CSP, CORS and Cache-Control, decided before the view --------

PARTNER = "https://partner.example"


def plain_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<p>plain</p>")


@csp_amend_view("script-src", "https://maps.example")
@csp_amend_view("img-src", "https://tiles.example")
def map_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<p>map</p>")


@cors_allow_view(PARTNER, expose_headers=["X-Total"])
def stock(request: HttpRequest) -> HttpResponse:
    return HttpResponse("[]", content_type="application/json")


@cache_policy_view("no-cache")
def news(request: HttpRequest) -> HttpResponse:
    return HttpResponse("{}", content_type="application/json")


@method_decorator(csp_amend_view("script-src", "https://maps.example"), name="dispatch")
@method_decorator(csp_amend_view("img-src", "https://tiles.example"), name="dispatch")
@method_decorator(cors_allow_view(PARTNER), name="dispatch")
@method_decorator(cache_policy_view("private, max-age=60"), name="dispatch")
class StreamedExport(View):
    def get(self, request: HttpRequest) -> StreamingHttpResponse:
        chunks = [b"<p>", b"streamed</p>"]
        if not isinstance(request, ASGIRequest):
            return StreamingHttpResponse(iter(chunks), content_type="text/html")

        async def stream() -> Any:  # Django streams an async iterator under ASGI
            for chunk in chunks:
                yield chunk

        return StreamingHttpResponse(stream(), content_type="text/html")


urlpatterns += [
    path("plain", plain_page),
    path("map", map_page),
    path("api/stock", stock),
    path("news", news),
    path("export", StreamedExport.as_view()),
]


def policy_client(interface: str) -> webtest.TestApp:
    layers = [
        ContentSecurityPolicy(),
        CORS(allow_origins=["https://app.example"]),
        Caching(rules={"/*": "no-store"}),
    ]
    return wrapped(interface, layers, CSRF_MIDDLEWARE)


def _directive(policy: str, name: str) -> str:
    return next(d.strip() for d in policy.split(";") if d.strip().startswith(name + " "))


def test_csp_amend_view_adds_sources_to_this_response_only(interface: str) -> None:
    app = policy_client(interface)
    plain = app.get("/plain").headers["Content-Security-Policy"]
    amended = app.get("/map").headers["Content-Security-Policy"]
    assert "maps.example" not in plain and "tiles.example" not in plain
    script = _directive(amended, "script-src")
    assert "https://maps.example" in script and "'nonce-" in script  # the nonce stays
    assert "https://tiles.example" in amended


def test_cors_allow_view_grants_one_extra_origin(interface: str) -> None:
    app = policy_client(interface)
    granted = app.get("/api/stock", headers={"Origin": PARTNER})
    assert granted.headers["Access-Control-Allow-Origin"] == PARTNER
    assert "X-Total" in granted.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in app.get("/news", headers={"Origin": PARTNER})
    configured = app.get("/api/stock", headers={"Origin": "https://app.example"})
    assert configured.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_cache_policy_view_chooses_cache_control(interface: str) -> None:
    app = policy_client(interface)
    assert app.get("/news").headers["Cache-Control"] == "no-cache"
    assert app.get("/api/stock").headers["Cache-Control"] == "no-store"


def test_class_based_view_stacked_decorators_reach_a_streamed_response(interface: str) -> None:
    response = policy_client(interface).get("/export", headers={"Origin": PARTNER})
    assert response.text == "<p>streamed</p>"
    policy = response.headers["Content-Security-Policy"]
    assert "https://maps.example" in _directive(policy, "script-src")
    assert "https://tiles.example" in policy  # stacking survives method_decorator
    assert response.headers["Access-Control-Allow-Origin"] == PARTNER
    assert response.headers["Cache-Control"] == "private, max-age=60"


@pytest.mark.parametrize(
    "decorator",
    [
        pytest.param(lambda: csp_amend_view("script-src", "data:"), id="csp-data"),
        pytest.param(lambda: cors_allow_view("null"), id="cors-null"),
        pytest.param(lambda: cache_policy_view(""), id="cache-empty"),
    ],
)
def test_a_bad_argument_fails_at_decoration_time(decorator: Any) -> None:
    with pytest.raises(ValueError):
        method_decorator(decorator(), name="dispatch")


# -- issue 13: the same adapter under Django's ASGI handler ---------------------------


def asgi_request(**published_keys: Any) -> ASGIRequest:
    """Django's ASGIRequest for a scope carrying ``published_keys`` (as headerware's
    ASGI adapter leaves them: in the scope, not in the headers META is built from)."""
    scope = make_scope(path="/tags")
    scope.update({key.replace("_", "."): value for key, value in published_keys.items()})
    return ASGIRequest(scope, BytesIO())


def test_published_is_the_scope_under_asgi_and_meta_under_wsgi() -> None:
    request = asgi_request(headerware_csp_nonce="from-scope")
    assert published(request) is request.scope
    wsgi_request = HttpRequest()
    assert published(wsgi_request) is wsgi_request.META
    assert published(object()) == {}


def test_under_asgi_the_tags_and_processor_read_the_scope_only() -> None:
    request = asgi_request(headerware_csp_nonce="from-scope")
    template = engines["django"].from_string("{% load headerware %}{% csp_nonce %}|{{ csp_nonce }}")
    assert template.render(request=request) == "from-scope|from-scope"
    # A key in META is not headerware's under ASGI (META is built from the headers).
    forged = asgi_request()
    forged.META["headerware.csp.nonce"] = "forged"
    assert processor(forged) == {}
    with pytest.raises(LookupError, match="no CSP nonce"):
        engines["django"].from_string("{% load headerware %}{% csp_nonce %}").render(request=forged)


def test_under_asgi_csrf_input_uses_the_scope_token_factory() -> None:
    request = asgi_request(headerware_csrf_token=lambda: "scope-token")
    template = engines["django"].from_string("{% load headerware %}{% csrf_input %}")
    assert template.render(request=request) == (
        '<input type="hidden" name="csrf_token" value="scope-token">'
    )


@pytest.mark.parametrize("middleware_class", [CSPNonceMiddleware, CSRFMiddleware])
def test_middlewares_are_async_under_an_async_handler(middleware_class: Any) -> None:
    """Under ASGI Django hands them a coroutine: they stay coroutines (no thread hop).

    ``asgiref.sync.iscoroutinefunction`` is the test Django itself applies."""

    async def get_response(request: Any) -> HttpResponse:
        return HttpResponse(getattr(request, "csp_nonce", "none"))

    middleware = middleware_class(get_response)
    assert iscoroutinefunction(middleware)
    assert iscoroutinefunction(middleware.process_view)
    request = asgi_request(headerware_csp_nonce="n1")
    response = asyncio.run(middleware(request))
    expected = b"n1" if middleware_class is CSPNonceMiddleware else b"none"
    assert response.content == expected
    assert asyncio.run(middleware.process_view(request, tags, (), {})) is None
    sync = middleware_class(lambda r: HttpResponse("sync"))
    assert not iscoroutinefunction(sync)
    assert not iscoroutinefunction(sync.process_view)
    assert sync(HttpRequest()).content == b"sync"


def test_async_process_view_answers_a_deferred_refusal_under_asgi() -> None:
    async def get_response(request: Any) -> HttpResponse:
        return HttpResponse("view")

    middleware = CSRFMiddleware(get_response)
    request = asgi_request(headerware_csrf_verdict="cross_site")
    refusal = asyncio.run(middleware.process_view(request, preferences, (), {}))
    assert refusal is not None and refusal.status_code == 403
    assert asyncio.run(middleware.process_view(request, payment_hook, (), {})) is None


def sometimes_amended(request: HttpRequest) -> HttpResponse:
    """A view that amends its policy and writes the session itself, through published()."""
    if request.GET.get("maps"):
        csp_amend(published(request), "script-src", "https://maps.example")
    session = get_session(published(request))
    session["visits"] = int(session.get("visits", 0)) + 1
    return HttpResponse(f"<p>visit {session['visits']}</p>")


urlpatterns += [path("sometimes", sometimes_amended)]


def test_a_view_calling_the_helpers_with_published_works_on_both(interface: str) -> None:
    app = wrapped(interface, [ContentSecurityPolicy(), Sessions(secret_keys=[KEY])])
    plain = app.get("/sometimes")
    assert plain.text == "<p>visit 1</p>"
    assert "maps.example" not in plain.headers["Content-Security-Policy"]
    amended = app.get("/sometimes?maps=1")
    assert amended.text == "<p>visit 2</p>"  # the session came back from the cookie
    policy = amended.headers["Content-Security-Policy"]
    assert "https://maps.example" in _directive(policy, "script-src")
