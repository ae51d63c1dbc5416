"""Fixtures of the recurring-forecast tests that reach the FIWARE sandbox (a module may keep its own)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from app.resources import open_fiware
from app.settings import Settings
from fiware.clients import FiwareClients
from fiware.sandbox.runner import Sandbox, running_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox() as running:
        yield running


@pytest.fixture
async def fiware(sandbox: Sandbox) -> AsyncIterator[FiwareClients]:
    settings = Settings(
        _env_file=None,
        orion_url=sandbox.orion_url,
        sth_comet_url=sandbox.sth_url,
        iot_agent_url=sandbox.iota_url,
    )
    opened = open_fiware(settings)
    try:
        yield opened
    finally:
        await opened.close()
        for faults in sandbox.faults.values():
            faults.planned.clear()
