"""The example views: same bodies, statuses and cookies as examples/flask_app.py.

Views only do application work. They set plain cookies (headerware signs
``username`` and adds HttpOnly, SameSite, Path and Secure), read the session and
negotiation results through headerware's helpers, from ``published(request)``
(``request.META`` under WSGI, ``request.scope`` under ASGI: the same views serve
``wsgi.py`` and ``asgi.py``), render the nonce with headerware's template tag
(``templates/page.html``), and never set security headers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.utils.html import escape
from django.views.decorators.http import require_http_methods

from examples.common import (
    COOKIE_DELETED,
    COOKIE_SET,
    LOGGED_IN,
    PREFERENCES_TEMPLATE,
    PREFERENCES_UPDATED,
    THEME_PATTERN,
    THEME_SET,
    wants_json,
)
from headerware import get_session, negotiated_language, negotiated_media_type
from headerware.contrib.django import published

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"

View = Callable[..., HttpResponse]


def text(body: str, status: int = 200) -> HttpResponse:
    """A ``text/plain`` response, like the other two apps send."""
    return HttpResponse(body, status=status, content_type=TEXT)


def allow(*methods: str) -> Callable[[View], View]:
    """``require_http_methods`` with the bare WSGI app's plain-text 405 body.

    Django's own 405 has an empty body; the status and ``Allow`` header are its own.
    """

    def decorate(view: View) -> View:
        guarded = require_http_methods(list(methods))(view)

        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = guarded(request, *args, **kwargs)
            if isinstance(response, HttpResponseNotAllowed):
                response.content = b"Method Not Allowed"
                response["Content-Type"] = TEXT
            return response

        return checked

    return decorate


safe_methods = allow("GET", "HEAD")


@safe_methods
def index(request: HttpRequest) -> HttpResponse:
    return text(f"Your browser is: {request.headers.get('User-Agent', '')}")


@safe_methods
def page(request: HttpRequest) -> HttpResponse:
    # templates/page.html: {% load headerware %} ... <script nonce="{% csp_nonce %}">
    return render(request, "page.html", content_type=HTML)


@safe_methods
def custom_header(request: HttpRequest) -> HttpResponse:
    response = text("Hello, World!")
    response["X-Custom-Header"] = "MyValue"
    return response


@safe_methods
def set_cookie(request: HttpRequest) -> HttpResponse:
    response = text(COOKIE_SET)
    response.set_cookie("username", "john_doe", max_age=604800)
    return response


@safe_methods
def get_cookie(request: HttpRequest) -> HttpResponse:
    username = request.COOKIES.get("username")
    return text(f"Hello, {escape(username) if username else 'stranger'}!")


@safe_methods
def delete_cookie(request: HttpRequest) -> HttpResponse:
    response = text(COOKIE_DELETED)
    response.delete_cookie("username")
    return response


@safe_methods
def login(request: HttpRequest) -> HttpResponse:
    session = get_session(published(request))
    session.regenerate()
    session["user_id"] = 42
    return text(LOGGED_IN)


@safe_methods
def dashboard(request: HttpRequest) -> HttpResponse:
    user_id = get_session(published(request)).get("user_id")
    if user_id is None:
        return text("Please log in")
    return text(f"Welcome user #{int(user_id)}")


@safe_methods
def data(request: HttpRequest) -> HttpResponse:
    if negotiated_media_type(published(request)) == "application/json":
        return JsonResponse({"message": "Hello JSON!"})
    return HttpResponse("<p>Hello HTML!</p>", content_type=HTML)


@safe_methods
def hello(request: HttpRequest) -> HttpResponse:
    return text("¡Hola!" if negotiated_language(published(request)) == "es" else "Hello!")


@safe_methods
def protected(request: HttpRequest) -> HttpResponse:
    # headerware's bearer_auth layer answers 401 before this runs without the token.
    return JsonResponse({"data": "secret information"})


def _theme_response(body: str, theme: str) -> HttpResponse:
    response = text(body)
    response.set_cookie("theme", theme, max_age=31536000)
    return response


@safe_methods
def set_theme(request: HttpRequest, theme: str) -> HttpResponse:
    if not THEME_PATTERN.fullmatch(theme):
        return text("Invalid theme", status=400)
    return _theme_response(THEME_SET, theme)


@allow("GET", "HEAD", "POST")
def preferences(request: HttpRequest) -> HttpResponse:
    # No CSRF token: headerware's csrf layer has already refused cross-site POSTs.
    if request.method == "POST":
        theme = request.POST.get("theme", "")
        if not THEME_PATTERN.fullmatch(theme):
            return text("Invalid theme", status=400)
        return _theme_response(PREFERENCES_UPDATED, theme)
    theme = request.COOKIES.get("theme", "light")
    if not THEME_PATTERN.fullmatch(theme):
        theme = "light"
    if wants_json(published(request)):
        return JsonResponse({"theme": theme})
    return HttpResponse(PREFERENCES_TEMPLATE.format(theme=theme), content_type=HTML)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400`` (e.g. a form body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``): plain text."""
    return text("Bad Request", status=400)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: the plain body of the bare WSGI app, no template needed."""
    return text("Not Found", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a plain body that reveals nothing (``DEBUG`` is off)."""
    return text("Internal Server Error", status=500)
