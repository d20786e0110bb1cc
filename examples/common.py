"""What the Flask and the bare WSGI example share: markup, validation, wrapping."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: The configuration both examples load.
CONFIG_PATH = Path(__file__).with_name("headerware.toml")

#: A theme is a short lower-case word: safe as a cookie value and in markup.
THEME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")

PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>headerware CSP nonce demo</title></head>
<body>
<h1>CSP nonce demo</h1>
<p>The first inline script carries this request's nonce and runs; the second has no
nonce and the browser blocks it.</p>
<script nonce="{nonce}">document.body.dataset.ran = "yes";</script>
<script>document.body.dataset.unsafe = "ran";</script>
</body>
</html>
"""

PREFERENCES_TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Preferences</title></head>
<body>
<p>Current theme: {theme}</p>
<form method="post" action="/preferences">
<label>Theme <input name="theme" value="{theme}"></label>
<button type="submit">Save</button>
</form>
</body>
</html>
"""


def wrap(app: WSGIApplication) -> WSGIApplication:
    """``app`` wrapped in the stack configured by ``examples/headerware.toml``."""
    from headerware.config import stack_from_toml

    return stack_from_toml(CONFIG_PATH, app)
