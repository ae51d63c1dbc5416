"""Recurring forecasts: what enabling provisions in FIWARE, what disabling and deleting remove.

Everything lives in the model's own tenant. Chronos names the device and the entity itself and
stores what it created; only those are ever deleted, so no input can make Chronos delete a
device it did not create (deleting a device id taken from user input could remove a real sensor).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from app.auth.tenancy import TenantScope
from app.errors import Conflict, ErrorCode, FieldError, NotFound, UpstreamError, ValidationFailed
from app.models.service import parse_id
from app.predictions import service
from app.settings import Settings
from app.timeutil import utcnow
from app.training import service as training
from app.training.config import series_of
from app.training.documents import TrainingJobDocument
from app.training.repository import forecasting
from app.upstream import translate
from fiware.clients import FiwareClients, HistoryStore
from fiware.errors import FiwareBadRequest, FiwareError, FiwareNotFound
from fiware.http import Tenant
from fiware.iota import IotAgentClient, forecast_device, service_group
from fiware.names import check_ngsi_name
from fiware.orion import (
    FORECAST_ATTRIBUTE,
    ForecastSink,
    OrionClient,
    forecast_entity,
    forecast_subscription,
)

log = structlog.get_logger(__name__)

ENTITY_PREFIX = "urn:ngsi-ld:Chronos:Prediction:"
MODEL_ENTITY_PREFIX = "urn:ngsi-ld:Chronos:Forecast:"
DEVICE_PREFIX = "chronos-forecast-"
# Attributes Chronos writes itself: a static attribute may not take their place.
RESERVED = frozenset({FORECAST_ATTRIBUTE, "sourceEntity", "feature", "TimeInstant", "id", "type"})
MAX_ATTRIBUTES = 20


def entity_id_of(job_id: UUID) -> str:
    return f"{ENTITY_PREFIX}{job_id.hex}"


def device_id_of(job_id: UUID) -> str:
    return f"{DEVICE_PREFIX}{job_id.hex}"


def model_entity_id_of(model_id: UUID) -> str:
    """The one entity a model publishes to, whichever version is active (setModelForecasting)."""
    return f"{MODEL_ENTITY_PREFIX}{model_id.hex}"


def model_device_id_of(model_id: UUID) -> str:
    return f"{DEVICE_PREFIX}model-{model_id.hex}"


def attribute_problems(attributes: Mapping[str, object]) -> list[FieldError]:
    problems: list[FieldError] = []
    if len(attributes) > MAX_ATTRIBUTES:
        problems.append(
            FieldError(
                ErrorCode.VALIDATION_ERROR, f"at most {MAX_ATTRIBUTES} attributes", ("input", "attributes")
            )
        )
    for name, value in attributes.items():
        path = ("input", "attributes", name)
        reason = check_ngsi_name(name)
        if reason is not None:
            problems.append(FieldError(ErrorCode.VALIDATION_ERROR, reason, path))
        elif name in RESERVED:
            problems.append(
                FieldError(ErrorCode.VALIDATION_ERROR, f"{name} is written by Chronos itself", path)
            )
        if value is None:
            problems.append(FieldError(ErrorCode.VALIDATION_ERROR, "must be a finite value, not null", path))
        elif (reason := _json_problem(value)) is not None:
            problems.append(FieldError(ErrorCode.VALIDATION_ERROR, reason, path))
    return problems


INT64 = 2**63
MAX_NESTING = 20


def _json_problem(value: object, depth: int = 0) -> str | None:
    """Why Orion or MongoDB could not store ``value`` (checked before anything is provisioned)."""
    if depth > MAX_NESTING:
        return f"nests deeper than {MAX_NESTING} levels"
    if isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None if -INT64 <= value < INT64 else "integers must fit in 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "must be a finite value, not null"
    if isinstance(value, list):
        return next((p for item in value if (p := _json_problem(item, depth + 1))), None)
    if isinstance(value, dict):
        return next((p for item in value.values() if (p := _json_problem(item, depth + 1))), None)
    return None


def forecast_apikey(settings: Settings, tenant: Tenant) -> str:
    """The API key of the forecast service group in ``tenant``'s service.

    The IoT Agent keeps (resource, apikey) unique across all services (iotagent-node-lib
    ``doc/api.md``; a second one is 409 DUPLICATE_GROUP): one key for every tenant would give the
    group to the first service only. The default service keeps the configured key as it is.
    """
    base = settings.iota_forecast_apikey
    return base if tenant.service == settings.fiware_service else f"{base}-{tenant.service}"


def _tenant(job: TrainingJobDocument) -> Tenant:
    return series_of(job.config)[1]


async def enable(
    *,
    job_id: str,
    interval_seconds: float | None,
    attributes: Mapping[str, object],
    scope: TenantScope,
    fiware: FiwareClients,
    settings: Settings,
) -> TrainingJobDocument:
    """Provision the forecast device, entity and subscription, and schedule a first run now."""
    job = await service.completed_job(job_id, scope=scope)
    _refuse_model_schedule(job)
    return await provision_and_enable(
        job, interval_seconds, attributes, fiware=fiware, settings=settings, first_slot=None
    )


async def provision_and_enable(
    job: TrainingJobDocument,
    interval_seconds: float | None,
    attributes: Mapping[str, object],
    *,
    fiware: FiwareClients,
    settings: Settings,
    first_slot: datetime | None,
) -> TrainingJobDocument:
    """Validate, provision (for the job, or for its model when ``job.prediction_config.model_id``)
    and switch the schedule on from ``first_slot`` (now when None)."""
    interval = _valid_interval(job, interval_seconds, attributes, settings)
    tenant = _tenant(job)
    schedule = await _provision(
        job, interval, dict(attributes), tenant=tenant, fiware=fiware, settings=settings
    )
    return await _record(str(job.id), job, schedule, tenant=tenant, fiware=fiware, first_slot=first_slot)


def _refuse_model_schedule(job: TrainingJobDocument) -> None:
    owner = job.prediction_config.model_id
    if owner is not None:
        raise Conflict(
            f"training job {job.id} publishes the forecasts of model {owner}: switch them with "
            "setModelForecasting",
            field=("trainingJobId",),
        )


def schedule_problems(
    interval_seconds: float | None, attributes: Mapping[str, object], *, minimum: float
) -> list[FieldError]:
    """What is wrong with a schedule's interval (None: not given, nothing to check) and attributes."""
    problems = attribute_problems(attributes)
    if interval_seconds is not None and not (math.isfinite(interval_seconds) and interval_seconds >= minimum):
        problems.append(
            FieldError(
                ErrorCode.VALIDATION_ERROR,
                f"must be at least {minimum} s, got {interval_seconds}",
                ("input", "intervalSeconds"),
            )
        )
    return problems


