from __future__ import annotations

from collections.abc import Iterator

import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.runner import Sandbox, running_sandbox


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with running_sandbox(SandboxConfig(max_page_size=100)) as running:
        yield running


@pytest.fixture
def sandbox(module_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox; faults a test planned but did not use never leak into the next one."""
    yield module_sandbox
    for faults in module_sandbox.faults.values():
        faults.planned.clear()
