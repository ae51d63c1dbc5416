"""The IoT Agent sandbox against ``iotagent-node-lib`` 4.14, over HTTP:
``/iot/about`` and the app's options.
"""

from __future__ import annotations

import time

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_iota import create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_iota.support import JSON_UTF8, Iota

# ---- /iot/about -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [pytest.param("/iot/about", id="about"), pytest.param("/version", id="version")]
)
async def test_about_reports_the_library_version_and_port_without_fiware_headers(
    client: httpx.AsyncClient, iota: Iota, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == JSON_UTF8
    assert response.json() == {
        "libVersion": "4.14.0",
        "port": httpx.URL(iota.url).port,
        "baseRoot": "/",
        "version": "0.0.0-sandbox",
    }


async def test_the_configured_latency_delays_every_answer() -> None:
    with serving(create_app(SandboxConfig(latency_seconds=0.2))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            started = time.monotonic()
            response = await http.get("/iot/about")
            elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed >= 0.2
