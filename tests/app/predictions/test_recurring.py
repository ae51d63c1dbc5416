"""Enabling recurring forecasts against FIWARE stand-ins that behave like other Orion versions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest

from app.auth.tenancy import EVERY_TENANT
from app.errors import UpstreamError, ValidationFailed
from app.models.documents import ModelDocument
from app.models.enums import ModelType, TargetMode
from app.predictions import recurring
from app.resources import open_fiware
from app.settings import Settings
from app.training.config import snapshot
from app.training.documents import DataSummary, TrainingJobDocument, TrainingRequest, TrainingStatus
from fiware.clients import FiwareClients
from fiware.http import Tenant
from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.runner import Sandbox, running_sandbox


@pytest.fixture(scope="module")
def orion4() -> Iterator[Sandbox]:
    with running_sandbox(SandboxConfig(orion_version="4.0.0")) as sandbox:
        yield sandbox


@pytest.fixture
async def clients(orion4: Sandbox) -> AsyncIterator[tuple[FiwareClients, Settings]]:
    settings = Settings(
        _env_file=None,
        orion_url=orion4.orion_url,
        sth_comet_url=orion4.sth_url,
        iot_agent_url=orion4.iota_url,
    )
    opened = open_fiware(settings)
    try:
        yield opened, settings
    finally:
        await opened.close()


async def completed_job() -> TrainingJobDocument:
    model = ModelDocument(
        name="m", model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[], lookback_window=8,
        forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2, learning_rate=0.001,
        validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor", entity_id="urn:s:1", feature="t",
        fiware_service="smart", fiware_service_path="/",
    )  # fmt: skip
    await model.insert()
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
    return job


async def test_orion_4_with_sth_comet_and_no_cygnus_is_refused_before_provisioning_anything(
    beanie_db: str, clients: tuple[FiwareClients, Settings], orion4: Sandbox
) -> None:
    fiware, settings = clients
    job = await completed_job()
    groups = orion4.iota.groups(service="smart", service_path="/")
    with pytest.raises(
        UpstreamError, match=r"Orion 4\.0\.0 sends only normalized .* CHRONOS_CYGNUS_NOTIFY_URL"
    ):
        await recurring.enable(
            job_id=str(job.id),
            interval_seconds=None,
            attributes={},
            scope=EVERY_TENANT,
            fiware=fiware,
            settings=settings,
        )
    stored = await TrainingJobDocument.get(job.id)
    assert stored is not None and stored.prediction_config.enabled is False
    assert orion4.iota.groups(service="smart", service_path="/") == groups, "nothing provisioned for it"


async def test_interval_defaults_to_the_sampling_interval_but_never_below_the_minimum(
    beanie_db: str, clients: tuple[FiwareClients, Settings]
) -> None:
    fiware, settings = clients
    job = await completed_job()
    with pytest.raises(ValidationFailed) as refused:
        await recurring.enable(
            job_id=str(job.id),
            interval_seconds=float("nan"),
            attributes={"ok": 1},
            scope=EVERY_TENANT,
            fiware=fiware,
            settings=settings,
        )
    assert [e.field for e in refused.value.errors] == [("input", "intervalSeconds")]
    assert recurring.attribute_problems({"x": None})[0].field == ("input", "attributes", "x")


def test_attribute_values_orion_and_mongodb_cannot_store_are_refused_before_provisioning() -> None:
    assert recurring.attribute_problems({"ok": {"a": [1, 2.5, "x", None, True]}, "big": 2**63 - 1}) == []
    deep: object = 1
    for _ in range(recurring.MAX_NESTING + 1):
        deep = [deep]
    for value in (2**64, -(2**63) - 1, {"a": [2**70]}, [float("inf")], deep):
        problems = recurring.attribute_problems({"level": value})
        assert [p.field for p in problems] == [("input", "attributes", "level")], value


def test_each_service_gets_a_forecast_group_key_of_its_own() -> None:
    # The IoT Agent keeps (resource, apikey) unique across services.
    settings = Settings(_env_file=None)
    assert recurring.forecast_apikey(settings, Tenant("smart", "/")) == "chronos-forecast"
    assert recurring.forecast_apikey(settings, Tenant("smart", "/parking")) == "chronos-forecast"
    assert recurring.forecast_apikey(settings, Tenant("city", "/")) == "chronos-forecast-city"
