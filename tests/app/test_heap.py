from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_freezes_the_start_up_heap_and_makes_collections_rarer(restored_gc: None) -> None:
    built_at_start_up = [{"long": "lived"} for _ in range(1_000)]
    heap.settle()
    assert gc.get_freeze_count() >= len(built_at_start_up)
    assert gc.get_threshold() == heap.THRESHOLDS
    assert heap.THRESHOLDS[0] > 700, "CPython's default young generation collects every 700 objects"
