"""Fleet bulk operations: models from one template for many entities of one type, their trainings,
and their model-level forecasts, each item with its own result and errors.

Every operation checks its whole input first (a problem there fails the request once and writes
nothing), then charges the caller's mutation budget one mutation per item (two per entity when a
creation also starts training) before any item runs, so a request that does not fit is refused
whole; then runs its items :data:`app.fleet.bulk.CONCURRENCY` at a time through the services the
single mutations use (``create_model``, ``start_training``, ``set_model_forecasting``), with their
validation and tenancy. One item's failure is that item's alone.

Idempotency of creation: a fleet model is identified by its tenant, entity type, entity id,
feature and name (the template's name, or ``namePrefix`` + entity id). An entity whose model with
that identity exists already gets that model back (``created`` false) instead of a second one, so
running a page again creates nothing twice. A short Redis lock per identity, held while the model
is looked for and created, makes this hold for two requests running at once (a client retrying a
call still in flight) on any number of API processes; without Redis, items fail UNAVAILABLE rather
than risk a duplicate. Training, when asked for, starts for each model of the page that is DRAFT
(new, or never trained: a rerun resumes what failed) and leaves TRAINING or TRAINED models alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.auth.tenancy import TenantScope
from app.errors import (
    ChronosError,
    Conflict,
    ErrorCode,
    FieldError,
    Forbidden,
    Unavailable,
    ValidationFailed,
)
from app.fleet.bulk import Charge, checked_ids, relocated, run_each, unexpected
from app.fleet.selection import Candidate, Selection, check_attribute, entity_page, selection_problems
from app.fleet.template import Template, model_name, template_problems
from app.models import service as model_service
from app.models.config import ModelSpec
from app.models.documents import ModelDocument
from app.models.enums import ModelStatus
from app.models.spec import validate_spec
from app.predictions import model_forecasts
from app.predictions.recurring import schedule_problems
from app.settings import Settings
from app.training import admission
from app.training.admission import Dispatch, StartRequest, validate_request
from app.training.documents import TrainingJobDocument
from fiware.clients import FiwareClients
from fiware.history import PagedHistory

LOCK_PREFIX = "chronos:fleet:"
# A lock outlives one lookup and one insert by far; it expires on its own if its holder dies.
LOCK_SECONDS = 30.0
LOCK_WAIT_SECONDS = 10.0
# Where a single startTraining's paths are in createFleetModels' input.
TRAINING_MOVES: Mapping[tuple[str, ...], tuple[str, ...] | None] = {
    ("input",): ("input", "training"),
    ("modelId",): None,
}


@dataclass(frozen=True)
class Trainer:
    """What ``startTraining`` needs besides the model and the request."""

    history: PagedHistory
    dispatch: Dispatch
    dispatch_timeout: float

    async def start(self, *, model_id: str, request: StartRequest, scope: TenantScope) -> TrainingJobDocument:
        return await admission.start_training(
            model_id=model_id,
            request=request,
            scope=scope,
            history=self.history,
            dispatch=self.dispatch,
            dispatch_timeout=self.dispatch_timeout,
        )


@dataclass(frozen=True)
class FleetRequest:
    """``start_training``: also start each DRAFT model's training, with ``training`` (default: the
    single mutation's)."""

    template: Template
    selection: Selection
    start_training: bool = False
    training: StartRequest | None = None

    @property
    def start_request(self) -> StartRequest | None:
        """What each training is started with; None when no training is asked for."""
        return (self.training or StartRequest()) if self.start_training else None


@dataclass(frozen=True)
class FleetMember:
    """One entity's result: its model (new or found), the job started, and what failed. A model
    with errors is one whose training was refused."""

    entity_id: str
    model: ModelDocument | None = None
    created: bool = False
    job: TrainingJobDocument | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class FleetPage:
    members: list[FleetMember]
    has_next_page: bool
    end_cursor: str | None


@dataclass(frozen=True)
class ModelItem:
    """One model's result in a bulk call over model ids: the job concerned, or what failed."""

    model_id: str
    job: TrainingJobDocument | None = None
    errors: list[FieldError] = field(default_factory=list)


def _refuse_invalid(request: FleetRequest) -> None:
    problems = [*template_problems(request.template), *selection_problems(request.selection)]
    if request.training is not None and not request.start_training:
        problems.append(
            FieldError(ErrorCode.VALIDATION_ERROR, "only with startTraining: true", ("input", "training"))
        )
    if request.start_request is not None:
        try:
            validate_request(request.start_request)
        except ValidationFailed as refused:
            problems += relocated(refused.errors, TRAINING_MOVES)
    if problems:
        raise ValidationFailed(problems)


async def create_fleet_models(
    *,
    request: FleetRequest,
    scope: TenantScope,
    fiware: FiwareClients,
    forecast_entity_type: str,
    redis: Redis,
    trainer: Trainer,
    charge: Charge,
) -> FleetPage:
    """Models of the template for the selected entities (see the module docstring)."""
    _refuse_invalid(request)
    tenant = request.template.tenant
    if not scope.allows(tenant.service, tenant.service_path):
        raise Forbidden(
            f"this API key has no access to tenant {tenant.service}:{tenant.service_path}",
            field=("input", "template", "fiwareService"),
        )
    page = await entity_page(
        request.selection,
        iota=fiware.iota,
        tenant=tenant,
        forecast_entity_type=forecast_entity_type,
        scope=scope,
    )
    await charge(len(page.candidates) * (1 if request.start_request is None else 2))
    creation = _Creation(request, scope=scope, fiware=fiware, redis=redis, trainer=trainer)
    members = await run_each(page.candidates, creation.member, failed=creation.failed)
    return FleetPage(members, page.has_next_page, page.end_cursor)


