"""The API process stops cleanly on SIGTERM: WebSockets told to reconnect, SSE cut after the grace."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.support import ApiServer, run_api

GRACE_SECONDS = 2
HEALTH = "subscription { healthUpdates(intervalSeconds: 1) { status } }"


async def test_sigterm_closes_websockets_with_1012_and_ends_sse_within_the_grace(
    service_env: dict[str, str], log_dir: Path, admin_key: str
) -> None:
    env = {**service_env, "CHRONOS_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
    with run_api(env, log_dir, key=admin_key) as api:
        url = api.graphql_url.replace("http", "ws")
        async with (
            websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as socket,
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=30)) as client,
            client.stream(
                "POST",
                api.graphql_url,
                json={"query": HEALTH},
                headers={"accept": "text/event-stream", **api.headers},
            ) as sse,
        ):
            await socket.send(json.dumps({"type": "connection_init", "payload": api.init_payload}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": HEALTH}}))
            assert json.loads(await socket.recv())["type"] == "next"
            lines = sse.aiter_lines()
            while not (await anext(lines)).startswith("data: "):
                pass

            api.process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(socket.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # service restart
            assert time.monotonic() - sent < 2, "WebSockets are closed at once, not after the grace"

            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, StopAsyncIteration)):
                while True:
                    await asyncio.wait_for(anext(lines), GRACE_SECONDS + 10)
        while api.process.poll() is None and time.monotonic() - sent < GRACE_SECONDS + 15:
            await asyncio.sleep(0.1)
        # uvicorn re-raises the signal once it has shut down, as a supervisor expects of SIGTERM.
        assert api.process.returncode in (0, -signal.SIGTERM), api.log_path.read_text()[-2000:]
        assert time.monotonic() - sent < GRACE_SECONDS + 15
        events = [
            json.loads(line).get("event") for line in api.log_path.read_text().splitlines() if line[:1] == "{"
        ]
        assert "api.stopped" in events, "the lifespan closed the clients: the shutdown was graceful"


def test_api_started_names_the_url_really_served(api: ApiServer) -> None:
    # The settings say port 8000; the suite serves on a free port given on the command line.
    started = [record for record in api.log_records() if record.get("event") == "api.started"]
    assert [record["graphql"] for record in started] == [f"{api.graphql_url}"]
