"""The per-request context: the only way a layer sees the request.

A fresh :class:`Context` is made for every request by the server adapter (see
:mod:`headerware.wsgi` and :mod:`headerware.asgi`); it is never reused and never shared between
requests. It offers parsed views of the request, each computed at most once and
shared by every layer of the stack:

- ``method``, ``raw_path`` / ``path`` (raw and resolved, see
  :mod:`headerware.paths`), ``root_path``, ``query_string``, ``scheme`` /
  ``is_secure``, ``host``, ``client``;
- :meth:`header` by name, :meth:`header_items` for all of them;
- ``cookies`` (headerware's strict parse), ``accept``, ``accept_language``
  (werkzeug's Accept classes, q-values honoured);
- ``state``: a dict where layers keep what they decided for this request.

What a layer changes for the application goes through methods too:
:meth:`set_header`, :meth:`set_cookies`, :meth:`set_origin` (proxy trust),
:meth:`publish` (the documented ``headerware.*`` keys the application reads) and
:meth:`read_body` (a bounded read that leaves the body readable for the app).
Nothing here knows about ``environ`` or ``scope``: an adapter subclasses
:class:`Context` and implements the ``_`` methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from werkzeug.datastructures import LanguageAccept, MIMEAccept

from ..cookies_parse import RequestCookies, parse_request_cookies
from ..memo import Memo
from ..paths import normalize_path

__all__ = [
    "ACCEPT_LIMIT",
    "CONTEXT_KEY",
    "COOKIES_ORIG_KEY",
    "Context",
    "current_context",
    "parse_language_accept",
    "parse_mime_accept",
]

#: The published key (environ or scope) of the request's :class:`Context`.
CONTEXT_KEY = "headerware.context"

#: The published key holding the ``Cookie`` header as the client sent it, once a
#: layer replaced what the application sees.
COOKIES_ORIG_KEY = "headerware.cookies.orig"

#: The longest Accept / Accept-Language value parsed. werkzeug's parse is linear but
#: costs ~20 ms for 8 KiB and gunicorn joins repeated lines, so a client could make
#: every layer that negotiates (and every refusal) pay for a megabyte. Browsers send
#: under 300 characters; a longer value is cut at its last complete entry.
ACCEPT_LIMIT = 1024


def _capped(value: str) -> str:
    if len(value) <= ACCEPT_LIMIT:
        return value
    cut = value.rfind(",", 0, ACCEPT_LIMIT)
    return value[:cut] if cut > 0 else ""


_A = TypeVar("_A", MIMEAccept, LanguageAccept)


def _accept_parser(cls: type[_A]) -> Callable[[str], _A]:
    """werkzeug's parse for ``cls``: ``cls.from_header`` (werkzeug >= 3.2, where
    ``parse_accept_header`` is deprecated), else ``parse_accept_header`` (3.1)."""
    from_header: Callable[[str], _A] | None = getattr(cls, "from_header", None)
    if from_header is not None:
        return from_header
    from werkzeug import http  # only here: on 3.2 even the import warns

    name = "parse_accept_header"  # looked up by name: 3.2's type stubs lack it
    parse: Callable[[str, type[_A]], _A] = getattr(http, name)
    return lambda value: parse(value, cls)


_mime: Memo[str, MIMEAccept] = Memo(
    "accept", _accept_parser(MIMEAccept), size=256, max_key_length=512
)
_language: Memo[str, LanguageAccept] = Memo(
    "accept_language", _accept_parser(LanguageAccept), size=256, max_key_length=512
)


def parse_mime_accept(value: str | None) -> MIMEAccept:
    """An ``Accept`` header parsed by werkzeug (shared between requests: read-only);
    values beyond :data:`ACCEPT_LIMIT` characters are cut at their last entry."""
    return _mime(_capped(value)) if value else MIMEAccept()


def parse_language_accept(value: str | None) -> LanguageAccept:
    """An ``Accept-Language`` header parsed by werkzeug (shared: read-only), capped
    like :func:`parse_mime_accept`."""
    return _language(_capped(value)) if value else LanguageAccept()


class Context:
    """Per-request state shared by every layer of a stack; never reused.

    Subclasses (one per server interface) implement the ``_``-prefixed methods;
    layers use only the public ones.
    """

    # Class-level defaults: a request pays only for the views it uses.
    _path: str | None = None
    _cookies: RequestCookies | None = None
    _accept: MIMEAccept | None = None
    _accept_language: LanguageAccept | None = None

    state: dict[str, Any]

    # --- what the adapter provides -------------------------------------------------

    @property
    def method(self) -> str:
        """The request method, upper-case."""
        raise NotImplementedError

    @property
    def raw_path(self) -> str:
        """The path as the server passed it (percent-decoded, nothing resolved)."""
        raise NotImplementedError

    @property
    def root_path(self) -> str:
        """The mount prefix of the application (WSGI's ``SCRIPT_NAME``), or ``""``."""
        raise NotImplementedError

    @property
    def query_string(self) -> str:
        """The query string, without the ``?``."""
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        """``http`` or ``https``, as the server (and trusted-proxy layer) set it."""
        raise NotImplementedError

    @property
    def host(self) -> str:
        """The ``Host`` the client named (or the server's name when it sent none)."""
        raise NotImplementedError

    @property
    def server_port(self) -> str:
        """The port the server listens on, as a string."""
        raise NotImplementedError

    @property
    def client(self) -> str | None:
        """The client's address, as the server (and trusted-proxy layer) set it."""
        raise NotImplementedError

    def header(self, name: str) -> str | None:
        """The request header ``name`` (any case), or ``None`` when absent."""
        raise NotImplementedError

    def header_items(self) -> list[tuple[str, str]]:
        """Every request header as ``(Name-As-Title, value)``, in no particular order."""
        raise NotImplementedError

    def set_header(self, name: str, value: str | None) -> None:
        """Change (or with ``None`` remove) a request header the application sees."""
        raise NotImplementedError

    def set_origin(
        self,
        *,
        scheme: str | None = None,
        host: str | None = None,
        port: str | None = None,
        client: str | None = None,
        root_path: str | None = None,
    ) -> None:
        """Replace where the request came from (only a trusted-proxy layer does this)."""
        raise NotImplementedError

    def publish(self, key: str, value: Any) -> None:
        """Make ``value`` readable by the application under ``key`` (``headerware.*``)."""
        raise NotImplementedError

    def published(self, key: str, default: Any = None) -> Any:
        """What was published under ``key`` for this request, or ``default``."""
        raise NotImplementedError

    def read_body(self, limit: int) -> bytes | None:
        """The request body if it is at most ``limit`` bytes, else ``None``.

        The body stays readable by the application afterwards. Under ASGI the body
        must have been read with :meth:`read_body_async` first (in the layer's
        ``on_request_async``); otherwise this raises ``RuntimeError``.
        """
        raise NotImplementedError

    async def read_body_async(self, limit: int) -> bytes | None:
        """:meth:`read_body` for an asynchronous server: awaits the body's chunks."""
        return self.read_body(limit)

    # --- shared views, computed once -----------------------------------------------

    @property
    def path(self) -> str:
        """The resolved path: repeated slashes merged, ``.`` and ``..`` resolved."""
        path = self._path
        if path is None:
            path = self._path = normalize_path(self.raw_path)
        return path

    @property
    def is_secure(self) -> bool:
        """True when the request's scheme is https."""
        return self.scheme == "https"

    @property
    def cookies(self) -> RequestCookies:
        """The request's cookies, parsed once with headerware's strict parser."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parse_request_cookies(self.header("cookie") or "")
        return cookies

    def set_cookies(self, cookies: RequestCookies) -> None:
        """Make ``cookies`` what the application (and every later layer) sees.

        The Cookie header is rebuilt from ``cookies``; the client's original is
        published once under ``headerware.cookies.orig``.
        """
        if self.published(COOKIES_ORIG_KEY) is None:
            self.publish(COOKIES_ORIG_KEY, self.header("cookie") or "")
        self.set_header("cookie", cookies.to_header() or None)
        self._cookies = cookies

    @property
    def accept(self) -> MIMEAccept:
        """The parsed ``Accept`` header (q-values honoured)."""
        accept = self._accept
        if accept is None:
            accept = self._accept = parse_mime_accept(self.header("accept"))
        return accept

    @property
    def accept_language(self) -> LanguageAccept:
        """The parsed ``Accept-Language`` header."""
        accept = self._accept_language
        if accept is None:
            accept = self._accept_language = parse_language_accept(self.header("accept-language"))
        return accept

    @property
    def url_root(self) -> str:
        """``scheme://host`` plus the mount prefix, as the client addressed the app."""
        return f"{self.scheme}://{self.host}{self.root_path}"


def current_context(published: Mapping[str, Any]) -> Context | None:
    """The headerware context of the request behind an environ, a Django ``META`` or an
    ASGI scope, if a headerware stack wrapped it."""
    ctx = published.get(CONTEXT_KEY)
    return ctx if isinstance(ctx, Context) else None
