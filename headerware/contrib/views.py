"""View-level decisions shared by the framework adapters: marks and before-view checks.

A WSGI layer runs before the application and cannot know which view will answer;
the framework can. So a layer that leaves a decision to the view publishes it in
the environ (e.g. CSRFProtect's ``defer_to_framework=True`` verdict), and the
adapters -- :func:`headerware.contrib.flask.init_app`'s ``before_request`` and
Django's :class:`~headerware.contrib.django.middleware.CSRFMiddleware` -- call
:func:`before_view` with the environ and the matched view function, *before* the
view runs. It returns the response to send instead of running the view, or
``None``.

Views are marked with plain attributes, set by decorators that return the view
itself (no wrapper: sync and async views, Flask's ``app.route`` in either order,
Django's ``method_decorator`` all keep working), e.g. :func:`csrf_exempt` sets
``view.csrf_exempt = True``, the attribute Django's own ``csrf_exempt`` sets.

Adding a view-level decision means: a decorator built with :func:`mark`, and a
:data:`ViewCheck` ``check(environ, view) -> Response | None`` appended to
:data:`VIEW_CHECKS`; both adapters pick it up.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from headerware._log import security_event
from headerware.core.layer import Response
from headerware.csrf_verdict import VERDICT_KEY, csrf_refusal

__all__ = [
    "VIEW_CHECKS",
    "ViewCheck",
    "before_view",
    "check_csrf",
    "csrf_exempt",
    "is_marked",
    "mark",
]

V = TypeVar("V")
#: ``check(environ, view) -> Response | None``: the response to send instead of the view.
ViewCheck = Callable[[MutableMapping[str, Any], Any], Response | None]

#: The attribute :func:`csrf_exempt` sets (Django's ``csrf_exempt`` sets it too).
CSRF_EXEMPT = "csrf_exempt"


def mark(view: V, attribute: str, value: Any = True) -> V:
    """Set ``attribute`` on ``view`` and return the view itself."""
    setattr(view, attribute, value)
    return view


def is_marked(view: Any, attribute: str) -> bool:
    """True when ``view`` carries ``attribute`` set to ``True``."""
    return view is not None and getattr(view, attribute, False) is True


def csrf_exempt(view: V) -> V:
    """Exempt ``view`` from a deferred CSRF verdict (``defer_to_framework=True``)."""
    return mark(view, CSRF_EXEMPT)


def _view_name(view: Any) -> str:
    name = getattr(view, "__qualname__", None) or getattr(view, "__name__", None)
    module = getattr(view, "__module__", None)
    if isinstance(name, str):
        return f"{module}.{name}" if isinstance(module, str) else name
    return type(view).__name__


def check_csrf(environ: MutableMapping[str, Any], view: Any) -> Response | None:
    """CSRFProtect's refusal unless ``view`` is :func:`csrf_exempt`.

    Nothing to do when no CSRFProtect layer ran (a request reaching the application
    through a non-deferring layer always passed). An exempt view receiving a
    refused request is logged as ``csrf_view_exempt``.
    """
    if VERDICT_KEY not in environ:
        return None
    refusal = csrf_refusal(environ)  # marks the verdict as checked
    if refusal is None:
        return None
    if is_marked(view, CSRF_EXEMPT):
        security_event("csrf_view_exempt", reason=environ.get(VERDICT_KEY), view=_view_name(view))
        return None
    return refusal


#: The checks :func:`before_view` runs, in order; the first response wins.
VIEW_CHECKS: list[ViewCheck] = [check_csrf]


def before_view(environ: MutableMapping[str, Any], view: Any) -> Response | None:
    """Run :data:`VIEW_CHECKS` for ``view`` (``None``: no view matched); the first
    response returned is sent instead of running the view."""
    for check in VIEW_CHECKS:
        response = check(environ, view)
        if response is not None:
            return response
    return None
