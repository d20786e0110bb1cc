"""The Django example's WSGI callables: Django's handler wrapped by headerware.

``bare_app`` is Django's own WSGI handler; ``app`` (and ``application``, the name
Django and its docs use) is the same wrapped in the stack that
``examples/headerware.toml`` configures, exactly as the Flask and bare WSGI
examples are. Serve it with ``gunicorn examples.django_app.wsgi:app``.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from examples.common import wrap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

bare_app = get_wsgi_application()
app = wrap(bare_app)
application = app

if __name__ == "__main__":  # pragma: no cover - manual use
    from wsgiref.simple_server import make_server

    port = int(os.environ.get("PORT", "8000"))
    make_server("127.0.0.1", port, app).serve_forever()
