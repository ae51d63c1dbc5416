"""Recurring forecasts in batches, on a real MongoDB and the FIWARE sandbox: one request and one
forward pass for many jobs, every slot settled once, failures kept to their own items.

The jobs share one small ONNX network built here (the mean change of the window, no TensorFlow),
as a fleet's copies of one trained model would; each has its own source series and forecast entity.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
import pytest

from app.models.documents import ModelDocument
from app.models.enums import ModelType, TargetMode
from app.predictions import batch, scheduling
from app.predictions.batch import BatchRan, Item, Limits
from app.predictions.forecasters import Forecasters
from app.predictions.scheduling import Attempt, ForecastOutcome
from app.timeutil import utcnow
from app.training import storage
from app.training.config import snapshot
from app.training.documents import (
    DataSummary,
    MissReason,
    PredictionConfig,
    ServedBy,
    TrainingJobDocument,
    TrainingRequest,
    TrainingStatus,
)
from fiware.clients import FiwareClients
from fiware.http import Tenant
from fiware.orion import forecast_entity
from fiware.sandbox.faults import Fault
from fiware.sandbox.runner import Sandbox

LOOKBACK, HORIZON, INTERVAL = 8, 2, 60.0
LIMITS = Limits(read_concurrency=4, publish_size=100, max_gap_steps=3)


def network() -> bytes:
    """An ONNX network of a fleet's shape, ``(n, lookback, 1) -> (n, horizon)``: the window's mean."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.full((LOOKBACK, HORIZON), 1.0 / LOOKBACK, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["y"]),
        ],
        "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", LOOKBACK, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", HORIZON])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@dataclass
class Fleet:
    tenant: Tenant
    jobs: list[UUID]
    entities: dict[UUID, str]
    slot: datetime

    def items(self, **failure: Any) -> list[Item]:
        return [Item(job_id, self.slot, **failure) for job_id in self.jobs]


async def fleet(
    sandbox: Sandbox, fiware: FiwareClients, size: int, *, slot: datetime | None = None, **job: Any
) -> Fleet:
    """``size`` COMPLETED jobs sharing one network's files, forecasting every minute, their current
    slot due; each with a source series in STH-Comet and a forecast entity in Orion, and one
    subscription taking every forecast of the tenant to STH-Comet."""
    tenant = Tenant(f"b{uuid.uuid4().hex[:12]}", "/")
    model = ModelDocument(
        name="fleet", model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[],
        lookback_window=LOOKBACK, forecast_horizon=HORIZON, target_mode=TargetMode.DELTA, batch_size=32,
        epochs=2, learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor",
        entity_id="urn:s:template", feature="t", fiware_service=tenant.service, fiware_service_path="/",
    )  # fmt: skip
    await model.insert()
    files = [
        await storage.store_artifact(
            job_id=model.id, model_id=model.id, run="test", name=name, data=data, content_type="x"
        )
        for name, data in (
            ("model.onnx", network()),
            ("scaler.json", b'{"kind": "standard", "mean": 20, "scale": 5}'),
        )
    ]
    slot = slot or utcnow() - timedelta(seconds=1)
    made = Fleet(tenant, [], {}, slot)
    for index in range(size):
        source = f"urn:ngsi-ld:Sensor:fleet-{index}"
        now = datetime.now(UTC)
        sandbox.sth.add_points(
            service=tenant.service, service_path="/", entity_type="Sensor", entity_id=source, attr_name="t",
            attr_type="Number",
            points=[(now - timedelta(minutes=30 - k), 20 + np.sin(k / 3) + index) for k in range(30)],
        )  # fmt: skip
        made.jobs.append(await _job(model, files, source, slot, **job))
    for job_id in made.jobs:
        entity_id = f"urn:ngsi-ld:Chronos:Prediction:{job_id.hex}"
        made.entities[job_id] = entity_id
        body = forecast_entity(
            entity_id=entity_id, entity_type="Prediction", source_entity="s", feature="t", horizon=HORIZON,
            generated_at=now, attributes={},
        )  # fmt: skip
        await fiware.orion.upsert_entity(body, tenant)
    subscription = {
        "subject": {
            "entities": [{"idPattern": ".*", "type": "Prediction"}],
            "condition": {"attrs": ["forecastSeries"]},
        },
        "notification": {
            "http": {"url": f"{sandbox.sth_url}/notify"},
            "attrs": ["forecastSeries"],
            "attrsFormat": "legacy",
        },
    }
    await fiware.orion.create_subscription(subscription, tenant)
    return made


