"""``startTraining``: decide at once whether a job can run, then hand it to the workers.

Refusals happen here, before anything is queued: a missing model, a model already training
(decided by one conditional update on the model, never read-then-write), or a series too short
for the model's windows. The minimum is :func:`ml.windows.minimum_points`, the function
preprocessing itself relies on, so an admitted job never fails later for lack of points.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import structlog
from pymongo.errors import DuplicateKeyError

from app.auth.tenancy import TenantScope
from app.errors import (
    Conflict,
    ErrorCode,
    FieldError,
    InsufficientData,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from app.models import repository as models
from app.models import service as models_service
from app.models.documents import ModelDocument
from app.models.service import parse_id
from app.timeutil import safely_in_range
from app.training import events
from app.training import service as training_service
from app.training.config import required_points, series_of, snapshot
from app.training.documents import Challenge, TrainingConfig, TrainingJobDocument, TrainingRequest
from app.training.repository import jobs, lifecycle
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.history import PagedHistory

log = structlog.get_logger(__name__)

DEFAULT_LAST_N = 1_000
MAX_LAST_N = 1_000_000
MAX_KEY_LENGTH = 200

Dispatch = Callable[[UUID], Awaitable[None]]


@dataclass(frozen=True)
class StartRequest:
    last_n: int | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    idempotency_key: str | None = None


class DispatchFailed(Unavailable):
    """The broker did not take the job within the dispatch timeout: nothing was created."""


def validate_request(request: StartRequest) -> TrainingRequest:
    problems: list[FieldError] = []

    def problem(message: str, *path: str) -> None:
        problems.append(FieldError(ErrorCode.VALIDATION_ERROR, message, ("input", *path)))

    windowed = request.date_from is not None or request.date_to is not None
    if request.last_n is not None and windowed:
        problem("give either lastN or a dateFrom/dateTo window, not both", "lastN")
    if request.last_n is not None and not 1 <= request.last_n <= MAX_LAST_N:
        problem(f"lastN must be between 1 and {MAX_LAST_N:,}, got {request.last_n}", "lastN")
    in_range = True
    for name, value in (("dateFrom", request.date_from), ("dateTo", request.date_to)):
        if value is not None and value.tzinfo is None:
            problem(f"{name} must carry a time zone offset, e.g. 2026-01-01T00:00:00Z", name)
        elif value is not None and not safely_in_range(value):
            in_range = False
            problem(f"{name} is out of range: it must fall between years 2 and 9998 in UTC", name)
    if (
        in_range
        and request.date_from is not None
        and request.date_to is not None
        and request.date_from.tzinfo is not None
        and request.date_to.tzinfo is not None
        and request.date_from >= request.date_to
    ):
        problem("dateFrom must be before dateTo", "dateTo")
    key = request.idempotency_key
    if key is not None and not (1 <= len(key) <= MAX_KEY_LENGTH and key.isprintable()):
        problem(f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} printable characters", "idempotencyKey")
    if problems:
        raise ValidationFailed(problems)
    if windowed:
        return TrainingRequest(date_from=request.date_from, date_to=request.date_to)
    return TrainingRequest(last_n=request.last_n if request.last_n is not None else DEFAULT_LAST_N)


def fingerprint_of(model_id: UUID, request: TrainingRequest) -> str:
    """What identifies a request for its idempotency key: the model and the request, canonical."""
    canonical = json.dumps(
        {"model": str(model_id), **request.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _replay(key: str, fingerprint: str, scope: TenantScope) -> TrainingJobDocument | None:
    existing = await TrainingJobDocument.find_one({"idempotency_key": key})
    if existing is None or training_service.visible(existing, scope) is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise Conflict(
            "this idempotencyKey was already used with a different input", field=("input", "idempotencyKey")
        )
    return existing


async def _count(history: PagedHistory, config: TrainingConfig, request: TrainingRequest) -> int:
    series, tenant = series_of(config)
    try:
        return await history.count(series, tenant, date_from=request.date_from, date_to=request.date_to)
    except FiwareError as error:
        translated = translate(error)
        if isinstance(translated, NotFound):
            # STH answers 404 for an entity it never stored: that is an empty series, not a bad id.
            return 0
        raise translated from error


async def _claim_model(model: ModelDocument, job_id: UUID) -> None:
    if await models.reserve_for_training(model=model, job_id=job_id):
        return
    current = await ModelDocument.get(model.id)
    if current is None:
        raise NotFound(f"model {model.id} does not exist", field=("modelId",))
    if current.active_job_id is None:
        raise Conflict(
            f"model {model.id} was changed while the job was being admitted; retry", field=("modelId",)
        )
    raise Conflict(
        f"model {model.id} already has a running training job ({current.active_job_id}); "
        "wait for it or cancel it",
        field=("modelId",),
    )


def idempotency_key(model_id: UUID, key: str | None) -> str | None:
    """The stored key: a client's key counts per model."""
    return f"{model_id}:{key}" if key is not None else None


def check_last_n(wanted: TrainingRequest, config: TrainingConfig) -> None:
    """Refuse a ``lastN`` below what the model's windows need, before asking STH anything."""
    needed = required_points(config)
    if wanted.last_n is not None and wanted.last_n < needed:
        raise InsufficientData(
            f"lastN {wanted.last_n} is below the {needed} points this model needs (lookback "
            f"{config.lookback_window} + horizon {config.forecast_horizon} in each of the train, "
            f"validation and test splits)",
            field=("input", "lastN"),
        )


