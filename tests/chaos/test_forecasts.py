"""Recurring forecasts under faults: Orion answering 503 or hanging, every forecast worker stopped.

The standard: every slot on the grid ``first slot + k·interval`` ends published exactly once or
recorded as missed with a reason; after an outage one run for the current slot, labelled with the
current slot's time, and no burst of backlog. Each scenario runs a worker of its own on the
forecast queues (the session's worker trains the job and keeps beat ticking, but steps aside from
forecasting), records with the ``chaos`` fixture what it held and lost, and then asserts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.devstack import alive, descendants
from app.queues import Queue
from app.settings import Settings
from fiware.sandbox.faults import Outage
from fiware.sandbox.runner import Sandbox
from tasks.app import create_celery
from tests.chaos.conftest import ChaosReport
from tests.support import ApiServer, GraphQL, WorkerProcess, run_worker, sample, scrape
from tests.tasks.test_forecasting import TOGGLE, trained_job

INTERVAL = 2.0
# The forecast worker's FIWARE timeout: what a hanging Orion may hold a run for.
FIWARE_TIMEOUT = 1.0
OUTAGE_SLOTS = 3
DOWN_SLOTS = 4
# A forecast is sent to Orion only while its slot is current; the worker logs it once Orion
# answered, which may be just after the next slot began.
ANSWER_SECONDS = 0.25
# Slot times are kept to the millisecond (BSON dates).
SAME_SLOT = timedelta(milliseconds=5)
MISSED = "chronos_forecast_slots_missed_total"
FORECAST_QUEUES = (Queue.FORECAST_SCHEDULING.value, Queue.FORECAST_EXECUTION.value)

STATE = """
query($id: ID!) {
  trainingJob(id: $id) {
    prediction { enabled runCount lastError missedCount recentMisses { slot reason } }
  }
}"""
# What the API answered before missed slots were recorded: the same without them.
STATE_BEFORE_MISSES = """
query($id: ID!) { trainingJob(id: $id) { prediction { enabled runCount lastError } } }"""


@dataclass
class State:
    run_count: int
    last_error: str | None
    missed_count: int | None  # None: the API does not report missed slots
    misses: list[tuple[datetime, str]] = field(default_factory=list)


async def state(gql: GraphQL, job_id: str) -> State:
    answer = await gql.run(STATE, {"id": job_id})
    if answer.errors:
        found = (await gql.ok(STATE_BEFORE_MISSES, {"id": job_id}))["trainingJob"]["prediction"]
        return State(found["runCount"], found["lastError"], None)
    assert answer.data is not None
    found = answer.data["trainingJob"]["prediction"]
    misses = [(datetime.fromisoformat(m["slot"]), m["reason"]) for m in found["recentMisses"]]
    return State(found["runCount"], found["lastError"], found["missedCount"], misses)


@dataclass(frozen=True)
class Run:
    slot: datetime
    at: datetime  # when the worker logged it published


def records(workers: list[WorkerProcess], job_id: str) -> list[dict[str, Any]]:
    """The workers' log records about the job."""
    found: list[dict[str, Any]] = []
    for worker in workers:
        for line in worker.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("job_id") == job_id:
                found.append(record)
    return found


def published(workers: list[WorkerProcess], job_id: str) -> list[Run]:
    """Every run the workers logged as published for the job, in the order they ran."""
    runs = [
        Run(datetime.fromisoformat(record["slot"]), datetime.fromisoformat(record["timestamp"]))
        for record in records(workers, job_id)
        if record.get("event") == "prediction.published"
    ]
    return sorted(runs, key=lambda run: run.at)


def outage_log(workers: list[WorkerProcess], job_id: str, failed: int) -> tuple[list[str], list[str]]:
    """An outage of ``failed`` slots: one line when it began, one when it ended, none per failure."""
    warnings = Counter(
        str(record["event"]) for record in records(workers, job_id) if record.get("level") == "warning"
    )
    recovered = sum(record.get("event") == "prediction.recovered" for record in records(workers, job_id))
    line = (
        f"log: {sum(warnings.values())} warning lines for {failed} failed slots {dict(warnings)}, "
        f"{recovered} recovery line"
    )
    ok = (
        warnings["prediction.publish_failed"] == 1
        and set(warnings) <= {"prediction.publish_failed", "prediction.still_failing"}
        and warnings["prediction.still_failing"] <= 1
        and recovered == 1
    )
    return ([line], []) if ok else ([], [line])


async def published_after(
    workers: list[WorkerProcess], job_id: str, moment: datetime, count: int
) -> list[Run]:
    """Wait (at most 30 s) until ``count`` runs were published after ``moment``; all of them."""
    deadline = time.monotonic() + 30
    while True:
        runs = [run for run in published(workers, job_id) if run.at >= moment]
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.1)


