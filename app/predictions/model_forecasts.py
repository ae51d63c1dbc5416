"""Recurring forecasts per model: one stable Orion entity, always fed by the model's active version.

The schedule (slots, ledger) lives on the active job, as per-job forecasts do, marked as the
model's (``prediction_config.model_id``) and publishing to ``urn:ngsi-ld:Chronos:Forecast:<model>``
through a device and subscription named after the model. Promoting another job hands the schedule
over (:func:`hand_over`): the old job stops claiming at its next slot ``N`` (a compare-and-set on
``N``, so a beat claiming meanwhile is waited out), the new job starts at exactly ``N`` with the same
entity, device and subscription, and the slots the old job claimed before ``N`` still run there and
publish to the same entity. No slot runs twice, none is skipped, no second entity or subscription
appears, and nothing in FIWARE is re-provisioned (the published forecast is never blanked).
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import structlog

from app.auth.tenancy import TenantScope
from app.errors import Conflict, NotFound
from app.models.documents import ModelDocument
from app.models.service import get_model
from app.predictions import recurring, service
from app.settings import Settings
from app.training.documents import PredictionConfig, TrainingJobDocument
from app.training.repository import forecasting
from fiware.clients import FiwareClients

log = structlog.get_logger(__name__)

# Compare-and-set attempts against beats claiming the old job's slots; each loses only to a claim,
# which comes at most once per slot interval.
HANDOVER_ATTEMPTS = 5


async def set_model_forecasting(
    *,
    model_id: str,
    enabled: bool,
    interval_seconds: float | None,
    attributes: Mapping[str, object],
    scope: TenantScope,
    fiware: FiwareClients,
    settings: Settings,
) -> TrainingJobDocument:
    """Switch the model's forecasts on (provisioned for the model, run by its active version) or off;
    the job that publishes them. CONFLICT without an active version, or when that version already
    publishes per job."""
    model = await get_model(model_id=model_id, scope=scope)
    if model is None:
        raise NotFound(f"model {model_id} does not exist", field=("modelId",))
    if model.champion_job_id is None:
        raise Conflict(f"model {model_id} has no active version yet: train it first", field=("modelId",))
    job = await service.completed_job(str(model.champion_job_id), scope=scope)
    config = job.prediction_config
    if not enabled:
        if config.model_id != model.id or not config.enabled:
            return job
        return await recurring.unsubscribe_and_disable(job, fiware=fiware)
    if config.enabled and config.model_id is None:
        raise Conflict(
            f"the active version {job.id} publishes its own forecasts (togglePrediction): switch those "
            "off first",
            field=("modelId",),
        )
    owned = job.model_copy(update={"prediction_config": config.model_copy(update={"model_id": model.id})})
    enabled_job = await recurring.provision_and_enable(
        owned, interval_seconds, attributes, fiware=fiware, settings=settings, first_slot=None
    )
    log.info("prediction.model_enabled", model_id=str(model.id), job_id=str(job.id))
    return enabled_job


async def publisher(*, model_id: UUID, scope: TenantScope) -> TrainingJobDocument | None:
    """The active version when it holds the model's forecasts (on or off); None when the model's
    forecasts were never switched on, or the model is not visible."""
    model = await get_model(model_id=str(model_id), scope=scope)
    if model is None or model.champion_job_id is None:
        return None
    job = await TrainingJobDocument.get(model.champion_job_id)
    return job if job is not None and job.prediction_config.model_id == model.id else None


def _refuse_unable_successor(successor: TrainingJobDocument) -> None:
    """A job already publishing its own forecasts cannot take the model's over (CONFLICT)."""
    config = successor.prediction_config
    if config.enabled and config.model_id is None:
        raise Conflict(
            f"training job {successor.id} publishes its own forecasts (togglePrediction): switch those "
            "off before promoting it, while the model's forecasts are on",
            field=("trainingJobId",),
        )


async def hand_over(*, model: ModelDocument, successor: TrainingJobDocument) -> None:
    """Move the model's schedule (and its FIWARE names) from the active job to ``successor``."""
    current = model.champion_job_id
    if current is None or current == successor.id:
        return
    for _ in range(HANDOVER_ATTEMPTS):
        holder = await TrainingJobDocument.get(current)
        if holder is None or holder.prediction_config.model_id != model.id:
            return  # the model publishes nothing: nothing to hand over
        config = holder.prediction_config
        if config.enabled:
            _refuse_unable_successor(successor)
        if await forecasting.hand_over(job_id=current, model_id=model.id, due=config.next_prediction_at):
            break
    else:
        raise Conflict(
            f"model {model.id}'s schedule kept moving; try the promotion again", field=("trainingJobId",)
        )
    if config.enabled:
        await _continue_on(successor, model, config)


async def _continue_on(
    successor: TrainingJobDocument, model: ModelDocument, config: PredictionConfig
) -> None:
    if not (config.entity_id and config.entity_type and config.device_id and config.subscription_id):
        raise Conflict(f"model {model.id}'s schedule lacks its FIWARE names", field=("trainingJobId",))
    settings = forecasting.ScheduleSettings(
        entity_id=config.entity_id,
        entity_type=config.entity_type,
        device_id=config.device_id,
        subscription_id=config.subscription_id,
        interval_seconds=config.interval_seconds or 0.0,
        attributes=dict(config.attributes),
    )
    taken = await forecasting.enable_schedule(
        job_id=successor.id, settings=settings, model_id=model.id, first_slot=config.next_prediction_at
    )
    if taken is None:
        raise Conflict(
            f"training job {successor.id} cannot take model {model.id}'s forecasts over",
            field=("trainingJobId",),
        )
    log.info("prediction.handed_over", model_id=str(model.id), job_id=str(successor.id))


__all__ = ["HANDOVER_ATTEMPTS", "hand_over", "publisher", "set_model_forecasting"]