async def _job(model: ModelDocument, files: list[Any], source: str, slot: datetime, **changes: Any) -> UUID:
    now = datetime.now(UTC)
    job = TrainingJobDocument(
        model_id=model.id, status=TrainingStatus.COMPLETED, request=TrainingRequest(last_n=100),
        config=snapshot(model).model_copy(update={"entity_id": source}), request_fingerprint="x",
        summary=DataSummary(
            raw_points=100, dropped_non_finite=0, merged_duplicates=0, slots=100, filled=0, gaps=0, missing=0,
            sampling_interval_seconds=INTERVAL, series_start=now, series_end=now,
        ),
        artifacts=files, **changes,
    )  # fmt: skip
    job.prediction_config = PredictionConfig(
        enabled=True,
        entity_type="Prediction",
        entity_id=f"urn:ngsi-ld:Chronos:Prediction:{job.id.hex}",
        interval_seconds=INTERVAL,
        next_prediction_at=slot + timedelta(seconds=INTERVAL),
    )
    await job.insert()
    return job.id


async def run(
    made: Fleet,
    fiware: FiwareClients,
    items: list[Item] | None = None,
    forecasters: Forecasters | None = None,
    **attempt: Any,
) -> BatchRan:
    return await batch.run_batch(
        items=made.items() if items is None else items,
        attempt=Attempt(**attempt),
        fiware=fiware,
        forecasters=Forecasters() if forecasters is None else forecasters,
        limits=LIMITS,
    )


async def config_of(job_id: UUID) -> PredictionConfig:
    stored = await TrainingJobDocument.get(job_id)
    assert stored is not None
    return stored.prediction_config


def history(sandbox: Sandbox, made: Fleet, job_id: UUID) -> int:
    """Forecasts of the job that reached STH-Comet through Orion's subscription."""
    return sandbox.sth.count(
        service=made.tenant.service, service_path="/", entity_type="Prediction",
        entity_id=made.entities[job_id], attr_name="forecastSeries",
    )  # fmt: skip


