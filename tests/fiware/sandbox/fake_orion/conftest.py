"""One Orion (3.12.0) and one notification receiver per test module; each test works in its own
tenant (a fresh ``Fiware-Service``) and receives on its own path, so tests do not see each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_orion import create_app
from fiware.sandbox.server import serving
from tests.fiware.sandbox.fake_orion.support import Receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    with serving(found.app()) as url:
        found.url = url
        yield found


@pytest.fixture(scope="module")
def orion_app() -> Starlette:
    return create_app(SandboxConfig())


@pytest.fixture(scope="module")
def orion_url(orion_app: Starlette) -> Iterator[str]:
    with serving(orion_app) as url:
        yield url


@pytest.fixture
def client(orion_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=orion_url, timeout=5) as found:
        yield found


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:16]}"


@pytest.fixture
def sink(receiver: Receiver) -> str:
    """A fresh notification path on the receiver."""
    return f"/notify/{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def orion4_url() -> Iterator[str]:
    with serving(create_app(SandboxConfig(orion_version="4.0.0"))) as url:
        yield url