def _valid_interval(
    job: TrainingJobDocument,
    interval_seconds: float | None,
    attributes: Mapping[str, object],
    settings: Settings,
) -> float:
    """The interval to forecast at; refused, with any bad attribute, before anything is provisioned."""
    assert job.summary is not None  # checked by completed_job
    minimum = settings.prediction_min_interval_seconds
    interval = (
        interval_seconds
        if interval_seconds is not None
        else max(minimum, job.summary.sampling_interval_seconds)
    )
    problems = schedule_problems(interval, attributes, minimum=minimum)
    if problems:
        raise ValidationFailed(problems)
    return interval


async def _provision(
    job: TrainingJobDocument,
    interval: float,
    static: dict[str, object],
    *,
    tenant: Tenant,
    fiware: FiwareClients,
    settings: Settings,
) -> forecasting.ScheduleSettings:
    """The IoT Agent group and device, the Orion entity, then its subscription unless it has one;
    named after the job, or after its model when it publishes for the model."""
    owner = job.prediction_config.model_id
    entity_id = model_entity_id_of(owner) if owner else entity_id_of(job.id)
    device_id = model_device_id_of(owner) if owner else device_id_of(job.id)
    entity_type = settings.forecast_entity_type
    existing = job.prediction_config.subscription_id
    # Where forecasts will be stored is settled first: a combination that cannot store them is
    # refused before anything is provisioned.
    store = fiware.store_of(job.config.history_store)
    sink = await forecast_sink(fiware=fiware, settings=settings, store=store) if existing is None else None
    try:
        await _provision_device(fiware.iota, tenant, device_id, entity_id, entity_type, settings)
        await _provision_entity(fiware, tenant, job, entity_id, entity_type, static)
        subscription_id = (
            await _subscribe(fiware, tenant, entity_id, entity_type, sink) if sink else str(existing)
        )
    except FiwareError as error:
        raise translate(error) from error
    return forecasting.ScheduleSettings(
        entity_id=entity_id,
        entity_type=entity_type,
        device_id=device_id,
        subscription_id=subscription_id,
        interval_seconds=interval,
        attributes=static,
    )


