"""WebSocket origins: refuse cross-site WebSocket handshakes (ASGI).

A browser lets any page open a WebSocket to any server, and sends the user's
cookies with the handshake; the Same-Origin Policy and CORS do not apply. A
socket authenticated by a session cookie is therefore open to every site the
user visits — *cross-site WebSocket hijacking* — unless the server checks the
``Origin`` header, which browsers always send on a handshake (RFC 6455, 4.1)
and which a page cannot forge::

    WebSocketOrigins(allow_origins=["https://app.example.com"])

``WebSocketOrigins`` checks ``Origin`` on every ``websocket`` scope its route
covers, before the application accepts the socket. A refused handshake never
reaches the application: the ASGI adapter closes it before accept (the server
answers the handshake with HTTP 403), or, where the server offers the
``websocket.http.response`` extension, sends the refusal itself: ``403
Forbidden`` with a short body "WebSocket origin not allowed". Each refusal is
logged as the security event ``websocket_origin_refused`` with the ``origin``
(non-printable characters replaced by ``?``, at most 200 characters), the
``path`` and a ``reason`` (``origin not allowed``, ``no Origin header``).

Options
    ``allow_origins`` (none), ``allow_origin_regex`` (none) and
    ``allow_origin_func`` (none) are the origins of the *pages* that may open the
    socket, written exactly as for :class:`~headerware.layers.cors.CORS` and
    matched by the same :class:`~headerware.origins.OriginMatcher`: exact
    origins, subdomain patterns ``https://*.example.com``, ``fullmatch`` regexes
    checked at start-up, a callable. ``*`` is refused (it is the check switched
    off), and so are ``ws://`` and ``wss://`` entries: the Origin is the page's
    ``http(s)://`` origin, never the socket's URL. ``null`` (sandboxed frames,
    ``file:`` pages) is refused unless literally listed.

    ``allow_same_origin`` (``True``) — also allow the origin the handshake
    addressed: its scheme (``ws`` counts as ``http``, ``wss`` as ``https``) and
    its ``Host``, as the server and
    :class:`~headerware.layers.hosts.TrustedProxy` report them (behind a proxy,
    put ``proxy`` with ``x_proto``/``x_host`` first, or the page's ``https``
    origin will not equal the proxied ``ws`` request). Combine with
    ``trusted_hosts``, which refuses a forged ``Host`` on handshakes too. So
    ``[websocket_origins]`` with no options allows exactly the application's own
    pages.

    ``allow_missing_origin`` (``False``) — a handshake without ``Origin`` is not
    from a browser (every browser sends one), so it cannot carry a victim's
    cookies; it is still refused by default, closed like everything else. Set it
    to ``True`` for a socket that non-browser clients (CLI tools, other servers,
    the ``websockets`` library, which sends no ``Origin`` by default) also use,
    and authenticate those clients by other means: this check can never restrict
    a non-browser client, which may send any ``Origin`` it likes.

    ``report_only`` (``False``) — log the refusals (with ``report_only=True``) and
    let the handshake through, for rolling the check out.

Routes: the layer covers every path of the stack it is in; give sockets their own
origins with the route table (``[[routes]]`` with a ``[routes.websocket_origins]``
table, :mod:`headerware.routes`).

WSGI has no WebSocket scopes: under :class:`~headerware.stack.Stack` the layer
does nothing (it has no request or response hooks), so one configuration serves
both adapters.

Configuration mistakes raise :class:`~headerware.options.OptionError` naming the
option and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._log import security_event
from ..core.layer import Layer, Response
from ..options import OptionError, boolean
from ..origins import OriginMatcher, request_origin
from ..responses import error_response

if TYPE_CHECKING:
    from ..core.context import Context

__all__ = ["WebSocketOrigins"]

_REFUSED = "WebSocket origin not allowed"
_SOCKET_SCHEME = re.compile(r"\s*wss?://", re.IGNORECASE)


def _loggable(origin: str) -> str:
    """The ``Origin`` as it may go into a log record: printable ASCII, 200 characters."""
    return "".join(c if " " <= c <= "~" else "?" for c in origin[:200])


def _check_entries(origins: Sequence[str]) -> None:
    """Refuse the entries CORS would take but a WebSocket check must not."""
    if isinstance(origins, str):
        return  # OriginMatcher names this mistake
    for entry in origins:
        if entry == "*":
            raise OptionError(
                "allow_origins",
                entry,
                "'*' lets every site's pages open the socket with the user's cookies "
                "(cross-site WebSocket hijacking): it switches the check off",
                "list the origins of the pages that open the socket "
                "(the application's own are allowed by allow_same_origin)",
            )
        if isinstance(entry, str) and _SOCKET_SCHEME.match(entry):
            page = "https://" if entry.lower().lstrip().startswith("wss") else "http://"
            raise OptionError(
                "allow_origins",
                entry,
                f"{entry!r} is a socket URL; browsers send the origin of the page",
                f"write the page's origin, e.g. {page + entry.split('://', 1)[1]!r}",
            )


class WebSocketOrigins(Layer):
    """Refuse WebSocket handshakes whose ``Origin`` is not an allowed page origin."""

    name: ClassVar[str] = "websocket_origins"

    def __init__(
        self,
        app: Any = None,
        *,
        # Closed by default: only the application's own pages (allow_same_origin).
        allow_origins: Sequence[str] = (),
        allow_origin_regex: Sequence[str | re.Pattern[str]] = (),
        allow_origin_func: Callable[[str], bool] | None = None,
        # A page served by this host may open its own sockets.
        allow_same_origin: bool = True,
        # Every browser sends Origin; a client that does not is let in only on request.
        allow_missing_origin: bool = False,
        report_only: bool = False,
    ) -> None:
        super().__init__(app)
        _check_entries(allow_origins)
        self.matcher = OriginMatcher(
            allow_origins, regex=allow_origin_regex, func=allow_origin_func
        )
        self.allow_same_origin = boolean("allow_same_origin", allow_same_origin)
        self.allow_missing_origin = boolean("allow_missing_origin", allow_missing_origin)
        self.report_only = boolean("report_only", report_only)
        if not (
            self.allow_same_origin
            or self.allow_missing_origin
            or self.matcher.exact
            or self.matcher.dynamic
        ):
            raise OptionError(
                "allow_origins",
                list(allow_origins),
                "no origin is allowed and allow_same_origin is false: every handshake "
                "would be refused",
                "list the origins of the pages that open the socket, or set "
                "allow_same_origin = true",
            )

    def allows(self, ctx: Context, origin: str) -> bool:
        """True when the handshake's ``Origin`` may open the socket."""
        if self.matcher.allows(origin):
            return True
        return self.allow_same_origin and origin == request_origin(ctx.scheme, ctx.host)

    def on_websocket(self, ctx: Context) -> Response | None:
        origin = ctx.header("origin")
        if origin is None:
            if self.allow_missing_origin:
                return None
            reason = "no Origin header"
        elif self.allows(ctx, origin):
            return None
        else:
            reason = "origin not allowed"
        fields: dict[str, Any] = {
            "origin": None if origin is None else _loggable(origin),
            "path": _loggable(ctx.raw_path),
            "reason": reason,
        }
        if self.report_only:
            security_event("websocket_origin_refused", report_only=True, **fields)
            return None
        security_event("websocket_origin_refused", **fields)
        return error_response(ctx, "403 Forbidden", _REFUSED)

    def describe(self) -> dict[str, Any]:
        origins = self.matcher.describe()
        return {
            "allow_origins": origins["origins"],
            "allow_origin_regex": origins["regex"],
            "allow_origin_func": origins["func"],
            "allow_same_origin": self.allow_same_origin,
            "allow_missing_origin": self.allow_missing_origin,
            "report_only": self.report_only,
        }
