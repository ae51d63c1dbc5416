"""Collecting chunks against the sandbox's STH-Comet: progress page by page, counted once per chunk."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.models.enums import ModelType, TargetMode
from app.timeutil import utcnow
from app.training import collection, events
from app.training.documents import (
    Lease,
    TrainingChunkDocument,
    TrainingConfig,
    TrainingJobDocument,
    TrainingRequest,
    TrainingStatus,
    chunk_id,
)
from app.training.failures import StepFailed, TaskIdentity
from fiware.http import RetryPolicy
from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from fiware.sth import Collected, Point, ReadStopped, SthClient
from tests.tasks.pipeline import seed_series

CHUNK = 1000
# Each page waits this long in the sandbox: ten rounds of pages a chunk, ~2.5 s a chunk.
PAGE_DELAY = 0.25


@pytest.fixture(params=[(100, 1), (20, 5)], ids=["pages-one-at-a-time", "five-pages-at-once"])
async def sth(request: pytest.FixtureRequest, fiware_sandbox: Sandbox) -> AsyncIterator[SthClient]:
    page, concurrency = request.param
    async with httpx.AsyncClient(base_url=fiware_sandbox.sth_url, timeout=10) as http:
        yield SthClient(http, max_page_size=page, concurrency=concurrency, retry=RetryPolicy(attempts=1))
    fiware_sandbox.faults["sth"].planned.clear()


async def collecting_job(entity_id: str, *, chunks: int) -> UUID:
    job_id = uuid4()
    config = TrainingConfig(
        model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[], lookback_window=8,
        forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2, learning_rate=0.001,
        validation_ratio=0.15, test_ratio=0.15, early_stopping_patience=0, entity_type="Sensor",
        entity_id=entity_id, feature="temperature", fiware_service="smart", fiware_service_path="/",
    )  # fmt: skip
    await TrainingJobDocument(
        id=job_id,
        model_id=uuid4(),
        status=TrainingStatus.COLLECTING_DATA,
        request=TrainingRequest(last_n=CHUNK * chunks),
        config=config,
        request_fingerprint="x",
        points_available=CHUNK * chunks,
        points_requested=CHUNK * chunks,
        chunks_total=chunks,
        lease=Lease(task_id="orchestrate", run="orchestration-run", worker="host:1", heartbeat_at=utcnow()),
    ).insert()
    for index in range(chunks):
        await TrainingChunkDocument(
            id=chunk_id(job_id, index), job_id=job_id, index=index, h_offset=index * CHUNK, h_limit=CHUNK
        ).insert()
    return job_id


async def shown(job_id: UUID) -> events.ProgressEvent:
    job = await TrainingJobDocument.get(job_id)
    assert job is not None
    return events.event_of(job)


async def watch(job_id: UUID, work: Awaitable[Any], *, timeout: float = 60) -> list[tuple[int, float]]:
    """(points, fraction) of the job's event every 50 ms while ``work`` runs, and once after."""
    task = asyncio.ensure_future(work)
    seen: list[tuple[int, float]] = []
    deadline = time.monotonic() + timeout
    while not task.done():
        assert time.monotonic() < deadline, f"collection still running after {timeout} s: {seen[-5:]}"
        event = await shown(job_id)
        seen.append((event.points_collected, event.progress))
        await asyncio.sleep(0.05)
    await task
    event = await shown(job_id)
    return [*seen, (event.points_collected, event.progress)]


def me(index: int, *, redelivered: bool = False) -> TaskIdentity:
    return TaskIdentity(task_id=f"chunk-{index}", worker="host:2", redelivered=redelivered)


