"""Serve sandbox apps on real loopback ports: in background threads (tests, benchmarks) or in the
foreground (``python -m fiware.sandbox``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningApp:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def _config(app: ASGIApp, port: int) -> uvicorn.Config:
    # No lifespan, no access log: the sandbox is a stand-in, its own logs are noise in tests.
    return uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", access_log=False, log_config=None)


def start_in_thread(app: ASGIApp, port: int | None = None, *, timeout: float = 10.0) -> RunningApp:
    port = port or free_port()
    server = uvicorn.Server(_config(app, port))
    # uvicorn leaves signals alone outside the main thread, so this server never steals Ctrl-C.
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"sandbox app did not start on port {port}")
        time.sleep(0.01)
    return RunningApp(f"http://127.0.0.1:{port}", server, thread)


def stop(running: RunningApp) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)


@contextlib.contextmanager
def serving(app: ASGIApp, port: int | None = None) -> Iterator[str]:
    """The base URL of ``app`` served on a real port for the duration of the block."""
    running = start_in_thread(app, port)
    try:
        yield running.url
    finally:
        stop(running)


__all__ = ["RunningApp", "free_port", "serving", "start_in_thread", "stop"]
