"""Django's ASGI handler under webtest: the Django tests run on both interfaces.

:func:`asgi_as_wsgi` is a test-only server: each WSGI request webtest makes becomes
one ASGI ``http`` request (the scope a server builds from it, the body as one
message, ``http.disconnect`` only after the response ended), run with
``asyncio.run``; the messages are checked against ASGI 3 (lower-case byte header
names, a start, body messages ending without ``more_body``) before they become a
WSGI response. So the same webtest-based tests (cookie jar, sessions, lint) assert
the same behaviour of ``wsgi.app`` and ``asgi.app``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from headerware.asgi import status_line
from tests.asgi_contract import Result, call, scope_from_environ

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def asgi_as_wsgi(asgi_app: Any, *, strict: bool = True) -> WSGIApp:
    """A WSGI application serving ``asgi_app`` the way an ASGI server would.

    ``strict=False`` for Django's bare handler: it sends header names as the view
    spelled them (``Content-Type``), which servers accept and headerware lower-cases.
    """

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        scope = scope_from_environ(environ)
        # PATH_INFO carries the raw bytes as latin-1; an ASGI path is UTF-8 text.
        scope["path"] = scope["path"].encode("latin-1").decode("utf-8", "replace")
        if environ.get("REMOTE_ADDR"):
            scope["client"] = (environ["REMOTE_ADDR"], 50000)
        length = environ.get("CONTENT_LENGTH") or ""
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        messages = asyncio.run(call(asgi_app, scope, body))
        if not strict:
            start = dict(messages[0])
            start["headers"] = [(name.lower(), value) for name, value in start["headers"]]
            messages[0] = start
        result = Result(messages)
        start_response(status_line(result.status), result.headers)
        # As sent (a HEAD body too): the server drops it, uvicorn as gunicorn does.
        return [result.body]

    return app
