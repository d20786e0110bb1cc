"""View decorators: ``@csrf_exempt`` for headerware's deferred CSRF verdict.

``csrf_exempt(view)`` sets ``view.csrf_exempt = True`` and returns the view itself
(no wrapper, so sync and async views, ``method_decorator(csrf_exempt,
name="dispatch")`` on a class-based view and ``View.as_view()`` all work). It is
the attribute Django's own ``django.views.decorators.csrf.csrf_exempt`` sets:
:class:`~headerware.contrib.django.middleware.CSRFMiddleware` honours either, and
either exempts the view from Django's CsrfViewMiddleware too.
"""

from __future__ import annotations

from headerware.contrib.views import csrf_exempt

__all__ = ["csrf_exempt"]