async def histories(sandbox: Sandbox, made: Fleet, expected: dict[UUID, int]) -> dict[UUID, int]:
    """Each job's STH-Comet history once it holds ``expected`` (notifications travel on their own),
    then a little longer, for any notification that should not come."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if {job_id: history(sandbox, made, job_id) for job_id in expected} == expected:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    return {job_id: history(sandbox, made, job_id) for job_id in expected}


async def test_one_request_and_one_forward_pass_publish_the_whole_batch(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 6)
    forecasters = Forecasters()
    requests = sandbox.faults["orion"].seen
    ran = await run(made, fiware, forecasters=forecasters)
    assert ran.outcomes == {ForecastOutcome.PUBLISHED: 6} and not ran.missed and not ran.retry
    assert sandbox.faults["orion"].seen - requests == 1, "one batch update for the six entities"
    assert len(forecasters) == 1, "one session for the six jobs that share a network"
    for index, job_id in enumerate(made.jobs):
        config = await config_of(job_id)
        assert config.run_count == 1 and made.slot in config.settled_slots and config.last_slot == made.slot
        entity = sandbox.orion.entity(service=made.tenant.service, entity_id=made.entities[job_id])
        assert entity is not None
        value: dict[str, Any] = entity["forecastSeries"]["value"]  # type: ignore[index]
        assert value["trainingJobId"] == str(job_id) and len(value["points"]) == HORIZON
        # Each job's own series went through the shared network: the sources differ by `index`.
        assert 20 + index - 1 < value["points"][0]["value"] < 20 + index + 1
    assert await histories(sandbox, made, dict.fromkeys(made.jobs, 1)) == dict.fromkeys(made.jobs, 1)


async def test_a_deleted_entity_and_a_missing_series_miss_alone_with_their_reasons(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 5)
    gone, unread = made.jobs[1], made.jobs[3]
    await fiware.orion.delete_entity(made.entities[gone], made.tenant)
    # The source series of one job is not in STH-Comet (STH answers an empty history).
    stored = await TrainingJobDocument.get(unread)
    assert stored is not None
    await stored.set({"config.entity_id": "urn:ngsi-ld:Sensor:never-seen"})
    ran = await run(made, fiware)
    assert ran.outcomes == {
        ForecastOutcome.PUBLISHED: 3, ForecastOutcome.DISABLED: 1, ForecastOutcome.FAILED: 1,
    }  # fmt: skip
    assert ran.missed == {MissReason.JOB_UNUSABLE: 1, MissReason.INSUFFICIENT_DATA: 1}
    others = [job for job in made.jobs if job not in (gone, unread)]
    for job_id in others:
        assert (await config_of(job_id)).run_count == 1
    deleted, empty = await config_of(gone), await config_of(unread)
    assert [(m.slot, m.reason) for m in deleted.recent_misses] == [(made.slot, MissReason.JOB_UNUSABLE)]
    assert deleted.enabled is False and deleted.last_error and "forecast entity is gone" in deleted.last_error
    assert [(m.slot, m.reason) for m in empty.recent_misses] == [(made.slot, MissReason.INSUFFICIENT_DATA)]
    assert empty.enabled is True and empty.run_count == 0
    # Orion refused the batch for the deleted entity and the others were sent again one by one:
    # still one forecast each reached STH-Comet.
    expected = {**dict.fromkeys(others, 1), gone: 0, unread: 0}
    assert await histories(sandbox, made, expected) == expected


async def test_the_single_path_records_the_same_reasons(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 2)
    await fiware.orion.delete_entity(made.entities[made.jobs[0]], made.tenant)
    stored = await TrainingJobDocument.get(made.jobs[1])
    assert stored is not None
    await stored.set({"config.entity_id": "urn:ngsi-ld:Sensor:never-seen"})
    outcomes = [
        await scheduling.run_forecast(
            job_id=job_id, slot=made.slot, attempt=Attempt(), fiware=fiware, forecasters=Forecasters(),
            max_gap_steps=3,
        )
        for job_id in made.jobs
    ]  # fmt: skip
    assert [(ran.outcome, ran.missed) for ran in outcomes] == [
        (ForecastOutcome.DISABLED, MissReason.JOB_UNUSABLE),
        (ForecastOutcome.FAILED, MissReason.INSUFFICIENT_DATA),
    ]


async def test_a_redelivered_batch_publishes_nothing_twice(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 4)
    first = await run(made, fiware)
    assert first.outcomes == {ForecastOutcome.PUBLISHED: 4}
    requests = sandbox.faults["orion"].seen
    again = await run(made, fiware, retrying=True)  # the same message, delivered once more
    assert again.outcomes == {ForecastOutcome.SKIPPED: 4} and not again.missed
    assert sandbox.faults["orion"].seen == requests, "nothing sent to Orion"
    for job_id in made.jobs:
        config = await config_of(job_id)
        assert (config.run_count, config.missed_count) == (1, 0)
    assert await histories(sandbox, made, dict.fromkeys(made.jobs, 1)) == dict.fromkeys(made.jobs, 1)


async def test_a_batch_redelivered_after_its_worker_died_mid_run_publishes_the_rest_once(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 4)
    # The first delivery claimed every run and published half before its process died.
    half = Fleet(made.tenant, made.jobs[:2], made.entities, made.slot)
    assert (await run(half, fiware)).outcomes == {ForecastOutcome.PUBLISHED: 2}
    from app.training.repository import forecasting

    await forecasting.claim_runs(
        runs=[(job, made.slot) for job in made.jobs[2:]], retrying=False, token="dead"
    )
    redelivered = await run(made, fiware, retrying=True)
    assert redelivered.outcomes == {ForecastOutcome.SKIPPED: 2, ForecastOutcome.PUBLISHED: 2}
    for job_id in made.jobs:
        assert (await config_of(job_id)).run_count == 1
    assert await histories(sandbox, made, dict.fromkeys(made.jobs, 1)) == dict.fromkeys(made.jobs, 1)


async def test_two_beats_claiming_at_once_never_duplicate_a_slot(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    # Three and a half intervals behind: each claim also records the three slots nobody ran.
    made = await fleet(sandbox, fiware, 30, slot=utcnow() - timedelta(seconds=4.5 * INTERVAL))
    claims = await asyncio.gather(
        scheduling.claim_due_bulk(batch=1000),
        scheduling.claim_due_bulk(batch=1000),
        scheduling.claim_due(batch=1000),  # a beat of the single path, on the same jobs
    )
    ours = [due for found in claims for due in found if due.job_id in made.jobs]
    assert sorted(due.job_id for due in ours) == sorted(made.jobs), "each job's slot claimed once"
    assert {due.slot for due in ours} == {made.slot + 4 * timedelta(seconds=INTERVAL)}
    for job_id in made.jobs:
        config = await config_of(job_id)
        assert config.missed_count == 3 and len(config.recent_misses) == 3
        assert config.next_prediction_at == made.slot + 5 * timedelta(seconds=INTERVAL)


async def test_orion_unavailable_keeps_the_items_for_a_retry_within_their_slot(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 3)
    sandbox.faults["orion"].inject(Fault(status=503, method="POST"))
    failed = await run(made, fiware, retry_in=0.1, run_seconds=1.0)
    assert failed.outcomes == {ForecastOutcome.UNAVAILABLE: 3} and not failed.missed
    assert [(item.job_id, item.cause) for item in failed.retry] == [
        (job_id, MissReason.ORION_UNAVAILABLE) for job_id in made.jobs
    ]
    for job_id in made.jobs:
        assert (await config_of(job_id)).last_error == "Orion is unavailable; try again shortly"
    retried = await run(made, fiware, items=failed.retry, retrying=True, retry_in=0.1, run_seconds=1.0)
    assert retried.outcomes == {ForecastOutcome.PUBLISHED: 3}
    for job_id in made.jobs:
        config = await config_of(job_id)
        assert (config.run_count, config.missed_count, config.last_error) == (1, 0, None)
    # Without time for a retry the slots are recorded with Orion's failure.
    later = await fleet(sandbox, fiware, 2)
    sandbox.faults["orion"].inject(Fault(status=503, method="POST"))
    given_up = await run(later, fiware, retry_in=None)
    assert given_up.missed == {MissReason.ORION_UNAVAILABLE: 2} and not given_up.retry


async def test_late_items_and_other_forecasters_settle_alone(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 3)
    persistence = await fleet(sandbox, fiware, 1, served_by=ServedBy(name="persistence", reason="test"))
    overdue = await fleet(sandbox, fiware, 1, slot=utcnow() - timedelta(seconds=INTERVAL + 5))
    items = made.items() + persistence.items() + overdue.items()
    ran = await run(made, fiware, items=items)
    assert ran.outcomes == {ForecastOutcome.PUBLISHED: 4, ForecastOutcome.LATE: 1}
    assert ran.missed == {MissReason.NO_WORKER: 1}
    # How far behind the batch started is its latest item's: the overdue one, 65 s into a 60 s slot.
    assert 65 / INTERVAL <= ran.behind < 70 / INTERVAL
    entity = sandbox.orion.entity(
        service=persistence.tenant.service, entity_id=persistence.entities[persistence.jobs[0]]
    )
    assert entity is not None and entity["forecastSeries"]["value"]["servedBy"] == "persistence"  # type: ignore[index]


async def test_a_bulk_claim_records_the_slots_nobody_ran_as_the_single_claim_does(
    beanie_db: str, sandbox: Sandbox, fiware: FiwareClients
) -> None:
    made = await fleet(sandbox, fiware, 2, slot=utcnow() - timedelta(seconds=3.5 * INTERVAL))
    claimed = [due for due in await scheduling.claim_due_bulk(batch=100) if due.job_id in made.jobs]
    step = timedelta(seconds=INTERVAL)
    assert [(due.slot, due.missed) for due in claimed] == [(made.slot + 3 * step, 2)] * 2
    for job_id in made.jobs:
        config = await config_of(job_id)
        assert config.missed_count == 2 and config.next_prediction_at == made.slot + 4 * step
        assert [(m.slot, m.reason) for m in config.recent_misses] == [
            (made.slot + step, MissReason.NO_WORKER),
            (made.slot + 2 * step, MissReason.NO_WORKER),
        ]


@pytest.mark.parametrize("retrying", [False, True], ids=["first", "retrying"])
async def test_a_bulk_run_claim_claims_what_the_single_claim_would(beanie_db: str, retrying: bool) -> None:
    from app.training.repository import forecasting
    from tests.app.predictions.test_recurring import completed_job

    slot, minute = utcnow() - timedelta(seconds=5), timedelta(minutes=1)
    cases = itertools.product(
        [True, False],  # enabled
        [None, slot],  # handed over
        [slot + minute, slot - minute],  # next slot
        [None, slot - minute, slot, slot + minute],  # running slot
        [[], [slot]],  # settled
    )
    jobs = TrainingJobDocument.get_pymongo_collection()
    single: dict[UUID, bool] = {}
    for enabled, handed_over, next_at, last, settled in cases:
        job = await completed_job()
        config = {
            "enabled": enabled,
            "handed_over_at": handed_over,
            "next_prediction_at": next_at,
            "last_slot": last,
            "settled_slots": settled,
            "interval_seconds": 60.0,
        }
        update = {f"prediction_config.{name}": value for name, value in config.items()}
        await jobs.update_one({"_id": job.id}, {"$set": update})
        # What claim_run's own guard says of this job, asked without claiming anything.
        single[job.id] = await jobs.find_one(forecasting._run_guard(job.id, slot, retrying)) is not None
    runs = [(job_id, slot) for job_id in single]
    found = await forecasting.claim_runs(runs=runs, retrying=retrying, token="t")
    assert {job_id: running.claimed for job_id, running in found.items()} == single
    assert any(single.values()) and not all(single.values())
    for job_id, claimed in single.items():
        stored = await jobs.find_one({"_id": job_id})
        assert stored is not None and (not claimed or stored["prediction_config"]["last_slot"] == slot)
