"""Recurring forecasts end to end: API, worker and beat, Orion, the subscription to STH-Comet."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from app.devstack import beat_command, stop_process
from fiware.sandbox.faults import Fault, Outage
from fiware.sandbox.runner import Sandbox
from tests.conftest import both_stores
from tests.support import ApiServer, GraphQL, WorkerProcess, sample, scrape
from tests.tasks.pipeline import DELETE_JOB, STORE_FAULTS, create_model, seed_series, start, wait_for
from tests.tasks.test_worker_log import records as worker_records

TOGGLE = """
mutation($id: ID!, $enabled: Boolean!, $input: PredictionToggleInput) {
  togglePrediction(trainingJobId: $id, enabled: $enabled, input: $input) {
    prediction { entityId entityType enabled intervalSeconds nextPredictionAt lastRunAt lastError runCount }
    errors { code message field }
  }
}"""

MODEL_OF = "query($id: ID!) { trainingJob(id: $id) { modelId } }"
DELETE_MODEL = "mutation($id: ID!) { deleteModel(id: $id) { deletedId errors { code message } } }"

SCHEDULE = """
query($id: ID!) {
  trainingJob(id: $id) {
    prediction {
      enabled runCount lastRunAt lastError intervalSeconds missedCount recentMisses { slot reason }
    }
  }
}"""


HISTORY = """
query($id: ID!, $first: Int!, $after: String, $from: DateTime) {
  predictionHistory(trainingJobId: $id, first: $first, after: $after, from: $from) {
    edges { cursor node { recordedAt generatedAt horizon intervalLevel
                          points { step value targetTimestamp lower upper } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
# Only the run times: a hundred runs with every point's bounds would cost more than the limit allows.
RUN_TIMES = """
query($id: ID!) {
  predictionHistory(trainingJobId: $id, first: 100) { edges { node { recordedAt generatedAt } } }
}"""


async def schedule(gql: GraphQL, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.ok(SCHEDULE, {"id": job_id}))["trainingJob"]["prediction"]
    return found


async def until(gql: GraphQL, job_id: str, check: Any, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = await schedule(gql, job_id)
        if check(current) or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.2)


def orion_misses(schedule: dict[str, Any]) -> list[dict[str, str]]:
    return [miss for miss in schedule["recentMisses"] if miss["reason"] == "ORION_UNAVAILABLE"]


async def trained_job(gql: GraphQL, sandbox: Sandbox) -> str:
    model = await create_model(gql, seed_series(sandbox, points=300))
    job = await wait_for(gql, (await start(gql, model["id"]))["trainingJob"]["id"])
    assert job["status"] == "COMPLETED", job["error"]
    return str(job["id"])


def forecast_history(sandbox: Sandbox, entity_id: str, store: str = "sth-comet") -> int:
    """The forecasts of ``entity_id`` the history store holds."""
    if store == "quantumleap":
        return sum(row.entity_id == entity_id for row in sandbox.ql.rows("smart", "Prediction"))
    return sandbox.sth.count(
        service="smart",
        service_path="/",
        entity_type="Prediction",
        entity_id=entity_id,
        attr_name="forecastSeries",
    )


@both_stores
async def test_enabling_provisions_fiware_and_forecasts_reach_orion_and_the_store(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, history_store: str
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    payload = (
        await gql.ok(
            TOGGLE,
            {
                "id": job_id,
                "enabled": True,
                "input": {
                    "intervalSeconds": 1.5,
                    "attributes": [{"name": "site", "value": "buoy-b01"}, {"name": "public", "value": True}],
                },
            },
        )
    )["togglePrediction"]
    assert payload["errors"] == []
    prediction = payload["prediction"]
    entity_id = prediction["entityId"]
    assert entity_id == f"urn:ngsi-ld:Chronos:Prediction:{job_id.replace('-', '')}"
    assert prediction["enabled"] and prediction["intervalSeconds"] == 1.5

    # Exactly what the docs say was provisioned, in the model's tenant.
    devices = fiware_sandbox.iota.devices(service="smart", service_path="/")
    ours = [d for d in devices if d.get("entity_name") == entity_id]
    assert len(ours) == 1 and str(ours[0]["device_id"]).startswith("chronos-forecast-")
    groups = fiware_sandbox.iota.groups(service="smart", service_path="/")
    assert any(g.get("apikey") == "chronos-forecast" for g in groups)
    entity: dict[str, Any] | None = fiware_sandbox.orion.entity(service="smart", entity_id=entity_id)
    assert entity is not None and entity["type"] == "Prediction"
    assert entity["site"] == {"type": "Text", "value": "buoy-b01", "metadata": {}}
    assert entity["public"]["type"] == "Boolean"
    subscriptions = list(fiware_sandbox.orion.tenant("smart").subscriptions.values())
    assert any(entity_id in str(vars(s)) for s in subscriptions)

    # Beat runs it: the forecast lands in Orion, and Orion's subscription stores it in the store.
    ran = await until(gql, job_id, lambda s: s["runCount"] >= 2)
    assert ran["runCount"] >= 2 and ran["lastError"] is None and ran["lastRunAt"]
    entity = fiware_sandbox.orion.entity(service="smart", entity_id=entity_id)
    assert entity is not None
    series: dict[str, Any] = entity["forecastSeries"]  # type: ignore[assignment]
    assert series["type"] == "StructuredValue" and series["value"]["horizon"] == 2
    assert [p["step"] for p in series["value"]["points"]] == [1, 2]
    assert "TimeInstant" in series["metadata"]
    # Published with the job's first interval, so a dashboard can draw the band.
    assert series["value"]["intervalLevel"] == 0.8
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in series["value"]["points"])
    deadline = time.monotonic() + 15
    while forecast_history(fiware_sandbox, entity_id, history_store) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert forecast_history(fiware_sandbox, entity_id, history_store) >= 2

    # predictionHistory reads them back from the store, newest first, one page at a time.
    first = (await gql.ok(HISTORY, {"id": job_id, "first": 1}))["predictionHistory"]
    assert len(first["edges"]) == 1 and first["pageInfo"]["hasNextPage"]
    older = (await gql.ok(HISTORY, {"id": job_id, "first": 1, "after": first["pageInfo"]["endCursor"]}))[
        "predictionHistory"
    ]
    newest, previous = first["edges"][0]["node"], older["edges"][0]["node"]
    assert previous["recordedAt"] < newest["recordedAt"]
    assert newest["horizon"] == 2 and [p["step"] for p in newest["points"]] == [1, 2]
    assert all(p["value"] is not None and p["targetTimestamp"] for p in newest["points"])
    assert newest["intervalLevel"] == 0.8
    assert all(p["lower"] <= p["value"] <= p["upper"] for p in newest["points"])
    naive = await gql.run(HISTORY, {"id": job_id, "first": 1, "from": "2026-01-01T00:00:00"})
    assert naive.codes == ["VALIDATION_ERROR"]

    # Disabling stops the runs and deletes the subscription.
    off = (await gql.ok(TOGGLE, {"id": job_id, "enabled": False}))["togglePrediction"]
    assert off["errors"] == [] and off["prediction"]["enabled"] is False
    stopped_at = (await schedule(gql, job_id))["runCount"]
    await asyncio.sleep(3)
    assert (await schedule(gql, job_id))["runCount"] <= stopped_at + 1
    assert not any(
        entity_id in str(vars(s)) for s in fiware_sandbox.orion.tenant("smart").subscriptions.values()
    )

    # The job is its model's active version, so it goes with its model: that removes the entity and
    # the device Chronos created.
    refused = (await gql.ok(DELETE_JOB, {"id": job_id}))["deleteTrainingJob"]
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"]
    model_id = (await gql.ok(MODEL_OF, {"id": job_id}))["trainingJob"]["modelId"]
    deleted = (await gql.ok(DELETE_MODEL, {"id": model_id}))["deleteModel"]
    assert deleted["errors"] == []
    assert fiware_sandbox.orion.entity(service="smart", entity_id=entity_id) is None
    devices = fiware_sandbox.iota.devices(service="smart", service_path="/")
    assert not any(d.get("entity_name") == entity_id for d in devices)


async def test_orion_down_is_recorded_and_a_later_run_succeeds(
    api: ApiServer, gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    before = scrape(api)
    enabled = await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 1}})
    assert enabled["togglePrediction"]["errors"] == []
    fiware_sandbox.faults["orion"].switch(Outage.UNAVAILABLE)
    try:
        failing = await until(gql, job_id, lambda s: len(orion_misses(s)) >= 2)
    finally:
        fiware_sandbox.faults["orion"].switch(Outage.OFF)
    # Every failed slot is on record with its reason, and lastError says why while it fails.
    assert failing["lastError"] and "Orion" in failing["lastError"]
    assert len(orion_misses(failing)) >= 2 and failing["missedCount"] == len(failing["recentMisses"])
    recovered = await until(gql, job_id, lambda s: s["lastError"] is None and s["runCount"] >= 1)
    assert recovered["lastError"] is None and recovered["runCount"] >= 1
    await gql.ok(TOGGLE, {"id": job_id, "enabled": False})
    # The outcomes and the missed slots reached /metrics from the worker.
    after = scrape(api)
    runs = "chronos_forecast_runs_total"
    for outcome in ("unavailable", "published"):
        assert sample(after, runs, outcome=outcome) > sample(before, runs, outcome=outcome), outcome
    missed = "chronos_forecast_slots_missed_total"
    rise = sample(after, missed, reason="ORION_UNAVAILABLE") - sample(
        before, missed, reason="ORION_UNAVAILABLE"
    )
    assert rise >= len(orion_misses(failing))
    assert ("chronos_forecast_slots_missed_total", frozenset({("reason", "INTERNAL")})) in after


async def test_a_short_orion_blip_is_retried_within_its_slot(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    # The first slot's PATCH to Orion fails; its retry, seconds later, is still inside the slot.
    fiware_sandbox.faults["orion"].inject(Fault(status=503, method="PATCH"))
    try:
        await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 30}})
        published = await until(gql, job_id, lambda s: s["runCount"] >= 1)
    finally:
        fiware_sandbox.faults["orion"].planned.clear()
        await gql.ok(TOGGLE, {"id": job_id, "enabled": False})
    assert published["runCount"] == 1 and published["missedCount"] == 0 and published["lastError"] is None
    # One line when it failed, one when it recovered: nothing per attempt.
    events = [
        record["event"]
        for record in worker_records(worker)
        if record.get("job_id") == job_id and str(record.get("event", "")).startswith("prediction.")
    ]
    assert events == [
        "prediction.publish_failed",
        "prediction.recovered",
        "prediction.published",
    ]