def points_to_request(available: int, wanted: TrainingRequest, config: TrainingConfig) -> int:
    """The points the job will collect of the ``available`` ones, or the reason it cannot run."""
    needed = required_points(config)
    if available < needed:
        where = "in that window" if wanted.last_n is None else "in total"
        raise InsufficientData(
            f"The history store holds {available} points of {config.entity_id}/{config.feature} {where}; "
            f"this model needs at least {needed} (lookback {config.lookback_window} + horizon "
            f"{config.forecast_horizon} in each of the train, validation and test splits)",
            field=("input",),
        )
    if wanted.last_n is None and available > MAX_LAST_N:
        raise ValidationFailed(
            [
                FieldError(
                    ErrorCode.VALIDATION_ERROR,
                    f"the window holds {available:,} points, more than the {MAX_LAST_N:,} one job may "
                    "use; narrow it or use lastN",
                    ("input", "dateFrom"),
                )
            ]
        )
    return available if wanted.last_n is None else min(wanted.last_n, available)


@dataclass(frozen=True)
class Admission:
    """A request decided on: for which model, what it asks, and how a retry of it is recognised."""

    model: ModelDocument
    wanted: TrainingRequest
    fingerprint: str
    key: str | None
    challenge: Challenge | None = None


async def start_training(
    *,
    model_id: str,
    request: StartRequest,
    scope: TenantScope,
    history: PagedHistory,
    dispatch: Dispatch,
    dispatch_timeout: float,
    challenge: Challenge | None = None,
) -> TrainingJobDocument:
    """Admit and queue a job, or raise the reason it cannot run (see the module docstring); a
    retraining passes its ``challenge`` with the champion."""
    key_id = parse_id(model_id, field="modelId")
    model = models_service.visible(await ModelDocument.get(key_id), scope)
    if model is None:
        raise NotFound(f"model {model_id} does not exist", field=("modelId",))
    wanted = validate_request(request)
    admission = Admission(
        model,
        wanted,
        fingerprint_of(key_id, wanted),
        idempotency_key(key_id, request.idempotency_key),
        challenge,
    )
    if (earlier := await _earlier(admission, scope)) is not None:
        return earlier
    job = await _admit(admission, history=history)
    if (earlier := await _persist(admission, job, scope=scope)) is not None:
        return earlier
    return await _dispatch(job, dispatch=dispatch, timeout=dispatch_timeout, model_id=model_id)


async def _earlier(admission: Admission, scope: TenantScope) -> TrainingJobDocument | None:
    """The job an earlier call with the same idempotency key stored, if any."""
    if admission.key is None:
        return None
    return await _replay(admission.key, admission.fingerprint, scope)


async def _admit(admission: Admission, *, history: PagedHistory) -> TrainingJobDocument:
    """The job to run, once STH holds enough points for it (nothing is stored yet)."""
    config = snapshot(admission.model)
    wanted = admission.wanted
    check_last_n(wanted, config)
    available = await _count(history, config, wanted)
    requested = points_to_request(available, wanted, config)
    return TrainingJobDocument(
        id=uuid4(),
        model_id=admission.model.id,
        request=wanted,
        config=config,
        idempotency_key=admission.key,
        request_fingerprint=admission.fingerprint,
        points_available=available,
        points_requested=requested,
        progress_seq=1,
        challenge=admission.challenge,
    )


async def _persist(
    admission: Admission, job: TrainingJobDocument, *, scope: TenantScope
) -> TrainingJobDocument | None:
    """Lock the model and store the job; an earlier call's job when that call is the answer."""
    model_id = admission.model.id
    try:
        await _claim_model(admission.model, job.id)
    except Conflict:
        # A retry of a call still in flight: once that call has stored its job, it is the answer.
        if (earlier := await _earlier(admission, scope)) is not None:
            return earlier
        raise
    try:
        await jobs.insert_job(job)
    except DuplicateKeyError:
        # Two calls with one key raced past the replay check: the first stored is the answer.
        await models.release_model(model_id=model_id, job_id=job.id, completed=False)
        if (earlier := await _earlier(admission, scope)) is not None:
            return earlier
        raise Conflict("a concurrent request with this idempotencyKey failed; retry") from None
    except BaseException:
        await models.release_model(model_id=model_id, job_id=job.id, completed=False)
        raise
    return None


async def _dispatch(
    job: TrainingJobDocument, *, dispatch: Dispatch, timeout: float, model_id: str
) -> TrainingJobDocument:
    """Queue the stored job; withdraw it when the broker does not take it in time."""
    try:
        await asyncio.wait_for(dispatch(job.id), timeout=timeout)
    except Exception as error:  # any refusal of the broker ends the same way
        log.error("training.dispatch_failed", job_id=str(job.id), error=str(error) or type(error).__name__)
        if not await lifecycle.withdraw_pending(job_id=job.id, model_id=job.model_id):
            # The message went out after all (the wait timed out, the publish did not): it runs.
            log.warning("training.dispatch_late", job_id=str(job.id))
            return await TrainingJobDocument.get(job.id) or job
        raise DispatchFailed(
            f"the task queue (the broker) did not accept the job within {timeout:g} s; nothing "
            "was created: retry once it is back (the same idempotencyKey is safe)"
        ) from error
    await events.announce(job, status_changed=True)
    log.info("training.admitted", job_id=str(job.id), model_id=model_id, points=job.points_requested)
    return job


__all__ = [
    "DEFAULT_LAST_N",
    "MAX_LAST_N",
    "Dispatch",
    "DispatchFailed",
    "StartRequest",
    "check_last_n",
    "fingerprint_of",
    "idempotency_key",
    "points_to_request",
    "start_training",
    "validate_request",
]
