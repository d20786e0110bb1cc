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

View-level policy changes (re-exported by :mod:`headerware.contrib.flask` and
:mod:`headerware.contrib.django.decorators`) are decorators over the environ
helpers, recorded by their check before the view runs -- so before
``start_response``, and a streamed response gets them too:

* ``@csp_amend_view("script-src", "https://cdn.example")`` --
  :func:`headerware.view.csp_amend` (hosts, schemes, ``'self'``, hashes);
* ``@cors_allow_view("https://partner.example", expose_headers=["X-Total"])`` --
  :func:`headerware.layers.cors.cors_allow`;
* ``@cache_policy_view("public, max-age=600")`` --
  :func:`headerware.layers.caching.cache_policy`.

Their arguments are checked when the decorator is applied, so a refused source or
origin (``'unsafe-inline'``, ``*``, ``https://x/path``) raises ``ValueError`` at
import, not on a request. ``csp_amend_view`` and ``cors_allow_view`` add up when
stacked; of two ``cache_policy_view`` the outer one wins. A request the CSRF check
refuses gets none of them. Each decoration is its own attribute (``headerware_<kind>_<n>``),
so stacking survives wrappers that copy the function's ``__dict__`` (``functools.wraps``,
Django's ``method_decorator``). On a Django class-based view, decorate ``dispatch``
(``method_decorator(csp_amend_view(...), name="dispatch")``), as for Django's
``csrf_exempt``: a mark on ``get`` alone is not seen before the view runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, TypeVar

from headerware._log import security_event
from headerware.core.layer import Response
from headerware.csp_policy import check_amendment
from headerware.csrf_verdict import VERDICT_KEY, csrf_refusal
from headerware.layers.caching import cache_policy
from headerware.layers.cors import cors_allow
from headerware.view import csp_amend

__all__ = [
    "VIEW_CHECKS",
    "ViewCheck",
    "before_view",
    "cache_policy_view",
    "check_cache_policy",
    "check_cors_allow",
    "check_csp_amend",
    "check_csrf",
    "cors_allow_view",
    "csp_amend_view",
    "csrf_exempt",
    "is_marked",
    "mark",
    "marks",
    "stack_mark",
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


# -- view-level policy changes: one decorator and one check each -----------------

CSP_AMEND = "headerware_csp_amend_"
CORS_ALLOW = "headerware_cors_allow_"
CACHE_POLICY = "headerware_cache_policy_"
_serial = itertools.count()


def stack_mark(view: V, prefix: str, value: Any) -> V:
    """Add ``value`` to the marks ``prefix`` of ``view`` (see :func:`marks`)."""
    return mark(view, f"{prefix}{next(_serial)}", value)


def marks(view: Any, prefix: str) -> list[Any]:
    """The values :func:`stack_mark` added under ``prefix``, innermost decorator first."""
    attributes = getattr(view, "__dict__", None)
    if not attributes:
        return []
    found = [
        (int(name[len(prefix) :]), value)
        for name, value in attributes.items()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    ]
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def csp_amend_view(directive: str, *sources: str) -> Callable[[V], V]:
    """Decorator: :func:`~headerware.view.csp_amend` ``(environ, directive, *sources)``
    before the view runs. ``ValueError`` at once for a refused directive or source."""
    amendment = check_amendment(directive, sources)

    def decorate(view: V) -> V:
        return stack_mark(view, CSP_AMEND, amendment)

    return decorate


def cors_allow_view(
    origin: str | None = None, *, expose_headers: Sequence[str] = ()
) -> Callable[[V], V]:
    """Decorator: :func:`~headerware.layers.cors.cors_allow` ``(environ, origin,
    expose_headers=...)`` before the view runs. ``ValueError`` at once for an origin
    that is not a serialized origin or a header name that is not a token."""
    cors_allow({}, origin, expose_headers=expose_headers)  # validates, or raises
    grant = (origin, tuple(expose_headers))

    def decorate(view: V) -> V:
        return stack_mark(view, CORS_ALLOW, grant)

    return decorate


def cache_policy_view(value: str) -> Callable[[V], V]:
    """Decorator: :func:`~headerware.layers.caching.cache_policy` ``(environ, value)``
    before the view runs. ``ValueError`` at once for an empty or unsafe value."""
    cache_policy({}, value)  # validates, or raises

    def decorate(view: V) -> V:
        return stack_mark(view, CACHE_POLICY, value)

    return decorate


def check_csp_amend(environ: MutableMapping[str, Any], view: Any) -> None:
    """Record the view's :func:`csp_amend_view` amendments."""
    for directive, sources in marks(view, CSP_AMEND):
        csp_amend(environ, directive, *sources)


def check_cors_allow(environ: MutableMapping[str, Any], view: Any) -> None:
    """Record the view's :func:`cors_allow_view` grants."""
    for origin, expose_headers in marks(view, CORS_ALLOW):
        cors_allow(environ, origin, expose_headers=expose_headers)


def check_cache_policy(environ: MutableMapping[str, Any], view: Any) -> None:
    """Record the view's :func:`cache_policy_view` (the outermost one wins)."""
    for value in marks(view, CACHE_POLICY):
        cache_policy(environ, value)


#: The checks :func:`before_view` runs, in order; the first response wins.
VIEW_CHECKS: list[ViewCheck] = [check_csrf, check_csp_amend, check_cors_allow, check_cache_policy]


def before_view(environ: MutableMapping[str, Any], view: Any) -> Response | None:
    """Run :data:`VIEW_CHECKS` for ``view`` (``None``: no view matched); the first
    response returned is sent instead of running the view."""
    for check in VIEW_CHECKS:
        response = check(environ, view)
        if response is not None:
            return response
    return None
