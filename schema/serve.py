"""The API process: uvicorn serving :func:`schema.asgi.create_app` as the settings say.

    python -m schema.serve [--host HOST] [--port PORT]

Settings are read once, here; ``--host`` and ``--port`` override theirs (the dev stack and the
tests pick ports). uvicorn's own logging set-up is skipped: ``create_app`` routes its records
through ours.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from app.settings import Settings, get_settings
from app.ws_protocol import Utf8CheckedWebSockets
from schema.asgi import create_app


def uvicorn_config(settings: Settings, *, host: str | None = None, port: int | None = None) -> uvicorn.Config:
    # The app is told where it is served, so what it logs (`api.started`) is the URL really served.
    settings = settings.model_copy(update={"host": host or settings.host, "port": port or settings.port})
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws=Utf8CheckedWebSockets,
        # Progress messages are small and a deflate context per socket costs CPU on every message
        # and memory on every connection (bench/subscriptions.py); browsers cope either way.
        ws_per_message_deflate=settings.ws_compression,
        # One WebSocket message carries one document: the same bound as an HTTP body (uvicorn's
        # default is 16 MiB).
        ws_max_size=settings.max_body_bytes,
        # On SIGTERM uvicorn closes WebSockets with 1012 (service restart) at once; SSE streams and
        # slow requests get this long before they are cut.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m schema.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="interface to listen on (default: CHRONOS_HOST)")
    parser.add_argument("--port", type=int, help="port to listen on (default: CHRONOS_PORT)")
    args = parser.parse_args(argv)
    server = uvicorn.Server(uvicorn_config(get_settings(), host=args.host, port=args.port))
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn's own command line does, so supervisors see it


if __name__ == "__main__":
    main()
