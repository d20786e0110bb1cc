"""The ASGI app the real-server WebSocket tests serve: ``uvicorn tests.websocket_server_app:app``.

A Starlette echo socket at ``/ws`` behind ``TrustedHosts`` and ``WebSocketOrigins``
(the page origin ``https://app.example``, and the server's own origin).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from headerware import ASGIStack, TrustedHosts, WebSocketOrigins

#: The page origin allowed to open the socket, besides the server's own.
PAGE_ORIGIN = "https://app.example"


async def echo(websocket: WebSocket) -> None:
    """Accept, answer one text message with ``echo: <text>``, close."""
    await websocket.accept()
    text = await websocket.receive_text()
    await websocket.send_text(f"echo: {text}")
    await websocket.close()


app = ASGIStack(
    [TrustedHosts(allowed_hosts=["127.0.0.1"]), WebSocketOrigins(allow_origins=[PAGE_ORIGIN])],
    Starlette(routes=[WebSocketRoute("/ws", echo)]),
)
