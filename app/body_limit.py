"""Refuse HTTP request bodies over a size with 413, before the application reads them.

A declared ``Content-Length`` over the limit is answered at once, without reading a byte. A body
without one (chunked) or larger than it declared is counted as it arrives: once over, the
application is told the client went away (``http.disconnect``, which every ASGI app must handle)
rather than handed the chunk, and whatever it answers to that is replaced by the 413, as long as
no response has started.
"""

from __future__ import annotations

import json
from collections.abc import Container
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODE: Final = "REQUEST_TOO_LARGE"


def _declared_length(scope: Scope) -> int:
    """The largest ``Content-Length`` sent; 0 when there is none or it is garbage (counting still
    applies, and the server rejects a malformed header before we are called anyway)."""
    declared = 0
    for name, value in scope["headers"]:
        if name == b"content-length":  # ASGI servers lowercase header names
            try:
                declared = max(declared, int(value))
            except ValueError:
                continue
    return declared


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body on ``paths`` (every path if None)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, paths: Container[str] | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 or more, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths
        error = {
            "message": f"The request body is larger than the {max_bytes} bytes allowed.",
            "extensions": {"code": CODE, "maxBytes": max_bytes},
        }
        self._body = json.dumps({"errors": [error]}).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.paths is not None and scope["path"] not in self.paths):
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to the cut body (often a 500): the 413 goes out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            # Reading a cut body usually raises (Starlette's ClientDisconnect): ours to answer.
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            # The rest of the body is still on the wire: closing spares the server reading (or
            # misreading as the next request) what nobody wants.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": self._body})


__all__ = ["CODE", "BodyLimit"]
