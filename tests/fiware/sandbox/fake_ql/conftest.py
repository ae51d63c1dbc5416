"""One QuantumLeap sandbox per flavour and test module; each test works in its own tenant (a fresh
``Fiware-Service``), so tests do not see each other's tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_ql import QlStore, create_app
from fiware.sandbox.server import serving


@pytest.fixture(scope="module")
def store() -> QlStore:
    return QlStore()


@pytest.fixture(scope="module")
def http(store: QlStore) -> Iterator[httpx.Client]:
    """QuantumLeap 1.0.0, the latest release."""
    with (
        serving(create_app(SandboxConfig(), store)) as base_url,
        httpx.Client(base_url=base_url, timeout=5.0) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def master(store: QlStore) -> Iterator[httpx.Client]:
    """QuantumLeap master (1.0.1-dev), over the same tables."""
    config = SandboxConfig(ql_flavor="master")
    with (
        serving(create_app(config, store)) as base_url,
        httpx.Client(base_url=base_url, timeout=5.0) as client,
    ):
        yield client


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
