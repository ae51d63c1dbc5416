"""Scheduled and drift retraining end to end (API, worker and beat, sandbox STH-Comet and Orion):
a challenger is judged against the champion on the same recent holdout and the decision is kept
with its reason; a drift injected into the sensor marks the model drifting and starts one
retraining."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fiware.sandbox.runner import Sandbox
from tests.conftest import unique
from tests.schema.training.test_subscriptions import stream
from tests.support import ApiServer, GraphQL, WorkerProcess, run_worker
from tests.tasks.pipeline import create_model, seed_series, start, wait_for
from tests.tasks.test_model_forecasting import SET, until

POLICY = """
mutation($model: ID!, $input: RetrainingPolicyInput) {
  setRetrainingPolicy(modelId: $model, input: $input) {
    model { retrainingPolicy { schedule { intervalSeconds cron timeZone } promotionMargin
                               dataWindow { lastN durationSeconds } drift { factor retrain } }
            retraining { nextAt challengerJobId lastOutcome lastError } }
    errors { code message field }
  }
}"""
MODEL = """
query($id: ID!) {
  model(id: $id) {
    activeTrainingJobId
    retraining { nextAt challengerJobId lastTrigger lastOutcome lastError }
    monitoring { evaluatedAt drifting driftingSince referenceRmse driftTrainingJobId error
                 windows { windowSeconds pairs rmse } }
    trainingJobs(first: 20) { edges { node { id status challenge {
      trigger championJobId decidedAt promoted reason holdoutStart pairs championRmse challengerRmse margin
    } } } }
  }
}"""


UPDATES = """
subscription($model: ID) { modelUpdates(modelId: $model) { modelId kind at message trainingJobId } }"""
LIVE_DEBUG = """query($model: ID!) { model(id: $model) { forecasting { runCount missedCount lastError }
 liveAccuracy(windowsSeconds: [30, 600]) { windowSeconds forecasts pairs rmse } } }"""


@pytest.fixture(scope="module")
def ticking(worker_env: dict[str, str], log_dir: Path) -> Iterator[WorkerProcess]:
    """A worker whose beat runs the model ticks, fast: retraining every 2 s, checks every 5 s."""
    ticks = {"CHRONOS_RETRAINING_TICK_SECONDS": "2", "CHRONOS_MONITOR_INTERVAL_SECONDS": "5"}
    with run_worker({**worker_env, **ticks}, log_dir, name="retraining") as process:
        yield process


def add_readings(sandbox: Sandbox, entity: str, points: list[tuple[datetime, float]]) -> None:
    sandbox.sth.add_points(
        service="smart",
        service_path="/",
        entity_type="Sensor",
        entity_id=entity,
        attr_name="temperature",
        attr_type="Number",
        points=points,
    )


async def model_of(gql: GraphQL, model_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.ok(MODEL, {"id": model_id}))["model"]
    return found


def jobs_of(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in model["trainingJobs"]["edges"]]


async def test_a_scheduled_challenger_that_loses_keeps_the_champion_and_says_why(
    gql: GraphQL, ticking: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    # The champion learns 300 minutes that end an hour ago; the hour since is new to it.
    entity = unique("urn:ngsi-ld:Sensor")
    now = datetime.now(UTC)
    seed_series(fiware_sandbox, points=300, entity_id=entity)
    model = (await create_model(gql, entity))["id"]
    older = {
        "dateFrom": (now - timedelta(hours=6)).isoformat(),
        "dateTo": (now - timedelta(hours=1)).isoformat(),
    }
    champion = await wait_for(gql, (await start(gql, model, **older))["trainingJob"]["id"])
    assert champion["status"] == "COMPLETED", champion["error"]

    # A margin no retraining on the same sensor can meet: the challenger must lose.
    policy = {"schedule": {"intervalSeconds": 2}, "promotionMargin": 0.9, "dataWindow": {"lastN": 300}}
    answer = (await gql.ok(POLICY, {"model": model, "input": policy}))["setRetrainingPolicy"]
    assert answer["errors"] == [], answer["errors"]
    assert answer["model"]["retrainingPolicy"]["schedule"]["intervalSeconds"] == 2

    async def decided() -> dict[str, Any] | None:
        challengers = [j for j in jobs_of(await model_of(gql, model)) if j["challenge"]]
        done = [j for j in challengers if j["challenge"]["decidedAt"]]
        return done[-1] if done else None

    challenger = await until(decided, timeout=150)
    assert challenger is not None, await model_of(gql, model)
    await gql.ok(POLICY, {"model": model, "input": None})  # no more retrainings
    verdict = challenger["challenge"]
    assert challenger["status"] == "COMPLETED"
    assert verdict["trigger"] == "schedule" and verdict["championJobId"] == champion["id"]
    assert verdict["promoted"] is False and verdict["margin"] == 0.9
    assert verdict["pairs"] >= 10 and "the champion stays" in verdict["reason"], verdict
    assert verdict["challengerRmse"] > (1 - 0.9) * verdict["championRmse"]
    shown = await model_of(gql, model)
    assert shown["activeTrainingJobId"] == champion["id"]
    assert shown["retraining"]["lastOutcome"] in {"kept", "started", "skipped"}


async def test_bad_policies_are_refused_and_write_nothing(
    gql: GraphQL, ticking: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = (await create_model(gql, seed_series(fiware_sandbox, points=200)))["id"]
    cases = [
        ({"schedule": {"cron": "0 0 30 2 *"}}, ["input", "schedule", "cron"], "never fires"),
        (
            {"schedule": {"cron": "0 3 * * *", "timeZone": "Mars/Olympus"}},
            ["input", "schedule", "timeZone"],
            "time zone",
        ),
        ({"schedule": {"intervalSeconds": 5, "cron": "0 3 * * *"}}, ["input", "schedule"], "exactly one"),
        ({"dataWindow": {"lastN": 5000}}, ["input", "dataWindow", "lastN"], "200 points"),
        (
            {"dataWindow": {"durationSeconds": 30 * 86400}},
            ["input", "dataWindow", "durationSeconds"],
            "before",
        ),
        ({"promotionMargin": 1.5}, ["input", "promotionMargin"], "at most"),
    ]
    for policy, field, text in cases:
        answer = (await gql.ok(POLICY, {"model": model, "input": policy}))["setRetrainingPolicy"]
        assert answer["model"] is None, policy
        [error] = answer["errors"]
        assert error["code"] == "VALIDATION_ERROR" and error["field"] == field and text in error["message"], (
            error
        )
    shown = await model_of(gql, model)
    assert shown["retraining"]["nextAt"] is None
    cron = {"schedule": {"cron": "0 3 * * *", "timeZone": "Europe/Madrid"}}
    kept = (await gql.ok(POLICY, {"model": model, "input": cron}))["setRetrainingPolicy"]
    assert kept["errors"] == []
    next_at = datetime.fromisoformat(kept["model"]["retraining"]["nextAt"])
    local = next_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Madrid"))
    assert (local.hour, local.minute) == (3, 0) and next_at > datetime.now(UTC)
    unknown = await gql.ok(POLICY, {"model": "00000000-0000-0000-0000-000000000000", "input": cron})
    assert [e["code"] for e in unknown["setRetrainingPolicy"]["errors"]] == ["NOT_FOUND"]


async def test_a_drift_marks_the_model_drifting_and_starts_one_retraining(
    api: ApiServer, gql: GraphQL, ticking: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    # A sensor every 2 s, fed live by this test from its seeded history on; forecasts every 2 s.
    step = timedelta(seconds=2)
    entity = seed_series(fiware_sandbox, points=300, interval=step)
    drift, stop = asyncio.Event(), asyncio.Event()

    async def feed() -> None:
        # Readings continue the seeded sine until the drift, then jump 40 units above it.
        latest = datetime.now(UTC)
        while not stop.is_set():
            now = datetime.now(UTC)
            points = []
            while latest + step <= now:
                latest += step
                value = (
                    60.0 + (latest.timestamp() % 3)
                    if drift.is_set()
                    else 20 + 5 * math.sin(latest.timestamp() / 30)
                )
                points.append((latest, value))
            add_readings(fiware_sandbox, entity, points)
            await asyncio.sleep(0.5)

    feeder = asyncio.create_task(feed())
    try:
        model = (await create_model(gql, entity))["id"]
        job = await wait_for(gql, (await start(gql, model, lastN=300))["trainingJob"]["id"])
        assert job["status"] == "COMPLETED", job["error"]
        policy = {"drift": {"factor": 3, "sustainSeconds": 4, "windowSeconds": 30, "retrain": True}}
        answer = await gql.ok(POLICY, {"model": model, "input": policy})
        assert answer["setRetrainingPolicy"]["errors"] == []
        on = await gql.ok(SET, {"model": model, "enabled": True, "input": {"intervalSeconds": 2.0}})
        assert on["setModelForecasting"]["errors"] == []
        heard: list[dict[str, Any]] = []

        async def listen() -> None:
            async for event in stream(api, UPDATES, {"model": model}):
                heard.append(event)

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)  # subscribed before the drift
        drift.set()

        async def drifting() -> dict[str, Any] | None:
            shown = await model_of(gql, model)
            return shown if shown["monitoring"]["drifting"] else None

        shown = await until(drifting, timeout=90)
        if shown is None:  # say what the checks saw
            seen = (await model_of(gql, model))["monitoring"], await gql.ok(LIVE_DEBUG, {"model": model})
            raise AssertionError(f"not drifting after 90 s: {seen}")
        monitoring = shown["monitoring"]
        assert monitoring["referenceRmse"] is not None and monitoring["driftingSince"] is not None
        [window] = [w for w in monitoring["windows"] if w["windowSeconds"] == 30]
        assert window["rmse"] > 3 * monitoring["referenceRmse"]
        started = await until(lambda: _drift_jobs(gql, model), timeout=30)
        assert len(started) == 1, started
        await asyncio.sleep(12)  # two more checks while still drifting: no second retraining
        assert len(await _drift_jobs(gql, model)) == 1
        listener.cancel()
        kinds = [event["kind"] for event in heard]
        assert kinds.count("DRIFTING") == 1 and "RETRAINING_STARTED" in kinds, heard
        assert all(event["modelId"] == model for event in heard)
        drifted = heard[kinds.index("DRIFTING")]
        assert drifted["trainingJobId"] == job["id"] and "above 3" in drifted["message"]
        assert heard[kinds.index("RETRAINING_STARTED")]["trainingJobId"] == started[0]["id"]
        await gql.ok(SET, {"model": model, "enabled": False})
    finally:
        stop.set()
        await feeder


async def _drift_jobs(gql: GraphQL, model: str) -> list[dict[str, Any]]:
    jobs = jobs_of(await model_of(gql, model))
    return [j for j in jobs if j["challenge"] and j["challenge"]["trigger"] == "drift"]
