"""Recurring forecasts: what enabling provisions in FIWARE, what disabling and deleting remove.

Everything lives in the model's own tenant. Chronos names the device and the entity itself and
stores what it created; only those are ever deleted, so no input can make Chronos delete a
device it did not create (deleting a device id taken from user input could remove a real sensor).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Mapping
from typing import Any
from uuid import UUID

import structlog
from pymongo import ReturnDocument

from app.auth.tenancy import TenantScope
from app.errors import ErrorCode, FieldError, NotFound, UpstreamError, ValidationFailed
from app.models.service import parse_id
from app.predictions import service
from app.settings import Settings
from app.timeutil import utcnow
from app.training import service as training
from app.training.config import series_of
from app.training.documents import TrainingJobDocument, TrainingStatus
from app.upstream import translate
from fiware.clients import FiwareClients
from fiware.errors import FiwareBadRequest, FiwareError, FiwareNotFound
from fiware.http import Tenant
from fiware.names import check_ngsi_name
from fiware.orion import forecast_series

log = structlog.get_logger(__name__)

ENTITY_PREFIX = "urn:ngsi-ld:Chronos:Prediction:"
DEVICE_PREFIX = "chronos-forecast-"
FORECAST_ATTRIBUTE = "forecastSeries"
# Attributes Chronos writes itself: a static attribute may not take their place.
RESERVED = frozenset({FORECAST_ATTRIBUTE, "sourceEntity", "feature", "TimeInstant", "id", "type"})
MAX_ATTRIBUTES = 20


def entity_id_of(job_id: UUID) -> str:
    return f"{ENTITY_PREFIX}{job_id.hex}"


def device_id_of(job_id: UUID) -> str:
    return f"{DEVICE_PREFIX}{job_id.hex}"


def _ngsi_attribute(value: object) -> dict[str, Any]:
    # bool before int: a bool is an int to Python, and would otherwise be published as a Number.
    if isinstance(value, bool):
        return {"type": "Boolean", "value": value}
    if isinstance(value, int | float):
        return {"type": "Number", "value": value}
    if isinstance(value, str):
        return {"type": "Text", "value": value}
    return {"type": "StructuredValue", "value": value}


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
    assert job.summary is not None  # checked by completed_job
    minimum = settings.prediction_min_interval_seconds
    interval = (
        interval_seconds
        if interval_seconds is not None
        else max(minimum, job.summary.sampling_interval_seconds)
    )
    problems = attribute_problems(attributes)
    if not (math.isfinite(interval) and interval >= minimum):
        problems.append(
            FieldError(
                ErrorCode.VALIDATION_ERROR,
                f"must be at least {minimum} s, got {interval}",
                ("input", "intervalSeconds"),
            )
        )
    if problems:
        raise ValidationFailed(problems)
    static = dict(attributes)
    tenant = _tenant(job)
    config = job.prediction_config
    entity_id = entity_id_of(job.id)
    entity_type = settings.forecast_entity_type
    device_id = device_id_of(job.id)
    try:
        await fiware.iota.ensure_group(
            {
                "apikey": forecast_apikey(settings, tenant),
                "resource": settings.iota_forecast_resource,
                "entity_type": entity_type,
                "cbroker": settings.orion_url,
            },
            tenant,
        )
        await fiware.iota.ensure_device(
            {
                "device_id": device_id,
                "entity_name": entity_id,
                "entity_type": entity_type,
                "transport": "HTTP",
                "attributes": [{"object_id": "fs", "name": FORECAST_ATTRIBUTE, "type": "StructuredValue"}],
            },
            tenant,
        )
        now = utcnow()
        await fiware.orion.upsert_entity(
            {
                "id": entity_id,
                "type": entity_type,
                "sourceEntity": {"type": "Relationship", "value": job.config.entity_id},
                "feature": {"type": "Text", "value": job.config.feature},
                FORECAST_ATTRIBUTE: forecast_series(
                    generated_at=now, horizon=job.config.forecast_horizon, points=[]
                ),
                **{name: _ngsi_attribute(value) for name, value in static.items()},
            },
            tenant,
        )
        subscription_id = config.subscription_id
        if subscription_id is None:
            subscription_id = await _subscribe(fiware, tenant, entity_id, entity_type, settings.notify_url)
    except FiwareError as error:
        raise translate(error) from error
    raw = await TrainingJobDocument.get_pymongo_collection().find_one_and_update(
        {"_id": job.id, "status": TrainingStatus.COMPLETED.value},
        {
            "$set": {
                "prediction_config.enabled": True,
                "prediction_config.entity_id": entity_id,
                "prediction_config.entity_type": entity_type,
                "prediction_config.device_id": device_id,
                "prediction_config.subscription_id": subscription_id,
                "prediction_config.interval_seconds": interval,
                "prediction_config.attributes": static,
                # The first forecast runs at the scheduler's next tick; this anchors the slot grid.
                "prediction_config.next_prediction_at": utcnow(),
                "prediction_config.last_error": None,
                "prediction_config.failure_streak": None,
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        # Deleted meanwhile: take back what was just provisioned.
        await remove_publication(
            config=job.prediction_config.model_copy(
                update={
                    "entity_id": entity_id,
                    "device_id": device_id,
                    "subscription_id": subscription_id,
                    "entity_type": entity_type,
                }
            ),
            tenant=tenant,
            fiware=fiware,
        )
        raise NotFound(f"training job {job_id} was deleted meanwhile", field=("trainingJobId",))
    enabled: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
    log.info("prediction.enabled", job_id=str(job.id), entity_id=entity_id, interval=interval)
    return enabled


async def _subscribe(
    fiware: FiwareClients, tenant: Tenant, entity_id: str, entity_type: str, url: str
) -> str:
    subscription = {
        "description": f"Chronos forecasts of {entity_id} to STH-Comet",
        "subject": {
            "entities": [{"id": entity_id, "type": entity_type}],
            "condition": {"attrs": [FORECAST_ATTRIBUTE]},
        },
        # No throttling: two forecasts within a second (a short interval, a late run) must both
        # reach STH-Comet, or the history silently loses one.
        "notification": {"http": {"url": url}, "attrs": [FORECAST_ATTRIBUTE], "attrsFormat": "legacy"},
    }
    try:
        return await fiware.orion.create_subscription(subscription, tenant)
    except FiwareBadRequest as error:
        version = ""
        with contextlib.suppress(FiwareError):
            version = str((await fiware.orion.version()).get("orion", {}).get("version", ""))
        if version and not version.startswith(("1.", "2.", "3.")):
            raise UpstreamError(
                f"Orion {version} refuses the 'legacy' notifications STH-Comet needs: run Orion 3.x "
                "(Orion 4 removed them)"
            ) from error
        raise


async def disable(*, job_id: str, scope: TenantScope, fiware: FiwareClients) -> TrainingJobDocument:
    """Stop the runs and delete the subscription; the entity and device stay for the history."""
    key = parse_id(job_id, field="trainingJobId")
    job = training.visible(await TrainingJobDocument.get(key), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    subscription_id = job.prediction_config.subscription_id
    if subscription_id is not None:
        try:
            await fiware.orion.delete_subscription(subscription_id, _tenant(job))
        except FiwareNotFound:
            pass  # already gone: the goal is reached
        except FiwareError as error:
            raise translate(error) from error
    raw = await TrainingJobDocument.get_pymongo_collection().find_one_and_update(
        {"_id": key},
        {"$set": {"prediction_config.enabled": False, "prediction_config.subscription_id": None}},
        return_document=ReturnDocument.AFTER,
    )
    if raw is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    disabled: TrainingJobDocument = TrainingJobDocument.model_validate(raw)
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
    """Called when a job is deleted (alone or with its model)."""
    await remove_publication(config=job.prediction_config, tenant=_tenant(job), fiware=fiware)


__all__ = [
    "DEVICE_PREFIX",
    "ENTITY_PREFIX",
    "attribute_problems",
    "device_id_of",
    "disable",
    "enable",
    "entity_id_of",
    "forecast_apikey",
    "remove_for_job",
    "remove_publication",
]
