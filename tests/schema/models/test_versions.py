"""Versions through the real API and worker: the first completed job is active, promotion and
rollback switch it, the active one cannot be deleted, and versions compare side by side."""

from __future__ import annotations

from typing import Any

from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox
from tests.support import GraphQL, WorkerProcess
from tests.tasks.pipeline import DELETE_JOB, create_model, seed_series, start, wait_for

ACTIVE = """
query($id: ID!) {
  model(id: $id) { activeTrainingJobId activeSince activeTrainingJob { id status } }
}"""
PROMOTE = """
mutation($job: ID!) {
  promoteTrainingJob(trainingJobId: $job) { model { id activeTrainingJobId } errors { code message field } }
}"""
COMPARE = """
query($ids: [ID!]!) {
  compareTrainingJobs(ids: $ids) {
    jobs { id metrics { rmse } baselines { name rmse } data { seriesStart seriesEnd slots } }
    differences { field values }
  }
}"""


async def completed(gql: GraphQL, model_id: str) -> str:
    job = await wait_for(gql, (await start(gql, model_id, lastN=300))["trainingJob"]["id"])
    assert job["status"] == "COMPLETED", job["error"]
    job_id: str = job["id"]
    return job_id


async def active(gql: GraphQL, model_id: str) -> dict[str, Any]:
    model: dict[str, Any] = (await gql.ok(ACTIVE, {"id": model_id}))["model"]
    return model


async def test_versions_promote_roll_back_and_protect_the_active_one(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    assert (await active(gql, model["id"]))["activeTrainingJobId"] is None
    first = await completed(gql, model["id"])
    # The first job to complete becomes the active version by itself.
    shown = await active(gql, model["id"])
    assert shown["activeTrainingJobId"] == first and shown["activeTrainingJob"]["id"] == first
    assert shown["activeSince"] is not None
    second = await completed(gql, model["id"])
    assert (await active(gql, model["id"]))["activeTrainingJobId"] == first  # a second does not take over

    promoted = (await gql.ok(PROMOTE, {"job": second}))["promoteTrainingJob"]
    assert promoted["errors"] == [] and promoted["model"]["activeTrainingJobId"] == second
    # The active version cannot be deleted; the other can.
    refused = (await gql.ok(DELETE_JOB, {"id": second}))["deleteTrainingJob"]
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"] and "promote another" in refused["errors"][
        0
    ]["message"]
    rolled_back = (await gql.ok(PROMOTE, {"job": first}))["promoteTrainingJob"]
    assert rolled_back["model"]["activeTrainingJobId"] == first
    assert (await gql.ok(DELETE_JOB, {"id": second}))["deleteTrainingJob"]["errors"] == []
    assert (await active(gql, model["id"]))["activeTrainingJobId"] == first


async def test_only_a_completed_job_is_promoted_and_a_refusal_writes_nothing(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    model = await create_model(gql, seed_series(fiware_sandbox, points=300))
    started = (await start(gql, model["id"], lastN=300))["trainingJob"]["id"]
    # STH answers 400 to every read: the job ends FAILED at once.
    fiware_sandbox.faults["sth"].inject(Fault(status=400), times=50)
    try:
        failed = await wait_for(gql, started)
    finally:
        fiware_sandbox.faults["sth"].planned.clear()
    assert failed["status"] == "FAILED"
    refused = (await gql.ok(PROMOTE, {"job": started}))["promoteTrainingJob"]
    assert [e["code"] for e in refused["errors"]] == ["CONFLICT"] and refused["model"] is None
    assert "FAILED" in refused["errors"][0]["message"] and refused["errors"][0]["field"] == ["trainingJobId"]
    unknown = (await gql.ok(PROMOTE, {"job": "00000000-0000-4000-8000-000000000000"}))["promoteTrainingJob"]
    assert [e["code"] for e in unknown["errors"]] == ["NOT_FOUND"]
    assert (await active(gql, model["id"]))["activeTrainingJobId"] is None


async def test_versions_compare_side_by_side_with_their_configuration_differences(
    gql: GraphQL, worker: WorkerProcess, fiware_sandbox: Sandbox
) -> None:
    entity = seed_series(fiware_sandbox, points=300)
    small = await completed(gql, (await create_model(gql, entity))["id"])
    larger = await completed(gql, (await create_model(gql, entity, epochs=3, rnnLayers=[{"units": 6}]))["id"])
    comparison = (await gql.ok(COMPARE, {"ids": [larger, small]}))["compareTrainingJobs"]
    assert [job["id"] for job in comparison["jobs"]] == [larger, small]
    assert all(job["metrics"]["rmse"] is not None and job["baselines"] for job in comparison["jobs"])
    assert all(job["data"]["slots"] == 300 for job in comparison["jobs"])
    differences = {d["field"]: d["values"] for d in comparison["differences"]}
    assert differences["epochs"] == ["3", "2"] and differences["rnnLayers.0.units"] == ["6", "4"]
    assert "feature" not in differences  # the same in both
    one = await gql.run(COMPARE, {"ids": [small]})
    assert one.codes == ["VALIDATION_ERROR"]
    missing = await gql.run(COMPARE, {"ids": [small, "00000000-0000-4000-8000-000000000000"]})
    assert missing.codes == ["NOT_FOUND"]
