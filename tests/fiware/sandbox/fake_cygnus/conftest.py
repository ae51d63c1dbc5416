"""One Cygnus sandbox per test module, writing into the store of an STH-Comet sandbox that reads it back;
each test uses its own tenant (a fresh ``Fiware-Service``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from fiware.sandbox import fake_cygnus, fake_sth
from fiware.sandbox.server import serving


@pytest.fixture(scope="module")
def store() -> fake_sth.SthStore:
    return fake_sth.SthStore()


@pytest.fixture(scope="module")
def cygnus(store: fake_sth.SthStore) -> Iterator[httpx.Client]:
    with (
        serving(fake_cygnus.create_app(store=store)) as url,
        httpx.Client(base_url=url, timeout=5.0) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def sth(store: fake_sth.SthStore) -> Iterator[httpx.Client]:
    with serving(fake_sth.create_app(store=store)) as url, httpx.Client(base_url=url, timeout=5.0) as client:
        yield client


@pytest.fixture
def tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"
