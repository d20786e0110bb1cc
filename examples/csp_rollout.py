"""The CSP roll-out example: a page with a script and a stylesheet from a second origin.

``bare_app`` is a plain WSGI application serving one page at ``/``: it loads
``lib.js`` and ``theme.css`` from the asset origin (``CSP_ROLLOUT_ASSETS``, default
``http://127.0.0.1:8001``) and runs one inline script carrying the request's CSP
nonce. ``app`` is the same wrapped in the stack configured by the file named by
``HEADERWARE_CONFIG`` (default ``examples/csp_rollout.toml``: the strict default
policy, report-only, with the report receiver on). Serve both origins::

    python -m http.server 8001 --bind 127.0.0.1 --directory examples/csp_rollout_assets
    gunicorn -b 127.0.0.1:8000 examples.csp_rollout:app

then open ``http://127.0.0.1:8000/`` and follow the README's "Rolling out a CSP".
``tests/test_browser_csp_rollout.py`` runs the whole roll-out in headless Chromium.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING

from headerware import csp_nonce
from headerware.deploy import wrap

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: The configuration ``app`` is wrapped in unless ``HEADERWARE_CONFIG`` names another.
CONFIG_PATH = Path(__file__).with_name("csp_rollout.toml")
#: The second origin's files (``lib.js``, ``theme.css``).
ASSETS_DIR = Path(__file__).with_name("csp_rollout_assets")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CSP roll-out</title>
<link rel="stylesheet" href="{assets}/theme.css">
</head>
<body>
<p id="styled">Styled by the second origin's stylesheet.</p>
<script src="{assets}/lib.js"></script>
<script nonce="{nonce}">document.body.dataset.inline = "ran";</script>
</body>
</html>
"""


def assets_origin() -> str:
    """The second origin the page loads its script and stylesheet from."""
    return os.environ.get("CSP_ROLLOUT_ASSETS", "http://127.0.0.1:8001").rstrip("/")


def bare_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """``/``: the page; ``/favicon.ico``: nothing (204); anything else: 404."""
    path = environ.get("PATH_INFO") or "/"
    if path == "/favicon.ico":
        start_response("204 No Content", [])
        return []
    if path != "/":
        body = b"Not Found"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [body]
    # The nonce goes into an attribute: escaped, though it is base64 already.
    page = PAGE.format(
        assets=html.escape(assets_origin(), quote=True),
        nonce=html.escape(csp_nonce(environ, default=""), quote=True),
    )
    body = page.encode("utf-8")
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


#: ``bare_app`` in the configured stack (a production entry point: see headerware.deploy).
app = wrap(bare_app, config=os.environ.get("HEADERWARE_CONFIG", str(CONFIG_PATH)))
