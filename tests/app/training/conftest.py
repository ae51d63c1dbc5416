from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.settings import Settings
from app.training.hub import ProgressHub


@pytest.fixture
async def hub(test_settings: Settings) -> AsyncIterator[ProgressHub]:
    """A started hub on the test Redis, with small queues so a slow listener fills one quickly."""
    started = ProgressHub(test_settings.redis_url, queue_size=8)
    await started.start()
    assert await started.wait_connected(5)
    try:
        yield started
    finally:
        await started.stop()