@dataclass
class Ledger:
    """Each grid slot from the first published one to the newest published one, accounted for."""

    slots: int
    published: int
    duplicates: list[datetime]
    off_grid: list[datetime]
    both: list[datetime]
    missed: Counter[str]
    unaccounted: list[datetime]


def ledger(runs: list[Run], misses: list[tuple[datetime, str]], interval: float) -> Ledger:
    step = timedelta(seconds=interval)
    first, last = min(run.slot for run in runs), max(run.slot for run in runs)
    grid = [first + k * step for k in range(round((last - first) / step) + 1)]

    def on(slot: datetime, moments: list[datetime]) -> bool:
        return any(abs(slot - moment) < SAME_SLOT for moment in moments)

    slots = [run.slot for run in runs]
    missed_slots = [slot for slot, _ in misses if first - SAME_SLOT < slot < last + SAME_SLOT]
    return Ledger(
        slots=len(grid),
        published=sum(on(slot, slots) for slot in grid),
        duplicates=sorted({s for s in slots if sum(abs(s - o) < SAME_SLOT for o in slots) > 1}),
        off_grid=[slot for slot in slots if not on(slot, grid)],
        both=[slot for slot in grid if on(slot, slots) and on(slot, missed_slots)],
        missed=Counter(reason for slot, reason in misses if on(slot, grid)),
        unaccounted=[slot for slot in grid if not on(slot, slots) and not on(slot, missed_slots)],
    )


async def settled(gql: GraphQL, workers: list[WorkerProcess], job_id: str) -> tuple[State, list[Run], Ledger]:
    """The job's state, runs and ledger once every slot up to the last published one is accounted
    for, or as they stand after a bounded wait. A slot whose retry (or whose overtaken claim) is
    still being settled when a later slot is published is recorded moments later: that is not a
    loss, and reading at once would call it one."""
    deadline = time.monotonic() + 3 * INTERVAL + 3 * FIWARE_TIMEOUT
    while True:
        final = await state(gql, job_id)
        runs = published(workers, job_id)
        book = ledger(runs, final.misses, INTERVAL)
        if not book.unaccounted or time.monotonic() > deadline:
            return final, runs, book
        await asyncio.sleep(0.25)


def clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S.%f")[:-3]


def accounting(book: Ledger, state: State) -> tuple[list[str], list[str]]:
    held, lost = [], []
    held.append(f"{book.published} of {book.slots} grid slots published")
    if book.missed:
        held.append(f"{sum(book.missed.values())} recorded missed: {dict(book.missed)}")
    if state.missed_count is None:
        lost.append("the API reports no missed slots (no missedCount, no recentMisses)")
    if book.unaccounted:
        lost.append(
            f"{len(book.unaccounted)} slots neither published nor recorded "
            f"({clock(book.unaccounted[0])} to {clock(book.unaccounted[-1])})"
        )
    else:
        held.append("every grid slot published or recorded missed")
    for kind, slots in (
        ("published twice", book.duplicates),
        ("published off the grid", book.off_grid),
        ("both published and recorded missed", book.both),
    ):
        if slots:
            lost.append(f"{len(slots)} slots {kind}: {[clock(s) for s in slots][:5]}")
    if not (book.duplicates or book.both):
        held.append("no slot published twice")
    return held, lost


def recovery(runs: list[Run], since: datetime, interval: float) -> tuple[list[str], list[str]]:
    """The runs after ``since``: each for the slot current when it ran, so no backlog and no stale label."""
    after = [run for run in runs if run.at >= since]
    first = after[0]
    lag = (first.at - first.slot).total_seconds()
    label = f"first run after recovery labelled {clock(first.slot)}, ran {lag:.2f} s after that slot"
    stale = [run for run in after if not 0 <= (run.at - run.slot).total_seconds() < interval + ANSWER_SECONDS]
    burst = f"{len(after)} runs after recovery, {len(stale)} of them for a slot that was no longer current"
    held: list[str] = []
    lost: list[str] = []
    (held if 0 <= lag < interval + ANSWER_SECONDS else lost).append(label)
    (held if not stale else lost).append(burst)
    return held, lost


def missed_metric(before: dict[Any, float], after: dict[Any, float], reason: str) -> float:
    return sample(after, MISSED, reason=reason) - sample(before, MISSED, reason=reason)


