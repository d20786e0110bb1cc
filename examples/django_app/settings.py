"""Django settings of the example: no database, no apps, almost no middleware.

headerware does the jobs Django's own middleware would, so these are off:

* ``SecurityMiddleware`` (nosniff, HSTS, Referrer-Policy, COOP, SSL redirect):
  headerware's ``security_headers`` layer sets them, HSTS only on HTTPS.
* ``XFrameOptionsMiddleware``: ``security_headers`` sends ``X-Frame-Options: DENY``
  and the CSP ``frame-ancestors``.
* ``CsrfViewMiddleware``: headerware's ``csrf`` layer refuses cross-site unsafe
  requests from their Fetch-Metadata / Origin headers, without tokens.
* ``SessionMiddleware`` and ``django.contrib.sessions``: headerware's ``sessions``
  layer provides a signed session, read with
  ``headerware.get_session(headerware.contrib.django.published(request))``.
  With no Django session, Django adds no ``Vary: Cookie``.
* ``AuthenticationMiddleware``, messages, admin: not needed by the routes.

headerware's Django adapter is on: the ``headerware.contrib.django`` app (its
``{% load headerware %}`` tags render the nonce in ``templates/page.html``), its
context processor (``{{ csp_nonce }}``) and ``CSPNonceMiddleware``, which makes
Django's own CSP nonce (Django >= 6.0) headerware's nonce.

``CommonMiddleware`` stays for its ``Content-Length``; ``APPEND_SLASH`` is off so
an unknown path is a 404 as in the other two apps, not a redirect.

``SECRET_KEY`` signs nothing here (headerware signs cookies and sessions with
``HEADERWARE_SECRET_KEYS``); Django refuses to start without one, so it comes
from ``DJANGO_SECRET_KEY`` or is random per process.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
# headerware's trusted_hosts layer checks Host first; Django checks again.
# "testserver" is the host name of Django's own test client.
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

INSTALLED_APPS = ["headerware.contrib.django"]
DATABASES: dict[str, dict[str, str]] = {}
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "headerware.contrib.django.middleware.CSPNonceMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).with_name("templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": ["headerware.contrib.django.context_processors.headerware"],
        },
    }
]
APPEND_SLASH = False

ROOT_URLCONF = "examples.django_app.urls"
WSGI_APPLICATION = "examples.django_app.wsgi.application"
ASGI_APPLICATION = "examples.django_app.asgi.application"

# Same cap as the bare WSGI example's form parser.
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
DEFAULT_CHARSET = "utf-8"
USE_TZ = True