async def test_points_and_fraction_rise_page_by_page_within_parallel_chunks(
    beanie_db: str, fiware_sandbox: Sandbox, sth: SthClient
) -> None:
    job_id = await collecting_job(seed_series(fiware_sandbox, points=2 * CHUNK), chunks=2)
    fiware_sandbox.faults["sth"].inject(Fault(delay=PAGE_DELAY), times=2 * CHUNK // sth.max_page_size)
    both = asyncio.gather(
        *(collection.collect_chunk(job_id=job_id, index=index, me=me(index), history=sth) for index in (0, 1))
    )
    seen = await watch(job_id, both)

    assert seen[-1][0] == 2 * CHUNK
    # While both chunks were still paging (before the first 1,000 of either was in), points showed.
    during = [points for points, _ in seen if 0 < points < CHUNK]
    assert during, f"no progress within the chunks: {sorted(set(seen))}"
    points = [p for p, _ in seen]
    fractions = [f for _, f in seen]
    assert points == sorted(points) and fractions == sorted(fractions), seen
    assert all(0 <= p <= 2 * CHUNK for p in points)
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.points_collected == 2 * CHUNK and job.chunk_progress == {}
    assert job.chunks_done == 2


async def showing_progress(job_id: UUID, sth: SthClient) -> asyncio.Future[bool]:
    """The chunk's first execution, running, once the job shows some of its points."""
    running = asyncio.ensure_future(collection.collect_chunk(job_id=job_id, index=0, me=me(0), history=sth))
    deadline = time.monotonic() + 30
    while (await shown(job_id)).points_collected == 0:
        assert time.monotonic() < deadline and not running.done(), "the chunk showed no progress"
        await asyncio.sleep(0.05)
    return running


async def test_a_redelivered_chunk_restarts_its_own_count_without_double_counting(
    beanie_db: str, fiware_sandbox: Sandbox, sth: SthClient
) -> None:
    job_id = await collecting_job(seed_series(fiware_sandbox, points=CHUNK), chunks=1)
    fiware_sandbox.faults["sth"].inject(Fault(delay=PAGE_DELAY), times=2 * CHUNK // sth.max_page_size)
    first = await showing_progress(job_id, sth)
    # Its process dies mid-chunk: the count it left behind must not add to the next execution's.
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    left = (await shown(job_id)).points_collected
    assert 0 < left < CHUNK

    again = collection.collect_chunk(job_id=job_id, index=0, me=me(0, redelivered=True), history=sth)
    seen = await watch(job_id, again)
    assert max(points for points, _ in seen) <= CHUNK, seen
    assert seen[-1][0] == CHUNK
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.points_collected == CHUNK and job.chunk_progress == {}


async def test_a_duplicate_message_leaves_the_running_chunk_alone(
    beanie_db: str, fiware_sandbox: Sandbox, sth: SthClient
) -> None:
    job_id = await collecting_job(seed_series(fiware_sandbox, points=CHUNK), chunks=1)
    fiware_sandbox.faults["sth"].inject(Fault(delay=PAGE_DELAY), times=CHUNK // sth.max_page_size)
    running = await showing_progress(job_id, sth)
    # The same task id again, neither redelivered nor retried (a re-sent chunk plan): nothing to do.
    assert not await collection.collect_chunk(job_id=job_id, index=0, me=me(0), history=sth)
    assert await running
    assert (await shown(job_id)).points_collected == CHUNK


async def test_an_older_execution_still_running_stops_when_a_redelivery_takes_the_chunk(
    beanie_db: str, fiware_sandbox: Sandbox, sth: SthClient
) -> None:
    job_id = await collecting_job(seed_series(fiware_sandbox, points=CHUNK), chunks=1)
    fiware_sandbox.faults["sth"].inject(Fault(delay=PAGE_DELAY), times=2 * CHUNK // sth.max_page_size)
    older = await showing_progress(job_id, sth)
    newer = collection.collect_chunk(job_id=job_id, index=0, me=me(0, redelivered=True), history=sth)
    seen = await watch(job_id, newer)
    # The older one finds its count replaced at its next heartbeat and stops (or, had its read ended
    # first, finds the chunk claimed by the newer one): either way it does not finish the chunk.
    try:
        finished = await older
    except ReadStopped:
        finished = False
    assert not finished
    assert max(points for points, _ in seen) <= CHUNK and seen[-1][0] == CHUNK
    job = await TrainingJobDocument.get(job_id)
    assert job is not None and job.points_collected == CHUNK and job.chunks_done == 1


def test_a_job_collects_the_newest_points_it_asked_for_or_all() -> None:
    assert collection.requested_points(total=500, last_n=None) == 500
    assert collection.requested_points(total=500, last_n=120) == 120
    assert collection.requested_points(total=80, last_n=120) == 80


def test_chunks_cover_the_newest_points_in_order_and_the_last_one_takes_the_rest() -> None:
    slices = collection.chunk_slices(total=2500, requested=2200, chunk_points=1000)
    assert slices == [(300, 1000), (1300, 1000), (2300, 200)]
    assert collection.chunk_slices(total=10, requested=10, chunk_points=1000) == [(0, 10)]
    assert collection.chunk_slices(total=10, requested=0, chunk_points=1000) == []


def test_a_plan_records_its_chunks_and_resets_the_counts() -> None:
    values = collection.plan_values(total=2500, requested=1200, chunks=2)
    assert values["chunks_total"] == 2 and values["points_collected"] == values["chunks_done"] == 0
    assert (values["points_available"], values["points_requested"]) == (2500, 1200)
    assert values["progress.message"] == "collecting 1200 points in 2 chunk(s)"


CONFIG = TrainingConfig(
    model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[], lookback_window=8,
    forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2, learning_rate=0.001,
    validation_ratio=0.15, test_ratio=0.15, early_stopping_patience=0, entity_type="Sensor",
    entity_id="urn:s", feature="t", fiware_service="smart", fiware_service_path="/",
)  # fmt: skip


def test_a_series_that_shrank_below_the_windows_fails_the_job() -> None:
    collection.check_enough(CONFIG, requested=100, admitted=100)
    with pytest.raises(StepFailed) as failed:
        collection.check_enough(CONFIG, requested=3, admitted=100)
    assert failed.value.code == "INSUFFICIENT_DATA" and "it held 100" in failed.value.message


def test_every_entry_sth_answered_counts_as_received() -> None:
    points = [Point(timestamp=utcnow(), value=1.0), Point(timestamp=utcnow(), value=2.0)]
    assert collection.entries_received(Collected(points=points, requested=10, dropped=3, duplicates=1)) == 6
