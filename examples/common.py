"""What the examples share: templates, markup, validation, the article's bodies, wrapping."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2
    from _typeshed.wsgi import WSGIApplication

#: The configuration both examples load.
CONFIG_PATH = Path(__file__).with_name("headerware.toml")

#: A theme is a short lower-case word: safe as a cookie value and in markup.
THEME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,31}")

#: The Jinja templates of the Flask and the bare WSGI example (``page.html``: the
#: nonce through ``headerware.contrib.jinja``'s ``csp_nonce()`` global). The Django
#: example has the same page as a Django template in ``django_app/templates``.
TEMPLATES_DIR = Path(__file__).with_name("templates")

#: The media types ``GET /preferences`` offers, the server's choice first.
PREFERENCES_OFFERS = ("text/html", "application/json")

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


#: The seed article's response bodies, word for word.
COOKIE_SET = "Cookie has been set!"
COOKIE_DELETED = "Cookie deleted!"
LOGGED_IN = "Logged in!"
THEME_SET = "Theme set!"
PREFERENCES_UPDATED = "Preferences updated!"


def wants_json(environ: dict[str, Any]) -> bool:
    """``GET /preferences``: does the client prefer JSON (q-values honoured)?

    Negotiated through headerware's helper, which also marks the response
    ``Vary: Accept`` for the negotiation layer to send.
    """
    from headerware import negotiate_media_type

    chosen = negotiate_media_type(environ, PREFERENCES_OFFERS, default="text/html")
    return chosen == "application/json"


def jinja_environment() -> jinja2.Environment:
    """The bare WSGI example's Jinja environment, with headerware's template globals.

    Templates are rendered with ``environ=environ``; Flask's own environment gets the
    same globals from ``headerware.contrib.flask.init_app``.
    """
    import jinja2

    from headerware.contrib.jinja import install

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        keep_trailing_newline=True,
    )
    install(env)
    return env


def wrap(app: WSGIApplication) -> WSGIApplication:
    """``app`` wrapped in the stack configured by ``examples/headerware.toml``."""
    from headerware.config import stack_from_toml

    return stack_from_toml(CONFIG_PATH, app)