async def _provision_device(
    iota: IotAgentClient, tenant: Tenant, device_id: str, entity_id: str, entity_type: str, settings: Settings
) -> None:
    """The tenant's forecast service group, then the job's device in it."""
    group = service_group(
        apikey=forecast_apikey(settings, tenant),
        resource=settings.iota_forecast_resource,
        entity_type=entity_type,
        cbroker=settings.orion_url,
    )
    await iota.ensure_group(group, tenant)
    device = forecast_device(
        device_id=device_id, entity_name=entity_id, entity_type=entity_type, attribute=FORECAST_ATTRIBUTE
    )
    await iota.ensure_device(device, tenant)


async def _provision_entity(
    fiware: FiwareClients,
    tenant: Tenant,
    job: TrainingJobDocument,
    entity_id: str,
    entity_type: str,
    static: Mapping[str, object],
) -> None:
    """The forecast entity, with an empty forecast and the static attributes (upserted)."""
    entity = forecast_entity(
        entity_id=entity_id,
        entity_type=entity_type,
        source_entity=job.config.entity_id,
        feature=job.config.feature,
        horizon=job.config.forecast_horizon,
        generated_at=utcnow(),
        attributes=static,
        next_step=fiware.store_of(job.config.history_store) is HistoryStore.QUANTUMLEAP,
    )
    await fiware.orion.upsert_entity(entity, tenant)


async def _subscribe(
    fiware: FiwareClients, tenant: Tenant, entity_id: str, entity_type: str, sink: tuple[ForecastSink, str]
) -> str:
    kind, url = sink
    subscription = forecast_subscription(entity_id=entity_id, entity_type=entity_type, url=url, sink=kind)
    try:
        return await fiware.orion.create_subscription(subscription, tenant)
    except FiwareBadRequest as error:
        # Orion's version was unknown when the sink was chosen (it did not answer /version).
        version = await _orion_version(fiware.orion)
        if kind is ForecastSink.STH_LEGACY and version and _major(version) >= 4:
            raise UpstreamError(_NO_LEGACY.format(version=version)) from error
        raise


_NO_LEGACY = (
    "Orion {version} sends only normalized notifications, and STH-Comet takes only 'legacy' ones: set "
    "CHRONOS_CYGNUS_NOTIFY_URL to a Cygnus /notify that writes to STH-Comet's database (port 5051 in "
    "Cygnus's Docker image), or keep history in QuantumLeap (CHRONOS_HISTORY_STORE=quantumleap, or "
    "historyStore QUANTUMLEAP on the model)"
)


async def forecast_sink(
    *, fiware: FiwareClients, settings: Settings, store: HistoryStore
) -> tuple[ForecastSink, str]:
    """Where and in which form Orion's subscription should take forecasts, for the model's ``store``
    and the Orion it finds: QuantumLeap takes normalized notifications from any Orion;
    STH-Comet takes Orion 3's legacy ones, and Orion 4's only through Cygnus. UpstreamError, saying
    what to configure, for Orion 4 with STH-Comet and no Cygnus: never a subscription that loses."""
    if store is HistoryStore.QUANTUMLEAP:
        return ForecastSink.QUANTUMLEAP, settings.ql_notify_url
    version = await _orion_version(fiware.orion)
    if not version or _major(version) < 4:
        return ForecastSink.STH_LEGACY, settings.notify_url
    if settings.cygnus_notify_url:
        return ForecastSink.CYGNUS, settings.cygnus_notify_url
    raise UpstreamError(_NO_LEGACY.format(version=version))


async def _orion_version(orion: OrionClient) -> str:
    """Orion's version, or "" when it cannot say (the subscription then tells)."""
    with contextlib.suppress(FiwareError):
        return str((await orion.version()).get("orion", {}).get("version", ""))
    return ""


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