@pytest.fixture(scope="module")
def forecasting_to_ourselves(session_worker: WorkerProcess, worker_env: dict[str, str]) -> Iterator[None]:
    """The session's worker stops consuming the forecast queues for this module (its beat ticks on)."""
    control = create_celery(
        Settings(_env_file=None, celery_broker_url=worker_env["CHRONOS_CELERY_BROKER_URL"])
    ).control
    destination = [f"pipeline@{socket.gethostname()}"]
    for queue in FORECAST_QUEUES:
        assert control.cancel_consumer(queue, destination=destination, reply=True)
    try:
        yield
    finally:
        for queue in FORECAST_QUEUES:
            control.add_consumer(queue, destination=destination, reply=True)


@pytest.fixture
def forecast_env(worker_env: dict[str, str], forecasting_to_ourselves: None) -> dict[str, str]:
    return {
        **worker_env,
        "CHRONOS_FIWARE_TIMEOUT_SECONDS": str(FIWARE_TIMEOUT),
        "CHRONOS_SHUTDOWN_GRACE_SECONDS": "2",
    }


@contextmanager
def forecaster(env: dict[str, str], log_dir: Path, name: str) -> Iterator[WorkerProcess]:
    with run_worker(env, log_dir, name=name, concurrency=2, beat=False) as process:
        yield process


@pytest.fixture
async def enabled(gql: GraphQL, fiware_sandbox: Sandbox) -> AsyncIterator[str]:
    """A trained job; switched off again (and Orion's switch too) whatever the test did."""
    job_id = await trained_job(gql, fiware_sandbox)
    try:
        yield job_id
    finally:
        fiware_sandbox.faults["orion"].switch(Outage.OFF)
        await gql.ok(TOGGLE, {"id": job_id, "enabled": False})


async def enable(gql: GraphQL, job_id: str) -> None:
    payload = await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": INTERVAL}})
    assert payload["togglePrediction"]["errors"] == []


def now() -> datetime:
    return datetime.now(UTC)


async def hold_outage(gql: GraphQL, job_id: str, seconds: float) -> list[str]:
    """Poll while the fault lasts; every lastError seen meanwhile."""
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        error = (await state(gql, job_id)).last_error
        if error and error not in errors:
            errors.append(error)
        await asyncio.sleep(0.1)
    return errors


async def orion_outage(
    mode: Outage, *, api: ApiServer, gql: GraphQL, sandbox: Sandbox, job_id: str, own: WorkerProcess
) -> tuple[list[str], list[str], dict[str, Any]]:
    await enable(gql, job_id)
    assert await published_after([own], job_id, now() - timedelta(minutes=5), 1), own.log_text()[-3000:]
    before = scrape(api)
    sandbox.faults["orion"].switch(mode)
    try:
        errors = await hold_outage(gql, job_id, OUTAGE_SLOTS * INTERVAL + 0.5)
    finally:
        sandbox.faults["orion"].switch(Outage.OFF)
    back = now()
    after_runs = await published_after([own], job_id, back, 2)
    final, runs, book = await settled(gql, [own], job_id)
    held, lost = accounting(book, final)
    if after_runs:
        more = recovery(runs, back, INTERVAL)
        held, lost = held + more[0], lost + more[1]
        waited = (after_runs[0].at - back).total_seconds()
        (held if waited < INTERVAL + FIWARE_TIMEOUT + 1 else lost).append(
            f"first run published {waited:.2f} s after Orion came back"
        )
    else:
        lost.append("nothing published within 30 s of Orion coming back")
    (held if errors else lost).append(f"lastError during the outage: {errors[:1] or 'null'}")
    (held if final.last_error is None else lost).append(f"lastError after recovery: {final.last_error!r}")
    counted = missed_metric(before, scrape(api), "ORION_UNAVAILABLE")
    (held if counted >= book.missed["ORION_UNAVAILABLE"] > 0 else lost).append(
        f"{MISSED}{{reason=ORION_UNAVAILABLE}} rose by {counted:g}"
    )
    logged = outage_log([own], job_id, sum(book.missed.values()) + len(book.unaccounted))
    held, lost = held + logged[0], lost + logged[1]
    facts = {"book": book, "errors": errors, "final": final, "after": after_runs}
    return held, lost, facts


def assert_outage_recorded(facts: dict[str, Any]) -> None:
    book: Ledger = facts["book"]
    assert book.unaccounted == [] and book.duplicates == [] and book.off_grid == [] and book.both == []
    # A slot the busy machine could not start (or finish) in time may say NO_WORKER (or LATE).
    assert book.missed["ORION_UNAVAILABLE"] >= OUTAGE_SLOTS - 1, book.missed
    assert set(book.missed) <= {"ORION_UNAVAILABLE", "NO_WORKER", "LATE"}, book.missed
    assert any("Orion" in error for error in facts["errors"]), facts["errors"]
    assert facts["final"].last_error is None
    assert facts["final"].missed_count == len(facts["final"].misses)


