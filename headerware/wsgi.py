"""The WSGI adapter: environ -> context, one intercepting ``start_response``, the body.

Everything PEP 3333 asks for lives here and nowhere else:

- the request is read into a :class:`WSGIContext` (layers never see ``environ``);
- ``start_response`` is intercepted once; the response hooks run inside it, so a
  generator application that starts its response on its first iteration is
  handled like any other; ``write()`` and ``exc_info`` are forwarded;
- when no layer replaced, dropped or held the body, the application's iterable
  object itself is returned, so ``wsgi.file_wrapper`` and sendfile survive;
  otherwise a small wrapper sends the right body and always calls the
  application iterable's ``close()`` (normal end, error, early abandon);
- a held body (``ResponseHead.hold_body``) is seen whole only when the application
  returned a list or tuple; streams go out unchanged, never buffered.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .core.context import CONTEXT_KEY, Context, current_context
from .core.engine import Chain
from .core.layer import ResponseHead

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CONTEXT_KEY", "WSGIContext", "current_context", "serve"]


_SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def environ_key(name: str) -> str:
    """The environ key of request header ``name``."""
    special = _SPECIAL.get(name)
    if special is not None:
        return special
    return "HTTP_" + name.upper().replace("-", "_")


#: The keys of the headers layers read on most requests, spelled out once.
_KEYS = {
    name: environ_key(name)
    for name in (
        "accept",
        "accept-language",
        "authorization",
        "content-length",
        "content-type",
        "cookie",
        "host",
        "if-modified-since",
        "if-none-match",
        "origin",
        "referer",
        "sec-fetch-site",
        "sec-fetch-mode",
        "sec-fetch-dest",
        "access-control-request-method",
        "access-control-request-headers",
        "access-control-request-private-network",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-csrf-token",
        "user-agent",
    )
}


class WSGIContext(Context):
    """The context of one WSGI request, reading and writing its ``environ``."""

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ
        self.state = {}

    @property
    def method(self) -> str:
        method: str = self.environ.get("REQUEST_METHOD") or "GET"
        return method if method.isupper() else method.upper()

    @property
    def raw_path(self) -> str:
        return self.environ.get("PATH_INFO") or "/"

    @property
    def root_path(self) -> str:
        return str(self.environ.get("SCRIPT_NAME") or "")

    @property
    def query_string(self) -> str:
        return str(self.environ.get("QUERY_STRING") or "")

    @property
    def scheme(self) -> str:
        scheme: str = self.environ.get("wsgi.url_scheme") or "http"
        return scheme

    @property
    def is_secure(self) -> bool:
        return bool(self.environ.get("wsgi.url_scheme") == "https")

    @property
    def host(self) -> str:
        environ = self.environ
        host = environ.get("HTTP_HOST")
        if host:
            return str(host)
        name = str(environ.get("SERVER_NAME") or "")
        port = str(environ.get("SERVER_PORT") or "")
        default = "443" if self.scheme == "https" else "80"
        return name if not port or port == default else f"{name}:{port}"

    @property
    def server_port(self) -> str:
        return str(self.environ.get("SERVER_PORT") or "")

    @property
    def client(self) -> str | None:
        value = self.environ.get("REMOTE_ADDR")
        return str(value) if value else None

    def header(self, name: str) -> str | None:
        # PEP 3333: environ values are native strings.
        value: str | None = self.environ.get(_KEYS.get(name) or environ_key(name.lower()))
        return value

    def header_items(self) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                items.append((key[5:].replace("_", "-").title(), str(value)))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                items.append((key.replace("_", "-").title(), str(value)))
        return items

    def set_header(self, name: str, value: str | None) -> None:
        key = environ_key(name.lower())
        if value is None:
            self.environ.pop(key, None)
        else:
            self.environ[key] = value

    def set_origin(
        self,
        *,
        scheme: str | None = None,
        host: str | None = None,
        port: str | None = None,
        client: str | None = None,
        root_path: str | None = None,
    ) -> None:
        environ = self.environ
        if scheme is not None:
            environ["wsgi.url_scheme"] = scheme
        if host is not None:
            environ["HTTP_HOST"] = host
            environ["SERVER_NAME"] = _host_name(host)
        if port is not None:
            environ["SERVER_PORT"] = port
        if client is not None:
            environ["REMOTE_ADDR"] = client
        if root_path is not None:
            environ["SCRIPT_NAME"] = root_path

    def publish(self, key: str, value: Any) -> None:
        self.environ[key] = value

    def published(self, key: str, default: Any = None) -> Any:
        return self.environ.get(key, default)

    def read_body(self, limit: int) -> bytes | None:
        environ = self.environ
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length < 0 or length > limit:
            return None
        stream = environ.get("wsgi.input")
        data = stream.read(length) if stream is not None and length else b""
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        return bytes(data)


def _host_name(host: str) -> str:
    """``host`` without its port (an IPv6 literal keeps its brackets)."""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() else host


def _discard(data: bytes) -> None:
    """The ``write()`` of a response whose body is not the application's: nothing."""


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def _chosen_body(head: ResponseHead) -> list[bytes] | None:
    """The body the head decided on: ``[]`` when dropped, ``None`` for the app's own."""
    if head.body_dropped:
        return []
    return head.body


