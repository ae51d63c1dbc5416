"""One IoT Agent sandbox per test module; each test works in a tenant of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_iota import IotaStore, create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_iota.support import Iota


@pytest.fixture(scope="module")
def iota() -> Iterator[Iota]:
    store = IotaStore()
    with serving(create_app(SandboxConfig(), store)) as url:
        yield Iota(url, store)


@pytest.fixture
async def client(iota: Iota) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=iota.url, timeout=5) as http:
        yield http


@pytest.fixture
def service() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
