"""A port that accepts TCP connections and never says a word: a hung dependency."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    # The kernel completes handshakes from the backlog even though nobody calls accept().
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield int(server.getsockname()[1])