def serve(
    chain: Chain,
    app: WSGIApplication,
    ctx: WSGIContext,
    start_response: StartResponse,
) -> Iterable[bytes]:
    """One WSGI request through ``chain`` around ``app``."""
    environ = ctx.environ
    environ[CONTEXT_KEY] = ctx
    early = chain.request(ctx)
    if early is not None:
        return send_head(ctx, early, start_response)
    if not chain.response_hooks:
        return app(environ, start_response)
    responder = _Responder(ctx, chain, start_response)
    try:
        body = app(environ, responder)
    except Exception:
        if responder.head is not None:
            raise
        return send_head(ctx, chain.app_failed(ctx), start_response)
    head = responder.head
    if head is None:
        return _Body(responder, body)  # a generator app: it starts on first iteration
    if responder.sent and head.body is None and not head.body_dropped:
        return body  # the common case: the application's own iterable, untouched
    return responder.finish(body)


def send_head(ctx: WSGIContext, head: ResponseHead, start_response: StartResponse) -> list[bytes]:
    """Send a head whose body the engine decided (an early answer, an error)."""
    start_response(head.status, head.headers)
    if head.body_dropped or ctx.method == "HEAD":
        return []
    return head.body or []


class _Responder:
    """The one intercepting ``start_response`` of a request."""

    __slots__ = ("chain", "ctx", "exc_info", "head", "parent", "sent", "written")

    def __init__(self, ctx: WSGIContext, chain: Chain, parent: StartResponse) -> None:
        self.ctx = ctx
        self.chain = chain
        self.parent = parent
        self.head: ResponseHead | None = None
        self.sent = False
        self.exc_info: OptExcInfo | None = None
        self.written: list[bytes] | None = None

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if self.head is not None and not exc_info:
            raise AssertionError("start_response called a second time without exc_info")
        head = self.chain.respond(self.ctx, ResponseHead(status, list(headers)))
        self.head = head
        self.exc_info = exc_info
        if head.body_hooks:
            self.written = []  # a fresh (error) response voids what was held
            return self.written.append
        self.sent = True
        write = self.parent(head.status, head.headers, exc_info)
        if head.body_dropped or head.body is not None:
            return _discard  # the application's body is not what goes out
        return write

    def release(self) -> list[bytes]:
        """Send a held head unchanged (its body streams); the chunks written so far."""
        head = self.head
        assert head is not None
        head.body_hooks = None
        self.sent = True
        self.parent(head.status, head.headers, self.exc_info)
        written, self.written = self.written or [], None
        return written

    def finish(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """The iterable to return once the head is known."""
        head = self.head
        assert head is not None
        if not self.sent:  # held for a body hook
            if head.body is not None or head.body_dropped:
                # An inner layer already replaced (or dropped) the body: the hooks see
                # that body, never the application's.
                _close(body)
                return self._send_held(head.body or [])
            if type(body) is list or type(body) is tuple:
                try:
                    chunks = [*(self.written or ()), *body]
                finally:
                    _close(body)
                return self._send_held(chunks)
            written = self.release()
            if written:
                return _Body(self, body, written)
            return self._decided(body)
        return self._decided(body)

    def _send_held(self, chunks: list[bytes]) -> list[bytes]:
        """Run the body hooks on a complete body, then send the head; the body to return."""
        head = self.head
        assert head is not None
        if head.body_dropped:
            head.body_hooks = None
        else:
            head = self.chain.finish_body(self.ctx, head, chunks)
        self.head = head
        self.sent = True
        self.parent(head.status, head.headers, self.exc_info)
        return [] if head.body_dropped else list(head.body or [])

    def _decided(self, body: Iterable[bytes]) -> Iterable[bytes]:
        head = self.head
        assert head is not None
        chosen = _chosen_body(head)
        if chosen is None:
            return body
        _close(body)
        return chosen


class _Body:
    """The application's iterable when the head is not known yet (a generator app) or
    written data must go first; ``close()`` always reaches the inner iterable."""

    __slots__ = ("_closed", "_first", "_inner", "_responder")

    def __init__(
        self, responder: _Responder, inner: Iterable[bytes], first: list[bytes] | None = None
    ) -> None:
        self._responder = responder
        self._inner = inner
        self._first = first
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self._generate()

    def _generate(self) -> Iterator[bytes]:
        responder = self._responder
        iterator = iter(self._inner)
        first: list[bytes] = list(self._first or ())
        if responder.head is None:
            for chunk in iterator:  # the app calls start_response on its first iteration
                first.append(chunk)
                break
            if responder.head is None:
                yield from first
                return
        head = responder.head
        if not responder.sent:
            if head.body is not None or head.body_dropped:
                yield from responder._send_held(head.body or [])
                return
            # Held, but a generator's body is a stream: it is never buffered.
            first = responder.release() + first
        chosen = _chosen_body(head)
        if chosen is not None:
            yield from chosen
            return
        yield from first
        yield from iterator

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _close(self._inner)
