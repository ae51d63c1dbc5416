from __future__ import annotations

from collections.abc import Iterator

import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.runner import Sandbox, running_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(SandboxConfig(max_page_size=100)) as running:
        yield running
