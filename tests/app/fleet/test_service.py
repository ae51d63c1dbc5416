"""Fleet bulk operations through the services, on real MongoDB, Redis and the FIWARE sandbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.auth.mutation_quota import charge_mutations
from app.auth.tenancy import TenantScope
from app.errors import ErrorCode, Forbidden, RateLimited, ValidationFailed
from app.fleet.bulk import Charge
from app.fleet.selection import Selection
from app.fleet.service import (
    FleetMember,
    FleetPage,
    FleetRequest,
    Trainer,
    create_fleet_models,
    set_fleet_forecasting,
    start_fleet_trainings,
)
from app.fleet.template import Template
from app.models.documents import ModelDocument
from app.models.enums import ModelType, TargetMode
from app.predictions.recurring import model_entity_id_of
from app.settings import Settings
from app.training.admission import StartRequest
from app.training.config import snapshot
from app.training.documents import DataSummary, TrainingJobDocument, TrainingRequest, TrainingStatus
from fiware.http import Tenant
from tests.app.fleet.conftest import ENTITY_TYPE, Fleet


async def never_dispatched(job_id: UUID) -> None:
    raise AssertionError(f"job {job_id} reached the broker, though every item should fail before")


def trainer(fleet: Fleet) -> Trainer:
    return Trainer(history=fleet.fiware.history, dispatch=never_dispatched, dispatch_timeout=1.0)


async def create(
    fleet: Fleet,
    selection: Selection,
    *,
    charge: Charge | None = None,
    name_prefix: str | None = None,
    start_training: bool = False,
    training: StartRequest | None = None,
    **template: Any,
) -> FleetPage:
    request = FleetRequest(
        template=Template(fleet.template(**template), ENTITY_TYPE, name_prefix),
        selection=selection,
        start_training=start_training,
        training=training,
    )
    return await create_fleet_models(
        request=request,
        scope=fleet.scope,
        fiware=fleet.fiware,
        forecast_entity_type="Prediction",
        redis=fleet.redis,
        trainer=trainer(fleet),
        charge=charge or fleet.charge(),
    )


async def models_of(fleet: Fleet) -> list[ModelDocument]:
    return await ModelDocument.find({"fiware_service": fleet.tenant.service}).to_list()


def failures(members: list[FleetMember]) -> dict[str, list[tuple[ErrorCode, tuple[str, ...] | None]]]:
    return {m.entity_id: [(e.code, e.field) for e in m.errors] for m in members if m.errors}


async def test_two_hundred_entities_with_three_bad_ones_make_197_models(fleet: Fleet) -> None:
    good = [fleet.device(n) for n in range(197)]
    lacking = fleet.device(900, "humidity")
    foreign = Tenant(f"{fleet.tenant.service}_b", "/")
    fleet.sandbox.iota.add_device(
        service=foreign.service,
        service_path="/",
        device={"device_id": "elsewhere", "entity_type": ENTITY_TYPE, "entity_name": "urn:ngsi-ld:Room:far"},
    )
    ids = [*good[:50], "urn:ngsi-ld:Room:bad id", *good[50:120], lacking, *good[120:], "urn:ngsi-ld:Room:far"]
    assert len(ids) == 200
    page = await create(fleet, Selection(ENTITY_TYPE, entity_ids=tuple(ids)))
    assert [m.entity_id for m in page.members] == ids
    assert failures(page.members) == {
        "urn:ngsi-ld:Room:bad id": [(ErrorCode.VALIDATION_ERROR, ("input", "selection", "entityIds", "50"))],
        lacking: [(ErrorCode.VALIDATION_ERROR, ("input", "template", "feature"))],
        "urn:ngsi-ld:Room:far": [(ErrorCode.NOT_FOUND, ("input", "selection", "entityIds", "199"))],
    }
    made = [m for m in page.members if m.model is not None]
    assert len(made) == 197 and all(m.created and m.model.entity_id == m.entity_id for m in made)  # type: ignore[union-attr]
    stored = await models_of(fleet)
    assert sorted(m.entity_id for m in stored) == sorted(good)
    assert {(m.name, m.entity_type, m.feature, m.rnn_layers[0].units) for m in stored} == {
        ("LSTM - temperature", ENTITY_TYPE, "temperature", 4)
    }
    assert (page.has_next_page, page.end_cursor) == (False, None)


async def test_discovery_pages_cover_every_entity_once_and_a_rerun_creates_nothing(fleet: Fleet) -> None:
    entities = sorted(fleet.device(n) for n in range(23))
    pages: list[FleetPage] = []
    after = None
    while not pages or pages[-1].has_next_page:
        pages.append(await create(fleet, Selection(ENTITY_TYPE, first=10, after=after)))
        after = pages[-1].end_cursor
    assert [len(p.members) for p in pages] == [10, 10, 3]
    assert [m.entity_id for p in pages for m in p.members] == entities
    assert all(m.created and not m.errors for p in pages for m in p.members)

    again = await create(fleet, Selection(ENTITY_TYPE, first=10, after=pages[0].end_cursor))
    assert [(m.entity_id, m.created, m.errors) for m in again.members] == [
        (m.entity_id, False, []) for m in pages[1].members
    ]
    assert [m.model.id for m in again.members] == [m.model.id for m in pages[1].members]  # type: ignore[union-attr]
    assert len(await models_of(fleet)) == 23
    # Another name is another fleet: its models are made next to the first's.
    prefixed = await create(fleet, Selection(ENTITY_TYPE, entity_ids=(entities[0],)), name_prefix="room ")
    assert prefixed.members[0].created and prefixed.members[0].model.name == f"room {entities[0]}"  # type: ignore[union-attr]
    assert len(await models_of(fleet)) == 24


async def test_two_runs_of_one_page_at_once_make_each_model_once(fleet: Fleet) -> None:
    entities = [fleet.device(n) for n in range(30)]
    first, second = await asyncio.gather(
        create(fleet, Selection(ENTITY_TYPE)),
        create(fleet, Selection(ENTITY_TYPE, entity_ids=tuple(entities))),
    )
    assert len(await models_of(fleet)) == 30
    by_entity = {m.entity_id: m for m in second.members}
    for member in first.members:
        other = by_entity[member.entity_id]
        assert not member.errors and not other.errors
        assert member.created != other.created and member.model.id == other.model.id  # type: ignore[union-attr]


async def test_an_invalid_template_selection_or_training_fails_once_and_writes_nothing(fleet: Fleet) -> None:
    fleet.device(1)
    with pytest.raises(ValidationFailed) as refused:
        await create(
            fleet,
            Selection(ENTITY_TYPE, first=0),
            rnn_layers=[{"units": 0}],
            validation_ratio=0.6,
            test_ratio=0.5,
            start_training=True,
            training=StartRequest(last_n=0),
        )
    assert [e.field for e in refused.value.errors] == [
        ("input", "template", "rnnLayers", "0", "units"),
        ("input", "template", "testRatio"),
        ("input", "selection", "first"),
        ("input", "training", "lastN"),
    ]
    with pytest.raises(ValidationFailed) as unused:
        await create(fleet, Selection(ENTITY_TYPE), training=StartRequest(last_n=100))
    assert [(e.field, e.message) for e in unused.value.errors] == [
        (("input", "training"), "only with startTraining: true")
    ]
    assert await models_of(fleet) == []


async def test_another_tenant_is_forbidden_whole(fleet: Fleet) -> None:
    fleet.device(1)
    with pytest.raises(Forbidden) as refused:
        await create(fleet, Selection(ENTITY_TYPE), fiware_service="someone_else")
    assert refused.value.field == ("input", "template", "fiwareService")
    assert await ModelDocument.find({"fiware_service": "someone_else"}).count() == 0


async def charged_as_a_request(fleet: Fleet, limit: int) -> Charge:
    """The charge of a request whose root field access control has just counted, as it does."""
    await charge_mutations(
        redis=fleet.redis, principal=fleet.principal, mutations=1, limit=limit, window_seconds=60
    )
    return fleet.charge(limit=limit)


async def test_a_request_over_the_keys_budget_writes_nothing(fleet: Fleet) -> None:
    entities = tuple(fleet.device(n) for n in range(10))
    first = await create(
        fleet, Selection(ENTITY_TYPE, entity_ids=entities[:6]), charge=await charged_as_a_request(fleet, 9)
    )
    assert len(first.members) == 6
    with pytest.raises(RateLimited) as refused:
        await create(
            fleet,
            Selection(ENTITY_TYPE, entity_ids=entities[6:]),
            charge=await charged_as_a_request(fleet, 9),
        )
    assert "counts 4 mutations" in refused.value.message and "nothing was written" in refused.value.message
    # Training counts as a mutation of its own: two entities that also train are four.
    with pytest.raises(RateLimited):
        await create(
            fleet,
            Selection(ENTITY_TYPE, entity_ids=entities[6:8]),
            charge=await charged_as_a_request(fleet, 9),
            start_training=True,
        )
    assert len(await models_of(fleet)) == 6
    # Refused requests took only their root field's mutation: one more entity still fits.
    last = await create(
        fleet, Selection(ENTITY_TYPE, entity_ids=entities[6:7]), charge=await charged_as_a_request(fleet, 9)
    )
    assert len(last.members) == 1 and len(await models_of(fleet)) == 7


async def test_a_refused_training_stays_with_its_entity_next_to_its_model(fleet: Fleet) -> None:
    entity = fleet.device(1)  # no history in STH-Comet: nothing to train on
    page = await create(fleet, Selection(ENTITY_TYPE), start_training=True, training=StartRequest(last_n=500))
    (member,) = page.members
    assert member.model is not None and member.created and member.job is None
    assert [(e.code, e.field) for e in member.errors] == [
        (ErrorCode.INSUFFICIENT_DATA, ("input", "training"))
    ]
    assert member.entity_id == entity


async def a_model(tenant: Tenant, *, completed: bool = False) -> ModelDocument:
    model = ModelDocument(
        name="m", model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[], lookback_window=8,
        forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2, learning_rate=0.001,
        validation_ratio=0.15, test_ratio=0.15, entity_type=ENTITY_TYPE,
        entity_id=f"urn:Room:{uuid4().hex[:8]}", feature="temperature", fiware_service=tenant.service,
        fiware_service_path=tenant.service_path,
    )  # fmt: skip
    await model.insert()
    if not completed:
        return model
    now = datetime.now(UTC)
    job = TrainingJobDocument(
        model_id=model.id, status=TrainingStatus.COMPLETED, request=TrainingRequest(last_n=100),
        config=snapshot(model), request_fingerprint="x",
        summary=DataSummary(
            raw_points=100, dropped_non_finite=0, merged_duplicates=0, slots=100, filled=0, gaps=0, missing=0,
            sampling_interval_seconds=60.0, series_start=now, series_end=now,
        ),
    )  # fmt: skip
    await job.insert()
    await ModelDocument.get_pymongo_collection().update_one(
        {"_id": model.id}, {"$set": {"champion_job_id": job.id, "champion_since": now}}
    )
    return model


def item_errors(items: list[Any]) -> list[list[tuple[ErrorCode, tuple[str, ...] | None]]]:
    return [[(e.code, e.field) for e in item.errors] for item in items]


async def test_trainings_fail_per_model_and_another_tenants_model_is_not_found(fleet: Fleet) -> None:
    own = await a_model(fleet.tenant)
    foreign = await a_model(Tenant("elsewhere", "/"))
    ids = [str(own.id), str(foreign.id), "nope", str(uuid4())]
    items = await start_fleet_trainings(
        model_ids=ids,
        request=StartRequest(last_n=500),
        scope=fleet.scope,
        trainer=trainer(fleet),
        charge=fleet.charge(),
    )
    assert [i.model_id for i in items] == ids and all(i.job is None for i in items)
    assert item_errors(items) == [
        [(ErrorCode.INSUFFICIENT_DATA, ("input",))],
        [(ErrorCode.NOT_FOUND, ("modelIds", "1"))],
        [(ErrorCode.VALIDATION_ERROR, ("modelIds", "2"))],
        [(ErrorCode.NOT_FOUND, ("modelIds", "3"))],
    ]
    with pytest.raises(ValidationFailed) as refused:
        await start_fleet_trainings(
            model_ids=[str(own.id)] * 2, request=StartRequest(last_n=0), scope=fleet.scope,
            trainer=trainer(fleet), charge=fleet.charge(),
        )  # fmt: skip
    assert [e.field for e in refused.value.errors] == [("modelIds", "1")]
    with pytest.raises(RateLimited):
        await start_fleet_trainings(
            model_ids=[str(own.id), str(foreign.id)], request=StartRequest(), scope=fleet.scope,
            trainer=trainer(fleet), charge=fleet.charge(limit=1),
        )  # fmt: skip


async def test_forecasting_switches_per_model_and_another_tenants_model_is_not_found(
    fleet: Fleet, test_settings: Settings
) -> None:
    ready = [await a_model(fleet.tenant, completed=True) for _ in range(2)]
    untrained = await a_model(fleet.tenant)
    foreign = await a_model(Tenant("elsewhere", "/"), completed=True)
    ids = [str(ready[0].id), str(foreign.id), str(untrained.id), str(ready[1].id)]

    async def switch(enabled: bool, scope: TenantScope, **settings: Any) -> list[Any]:
        return await set_fleet_forecasting(
            model_ids=ids, enabled=enabled, interval_seconds=settings.get("interval"),
            attributes=settings.get("attributes", {}), scope=scope, fiware=fleet.fiware,
            settings=test_settings, charge=fleet.charge(),
        )  # fmt: skip

    items = await switch(True, fleet.scope, attributes={"district": "north"})
    assert item_errors(items) == [
        [],
        [(ErrorCode.NOT_FOUND, ("modelIds", "1"))],
        [(ErrorCode.CONFLICT, ("modelIds", "2"))],
        [],
    ]
    assert [i.job.prediction_config.model_id if i.job else None for i in items] == [
        ready[0].id,
        None,
        None,
        ready[1].id,
    ]
    assert all(i.job.prediction_config.enabled for i in items if i.job)
    for model in ready:  # each publishes to its model's one entity, provisioned in the tenant
        published = fleet.sandbox.orion.entity(
            service=fleet.tenant.service, entity_id=model_entity_id_of(model.id)
        )
        assert published is not None and published["district"] == {
            "type": "Text",
            "value": "north",
            "metadata": {},
        }
    foreign_job = await TrainingJobDocument.find_one({"model_id": foreign.id})
    assert foreign_job is not None and not foreign_job.prediction_config.enabled
    assert fleet.sandbox.orion.entity(service="elsewhere", entity_id=model_entity_id_of(foreign.id)) is None

    off = await switch(False, fleet.scope)
    assert [bool(i.job and i.job.prediction_config.enabled) for i in off] == [False] * 4
    with pytest.raises(ValidationFailed) as refused:
        await switch(True, fleet.scope, interval=0.1, attributes={"feature": 1})
    assert [e.field for e in refused.value.errors] == [
        ("input", "attributes", "feature"),
        ("input", "intervalSeconds"),
    ]