async def _record(
    job_id: str,
    job: TrainingJobDocument,
    schedule: forecasting.ScheduleSettings,
    *,
    tenant: Tenant,
    fiware: FiwareClients,
    first_slot: datetime | None = None,
) -> TrainingJobDocument:
    """Switch the schedule on; NOT_FOUND, with what was provisioned taken back, if the job is gone."""
    owner = job.prediction_config.model_id
    enabled = await forecasting.enable_schedule(
        job_id=job.id, settings=schedule, model_id=owner, first_slot=first_slot
    )
    if enabled is None and owner is not None:
        raise Conflict(f"training job {job_id} is gone or publishes for itself", field=("trainingJobId",))
    if enabled is None:
        provisioned = {
            "entity_id": schedule.entity_id,
            "device_id": schedule.device_id,
            "subscription_id": schedule.subscription_id,
            "entity_type": schedule.entity_type,
        }
        config = job.prediction_config.model_copy(update=provisioned)
        await remove_publication(config=config, tenant=tenant, fiware=fiware)
        raise NotFound(f"training job {job_id} was deleted meanwhile", field=("trainingJobId",))
    interval = schedule.interval_seconds
    log.info("prediction.enabled", job_id=str(job.id), entity_id=schedule.entity_id, interval=interval)
    return enabled


async def disable(*, job_id: str, scope: TenantScope, fiware: FiwareClients) -> TrainingJobDocument:
    """Stop the runs and delete the subscription; the entity and device stay for the history."""
    key = parse_id(job_id, field="trainingJobId")
    job = training.visible(await TrainingJobDocument.get(key), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    _refuse_model_schedule(job)
    return await unsubscribe_and_disable(job, fiware=fiware)


async def unsubscribe_and_disable(job: TrainingJobDocument, *, fiware: FiwareClients) -> TrainingJobDocument:
    """Delete the schedule's subscription and switch it off; the entity and device stay."""
    job_id = str(job.id)
    subscription_id = job.prediction_config.subscription_id
    if subscription_id is not None:
        try:
            await fiware.orion.delete_subscription(subscription_id, _tenant(job))
        except FiwareNotFound:
            pass  # already gone: the goal is reached
        except FiwareError as error:
            raise translate(error) from error
    disabled = await forecasting.disable_schedule(job_id=job.id)
    if disabled is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    return disabled


async def remove_publication(*, config: Any, tenant: Tenant, fiware: FiwareClients) -> None:
    """Delete the subscription, entity and device Chronos created for a job (each if present)."""
    steps: list[Awaitable[object]] = []
    if config.subscription_id:
        steps.append(fiware.orion.delete_subscription(config.subscription_id, tenant))
    if config.entity_id:
        steps.append(fiware.orion.delete_entity(config.entity_id, tenant, entity_type=config.entity_type))
    if config.device_id and str(config.device_id).startswith(DEVICE_PREFIX):
        steps.append(fiware.iota.delete_device(config.device_id, tenant))
    for step in steps:
        try:
            await step
        except FiwareNotFound:
            continue
        except FiwareError as error:
            # The job is going away regardless; what could not be removed is logged for an operator.
            log.warning("prediction.cleanup_failed", error=str(error))


async def remove_for_job(job: TrainingJobDocument, *, fiware: FiwareClients) -> None:
    """Called when a job is deleted (alone or with its model). A model's publication is removed
    with the job that holds it, never with one that handed it over (it is the model's, not theirs)."""
    config = job.prediction_config
    if config.model_id is not None and config.handed_over_at is not None:
        return
    await remove_publication(config=config, tenant=_tenant(job), fiware=fiware)


__all__ = [
    "DEVICE_PREFIX",
    "ENTITY_PREFIX",
    "MODEL_ENTITY_PREFIX",
    "attribute_problems",
    "device_id_of",
    "disable",
    "enable",
    "entity_id_of",
    "forecast_apikey",
    "model_device_id_of",
    "model_entity_id_of",
    "provision_and_enable",
    "remove_for_job",
    "remove_publication",
    "schedule_problems",
    "unsubscribe_and_disable",
]