async def test_orion_answering_503_for_a_few_slots(
    api: ApiServer,
    gql: GraphQL,
    fiware_sandbox: Sandbox,
    enabled: str,
    forecast_env: dict[str, str],
    log_dir: Path,
    chaos: ChaosReport,
) -> None:
    with forecaster(forecast_env, log_dir, "orion-503") as own:
        held, lost, facts = await orion_outage(
            Outage.UNAVAILABLE, api=api, gql=gql, sandbox=fiware_sandbox, job_id=enabled, own=own
        )
    chaos.record(
        f"forecasts: Orion answers 503 for {OUTAGE_SLOTS} slots of {INTERVAL:g} s", held=held, lost=lost
    )
    assert lost == []
    assert_outage_recorded(facts)


async def test_orion_hanging_for_a_few_slots(
    api: ApiServer,
    gql: GraphQL,
    fiware_sandbox: Sandbox,
    enabled: str,
    forecast_env: dict[str, str],
    log_dir: Path,
    chaos: ChaosReport,
) -> None:
    with forecaster(forecast_env, log_dir, "orion-hang") as own:
        held, lost, facts = await orion_outage(
            Outage.HANG, api=api, gql=gql, sandbox=fiware_sandbox, job_id=enabled, own=own
        )
    chaos.record(
        f"forecasts: Orion hangs for {OUTAGE_SLOTS} slots of {INTERVAL:g} s "
        f"(FIWARE timeout {FIWARE_TIMEOUT:g} s)",
        held=held,
        lost=lost,
    )
    assert lost == []
    assert_outage_recorded(facts)


def stop_worker(own: WorkerProcess, signum: signal.Signals) -> float:
    """Stop the worker (SIGKILL: its pool too, as an OOM kill or a lost host would); seconds it took."""
    sent = time.monotonic()
    targets = [own.process.pid, *(descendants(own.process.pid) if signum is signal.SIGKILL else [])]
    for pid in targets:
        os.kill(pid, signum)
    deadline = sent + 30
    while (own.process.poll() is None or any(map(alive, targets[1:]))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert own.process.poll() is not None, f"the worker outlived {signum.name} by 30 s"
    return time.monotonic() - sent


async def hold_down(gql: GraphQL, job_id: str, seconds: float) -> int:
    """Wait out the outage; how many runs were published meanwhile (nothing should run)."""
    start = (await state(gql, job_id)).run_count
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return (await state(gql, job_id)).run_count - start


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_every_forecast_worker_stopped_for_several_slots(
    signum: signal.Signals,
    api: ApiServer,
    gql: GraphQL,
    enabled: str,
    forecast_env: dict[str, str],
    log_dir: Path,
    chaos: ChaosReport,
) -> None:
    job_id, name = enabled, signum.name.lower()
    await enable(gql, job_id)
    with forecaster(forecast_env, log_dir, f"stopped-{name}-1") as first:
        assert await published_after([first], job_id, now() - timedelta(minutes=5), 1), first.log_text()[
            -3000:
        ]
        stopped_in = stop_worker(first, signum)
    before = scrape(api)
    ran_while_down = await hold_down(gql, job_id, DOWN_SLOTS * INTERVAL)
    with forecaster(forecast_env, log_dir, f"stopped-{name}-2") as second:
        back = now()
        after_runs = await published_after([first, second], job_id, back, 2)
        final, runs, book = await settled(gql, [first, second], job_id)
    held, lost = accounting(book, final)
    held.append(f"worker gone {stopped_in:.1f} s after {signum.name}")
    (held if ran_while_down == 0 else lost).append(f"{ran_while_down} runs published while no worker ran")
    if after_runs:
        more = recovery(runs, back, INTERVAL)
        held, lost = held + more[0], lost + more[1]
    else:
        lost.append("nothing published within 30 s of the restart")
    counted = missed_metric(before, scrape(api), "NO_WORKER")
    (held if counted >= book.missed["NO_WORKER"] >= DOWN_SLOTS - 1 else lost).append(
        f"{MISSED}{{reason=NO_WORKER}} rose by {counted:g}"
    )
    chaos.record(
        f"forecasts: every forecast worker stopped ({signum.name}) for {DOWN_SLOTS} slots of {INTERVAL:g} s",
        held=held,
        lost=lost,
    )
    assert lost == []
    assert book.unaccounted == [] and book.duplicates == [] and book.both == []
    assert book.missed["NO_WORKER"] >= DOWN_SLOTS - 1, book.missed
    assert final.missed_count == len(final.misses)
