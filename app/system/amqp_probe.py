"""An asyncio AMQP 0-9-1 handshake: is the broker there, and do our credentials open our vhost?

A TCP connect alone says nothing about credentials or the vhost, and kombu's blocking client
would tie up a thread for as long as a silent broker keeps it waiting. This speaks just enough
of the protocol (Start, Start-Ok with PLAIN, Tune, Tune-Ok, Open, Close) to answer both.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_FRAME_METHOD = 1
_FRAME_END = b"\xce"
_CONNECTION = 10
_START, _START_OK, _TUNE, _TUNE_OK, _OPEN, _OPEN_OK, _CLOSE, _CLOSE_OK = 10, 11, 30, 31, 40, 41, 50, 51


class AmqpProbeError(Exception):
    """The broker refused us or spoke something that is not AMQP 0-9-1."""


@dataclass(frozen=True)
class AmqpTarget:
    host: str
    port: int
    user: str
    password: str
    vhost: str

    @classmethod
    def from_url(cls, url: str) -> AmqpTarget:
        parts = urlsplit(url)
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5672,
            user=unquote(parts.username or "guest"),
            password=unquote(parts.password or "guest"),
            vhost=unquote(path) if path else "/",
        )


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("B", len(raw)) + raw


def _longstr(raw: bytes) -> bytes:
    return struct.pack(">I", len(raw)) + raw


def _client_properties() -> bytes:
    # With this capability RabbitMQ answers bad credentials with Close 403 instead of a reset.
    capability = _shortstr("authentication_failure_close") + b"t\x01"
    capabilities = _shortstr("capabilities") + b"F" + _longstr(capability)
    product = _shortstr("product") + b"S" + _longstr(b"chronos-health")
    table = capabilities + product
    return _longstr(table)


_CLIENT_PROPERTIES = _client_properties()


def _method(method_id: int, args: bytes) -> bytes:
    payload = struct.pack(">HH", _CONNECTION, method_id) + args
    return struct.pack(">BHI", _FRAME_METHOD, 0, len(payload)) + payload + _FRAME_END


async def _read_method(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    while True:
        header = await reader.readexactly(7)
        frame_type, _channel, size = struct.unpack(">BHI", header)
        payload = await reader.readexactly(size)
        if await reader.readexactly(1) != _FRAME_END:
            raise AmqpProbeError("malformed AMQP frame")
        if frame_type != _FRAME_METHOD:
            continue  # heartbeats may arrive at any time
        class_id, method_id = struct.unpack(">HH", payload[:4])
        if class_id != _CONNECTION:
            raise AmqpProbeError(f"unexpected AMQP class {class_id}")
        if method_id == _CLOSE:
            code = struct.unpack(">H", payload[4:6])[0]
            text_len = payload[6]
            text = payload[7 : 7 + text_len].decode(errors="replace")
            raise AmqpProbeError(f"broker closed the connection: {code} {text}")
        return method_id, payload[4:]


def _server_product(start_args: bytes) -> str:
    # Looked up by key instead of decoding the whole field table: we only want two strings.
    def lookup(key: bytes) -> str | None:
        marker = _shortstr(key.decode()) + b"S"
        at = start_args.find(marker)
        if at < 0:
            return None
        start = at + len(marker)
        (length,) = struct.unpack(">I", start_args[start : start + 4])
        return start_args[start + 4 : start + 4 + length].decode(errors="replace")

    product = lookup(b"product") or "AMQP broker"
    version = lookup(b"version")
    return f"{product} {version}" if version else product


async def probe_amqp(url: str) -> str:
    """Open and close one AMQP connection; return the server's product and version."""
    target = AmqpTarget.from_url(url)
    reader, writer = await asyncio.open_connection(target.host, target.port)
    try:
        writer.write(b"AMQP\x00\x00\x09\x01")
        await writer.drain()
        method, args = await _read_method(reader)
        if method != _START:
            raise AmqpProbeError("broker did not start an AMQP 0-9-1 handshake")
        product = _server_product(args)
        response = b"\x00" + target.user.encode() + b"\x00" + target.password.encode()
        start_ok = _CLIENT_PROPERTIES + _shortstr("PLAIN") + _longstr(response) + _shortstr("en_US")
        writer.write(_method(_START_OK, start_ok))
        await writer.drain()
        method, args = await _read_method(reader)
        if method != _TUNE:
            raise AmqpProbeError("broker did not tune the connection")
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", args[:8])
        writer.write(_method(_TUNE_OK, struct.pack(">HIH", channel_max, frame_max, 0)))
        writer.write(_method(_OPEN, _shortstr(target.vhost) + _shortstr("") + b"\x00"))
        await writer.drain()
        method, _ = await _read_method(reader)
        if method != _OPEN_OK:
            raise AmqpProbeError(f"broker did not open vhost {target.vhost!r}")
        writer.write(_method(_CLOSE, struct.pack(">H", 200) + _shortstr("") + struct.pack(">HH", 0, 0)))
        await writer.drain()
        # Close-Ok; its absence is no failure of the broker.
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await _read_method(reader)
        return product
    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
        raise AmqpProbeError("broker closed the connection during the handshake") from exc
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


__all__ = ["AmqpProbeError", "AmqpTarget", "probe_amqp"]