@both_stores
async def test_a_history_store_outage_records_its_slots_as_sth_unavailable(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, history_store: str
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 1}})
    try:
        await until(gql, job_id, lambda s: s["runCount"] >= 1)
        store = fiware_sandbox.faults[STORE_FAULTS[history_store]]
        store.switch(Outage.UNAVAILABLE)
        try:
            # A busy machine may also miss a 1 s slot for want of a worker: count STH's own misses.
            failing = await until(
                gql,
                job_id,
                lambda s: (
                    sum(m["reason"] == "STH_UNAVAILABLE" for m in s["recentMisses"]) >= 2
                    and s["lastError"] is not None
                ),
            )
        finally:
            store.switch(Outage.OFF)
        recovered = await until(gql, job_id, lambda s: s["lastError"] is None and s["runCount"] > 1)
    finally:
        await gql.ok(TOGGLE, {"id": job_id, "enabled": False})
    name = "QuantumLeap" if history_store == "quantumleap" else "STH-Comet"
    assert failing["lastError"] and name in failing["lastError"]
    assert {m["reason"] for m in failing["recentMisses"]} <= {"STH_UNAVAILABLE", "NO_WORKER", "LATE"}
    assert recovered["lastError"] is None


async def test_bad_toggle_inputs_are_refused(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    refused = (
        await gql.ok(
            TOGGLE,
            {
                "id": job_id,
                "enabled": True,
                "input": {
                    "intervalSeconds": 0.5,
                    "attributes": [{"name": "forecastSeries", "value": 1}, {"name": "bad#name", "value": 2}],
                },
            },
        )
    )["togglePrediction"]
    assert refused["prediction"] is None
    assert sorted(tuple(e["field"]) for e in refused["errors"]) == [
        ("input", "attributes", "bad#name"),
        ("input", "attributes", "forecastSeries"),
        ("input", "intervalSeconds"),
    ]
    unknown = await gql.ok(TOGGLE, {"id": "00000000-0000-0000-0000-000000000000", "enabled": True})
    assert [e["code"] for e in unknown["togglePrediction"]["errors"]] == ["NOT_FOUND"]


async def test_two_beats_never_run_one_slot_twice(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox, worker_env: dict[str, str], log_dir: Path
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    with open(log_dir / "beat-second.log", "wb") as output:
        second = subprocess.Popen(
            beat_command(log_dir / "beat-second-schedule"),
            env={**inherited, **worker_env},
            cwd=log_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        started = time.monotonic()
        payload = await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 2}})
        entity_id = payload["togglePrediction"]["prediction"]["entityId"]
        ran = await until(gql, job_id, lambda s: s["runCount"] >= 4, timeout=40)
        assert ran["runCount"] >= 4
        await gql.ok(TOGGLE, {"id": job_id, "enabled": False})
        elapsed = time.monotonic() - started
    finally:
        stop_process(second, timeout=10)
    # Every slot published once: STH holds exactly as many runs as were counted, and no more runs
    # happened than slots fit in the time, although two beats claimed every half second.
    for _ in range(50):  # the last notifications' way to STH
        history = (await gql.ok(RUN_TIMES, {"id": job_id}))["predictionHistory"]["edges"]
        final = (await schedule(gql, job_id))["runCount"]
        if len(history) >= final:
            break
        await asyncio.sleep(0.2)
    assert len(history) == final
    assert final <= elapsed / 2 + 2
    generated = [datetime.fromisoformat(edge["node"]["generatedAt"]) for edge in history]
    assert len(set(generated)) == len(generated)
    assert entity_id


async def test_deleting_the_model_removes_what_its_jobs_published(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    job_id = await trained_job(gql, fiware_sandbox)
    model_id = (await gql.ok("query($id: ID!) { trainingJob(id: $id) { modelId } }", {"id": job_id}))[
        "trainingJob"
    ]["modelId"]
    enabled = await gql.ok(TOGGLE, {"id": job_id, "enabled": True, "input": {"intervalSeconds": 5}})
    entity_id = enabled["togglePrediction"]["prediction"]["entityId"]
    assert fiware_sandbox.orion.entity(service="smart", entity_id=entity_id) is not None
    deleted = await gql.ok(
        "mutation($id: ID!) { deleteModel(id: $id) { deletedId errors { code } } }", {"id": model_id}
    )
    assert deleted["deleteModel"] == {"deletedId": model_id, "errors": []}
    assert fiware_sandbox.orion.entity(service="smart", entity_id=entity_id) is None
    devices = fiware_sandbox.iota.devices(service="smart", service_path="/")
    assert not any(d.get("entity_name") == entity_id for d in devices)
    subscriptions = fiware_sandbox.orion.tenant("smart").subscriptions.values()
    assert not any(entity_id in str(vars(s)) for s in subscriptions)