@dataclass(frozen=True)
class _Creation:
    request: FleetRequest
    scope: TenantScope
    fiware: FiwareClients
    redis: Redis
    trainer: Trainer

    def failed(self, index: int, candidate: Candidate, errors: Sequence[FieldError]) -> FleetMember:
        moves = self.request.template.moves(candidate.field)
        return FleetMember(candidate.entity_id, errors=relocated(errors, moves))

    async def member(self, index: int, candidate: Candidate) -> FleetMember:
        template = self.request.template
        spec = template.spec_for(candidate.entity_id)
        # The checks createModel makes, first: a bad id costs no FIWARE call.
        if problems := validate_spec(spec):
            return self.failed(index, candidate, problems)
        try:
            await check_attribute(
                candidate,
                feature=template.feature,
                entity_type=template.entity_type,
                tenant=template.tenant,
                orion=self.fiware.orion,
            )
            model, created = await self._ensure_model(spec)
        except ChronosError as error:
            return self.failed(index, candidate, error.errors)
        job, errors = await self._train(model)
        return FleetMember(candidate.entity_id, model, created, job, errors)

    async def _ensure_model(self, spec: ModelSpec) -> tuple[ModelDocument, bool]:
        identity = {
            "fiware_service": spec.fiware_service,
            "fiware_service_path": spec.fiware_service_path,
            "entity_type": spec.entity_type,
            "entity_id": spec.entity_id,
            "feature": spec.feature,
            "name": model_name(spec),
        }
        async with _claimed(self.redis, identity):
            existing = await ModelDocument.find(identity).sort("created_at").first_or_none()
            if existing is not None:
                return existing, False
            return await model_service.create_model(spec=spec, scope=self.scope), True

    async def _train(self, model: ModelDocument) -> tuple[TrainingJobDocument | None, list[FieldError]]:
        training = self.request.start_request
        if training is None or model.status is not ModelStatus.DRAFT:
            return None, []
        try:
            job = await self.trainer.start(model_id=str(model.id), request=training, scope=self.scope)
        except ChronosError as error:
            return None, relocated(error.errors, TRAINING_MOVES)
        except Exception as error:  # noqa: BLE001 - the model stands: its result must still show it
            return None, [unexpected(error)]
        return job, []


@contextlib.asynccontextmanager
async def _claimed(redis: Redis, identity: Mapping[str, Any]) -> AsyncIterator[None]:
    """Hold the lock of one fleet model's identity (see the module docstring)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    lock = redis.lock(
        f"{LOCK_PREFIX}{digest}",
        timeout=LOCK_SECONDS,
        blocking_timeout=LOCK_WAIT_SECONDS,
        raise_on_release_error=False,
    )
    try:
        acquired = await lock.acquire()
    except RedisError as error:
        raise Unavailable(
            "Redis is unavailable, and without it two requests could create this model twice; retry shortly"
        ) from error
    if not acquired:
        raise Conflict("another request is creating this entity's model right now; retry once it is done")
    try:
        yield
    finally:
        with contextlib.suppress(RedisError):
            await lock.release()


def _model_failed(index: int, model_id: str, errors: Sequence[FieldError]) -> ModelItem:
    return ModelItem(model_id, errors=relocated(errors, {("modelId",): ("modelIds", str(index))}))


async def start_fleet_trainings(
    *,
    model_ids: Sequence[str],
    request: StartRequest,
    scope: TenantScope,
    trainer: Trainer,
    charge: Charge,
) -> list[ModelItem]:
    """``startTraining`` of each model with one request. The request's idempotency key counts per
    model, as it does for one: a retried bulk call with the same key gets the same jobs back."""
    ids = checked_ids(model_ids, field="modelIds")
    validate_request(request)
    await charge(len(ids))

    async def start(index: int, model_id: str) -> ModelItem:
        return ModelItem(model_id, await trainer.start(model_id=model_id, request=request, scope=scope))

    return await run_each(ids, start, failed=_model_failed)


def _refuse_bad_schedule(
    interval_seconds: float | None, attributes: Mapping[str, object], settings: Settings
) -> None:
    """What would refuse every model alike, refused once; each model's own interval default (its
    sampling interval) is checked with it."""
    problems = schedule_problems(
        interval_seconds, attributes, minimum=settings.prediction_min_interval_seconds
    )
    if problems:
        raise ValidationFailed(problems)


async def set_fleet_forecasting(
    *,
    model_ids: Sequence[str],
    enabled: bool,
    interval_seconds: float | None,
    attributes: Mapping[str, object],
    scope: TenantScope,
    fiware: FiwareClients,
    settings: Settings,
    charge: Charge,
) -> list[ModelItem]:
    """``setModelForecasting`` of each model with one setting: the job that publishes each."""
    ids = checked_ids(model_ids, field="modelIds")
    if enabled:
        _refuse_bad_schedule(interval_seconds, attributes, settings)
    await charge(len(ids))

    async def switch(index: int, model_id: str) -> ModelItem:
        job = await model_forecasts.set_model_forecasting(
            model_id=model_id,
            enabled=enabled,
            interval_seconds=interval_seconds,
            attributes=attributes,
            scope=scope,
            fiware=fiware,
            settings=settings,
        )
        return ModelItem(model_id, job)

    return await run_each(ids, switch, failed=_model_failed)


__all__ = [
    "LOCK_PREFIX",
    "FleetMember",
    "FleetPage",
    "FleetRequest",
    "ModelItem",
    "Trainer",
    "create_fleet_models",
    "set_fleet_forecasting",
    "start_fleet_trainings",
]
