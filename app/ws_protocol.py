"""uvicorn's WebSocket protocol, with text frames that are not UTF-8 handed to the application.

uvicorn fails such a connection itself, with close code 1007 and a logged traceback per message: a
cheap way to fill the logs, and an answer GraphQL clients do not expect. Handed over as bytes
instead, the message meets the same refusal as a binary frame (``schema.asgi.TextOnlySocket``: close
4400, the graphql-transport-ws code for a malformed message, and one log line).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class Utf8CheckedWebSockets(WebSocketsSansIOProtocol):
    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text":
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.curr_msg_data_type = "bytes"
        super().send_receive_event_to_app()


__all__ = ["Utf8CheckedWebSockets"]
