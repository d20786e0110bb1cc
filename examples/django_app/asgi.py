"""The Django example's ASGI callables: Django's ASGI handler wrapped by headerware.

The ASGI twin of ``wsgi.py``: the same settings, the same views and the same
``examples/headerware.toml``, wrapped by ``load_config(...).asgi(...)`` instead of
``stack_from_toml(...)``. ``bare_app`` is Django's own ASGI handler; ``app`` (and
``application``, Django's ``ASGI_APPLICATION`` name) is it wrapped. Serve it with
``uvicorn examples.django_app.asgi:app``. The views read headerware's keys with
``headerware.contrib.django.published(request)``, which is ``request.scope`` here.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from examples.common import CONFIG_PATH
from headerware.config import load_config

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

bare_app = get_asgi_application()
app = load_config(CONFIG_PATH).asgi(bare_app)
application = app
