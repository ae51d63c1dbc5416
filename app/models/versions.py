"""A model's versions: its COMPLETED training jobs, one of them the champion the model stands for.

The first job to complete becomes the champion of a model that has none
(``app.models.repository.crown_first``, called as the job ends); ``promote_job`` makes any COMPLETED
job of the model the champion, so a rollback is promoting an earlier one, and the model's recurring
forecasts move with it (``app.predictions.model_forecasts``). ``compare_jobs`` puts
versions side by side with the configuration fields in which they differ.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic.alias_generators import to_camel

from app.auth.tenancy import TenantScope
from app.errors import Conflict, ErrorCode, FieldError, NotFound, ValidationFailed
from app.models import repository
from app.models.documents import ModelDocument
from app.models.service import parse_id
from app.predictions import model_forecasts
from app.training import service as training
from app.training.documents import TrainingJobDocument, TrainingStatus

MAX_COMPARED = 10


@dataclass(frozen=True)
class ConfigDifference:
    """One configuration field (camelCase path) and its value in each compared job, as JSON."""

    field: str
    values: list[str]


@dataclass(frozen=True)
class Comparison:
    jobs: list[TrainingJobDocument]
    differences: list[ConfigDifference]


async def promote_job(*, job_id: str, scope: TenantScope) -> ModelDocument:
    """Make a COMPLETED job its model's champion; NOT_FOUND or CONFLICT (nothing written) else."""
    key = parse_id(job_id, field="trainingJobId")
    job = training.visible(await TrainingJobDocument.get(key), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    if job.status is not TrainingStatus.COMPLETED:
        raise Conflict(
            f"training job {job_id} is {job.status.value}; only a COMPLETED job can be promoted",
            field=("trainingJobId",),
        )
    current = await ModelDocument.get(job.model_id)
    if current is None:
        raise NotFound(f"the model of training job {job_id} no longer exists", field=("trainingJobId",))
    # The model's forecasts follow its active version: the schedule moves before the crown does.
    await model_forecasts.hand_over(model=current, successor=job)
    model = await repository.promote(model_id=job.model_id, job_id=key)
    if model is None:
        raise NotFound(f"the model of training job {job_id} no longer exists", field=("trainingJobId",))
    # A delete that ran between the read and the promotion would leave the model crowning nothing.
    if await TrainingJobDocument.get(key) is None:
        await repository.uncrown(model_id=job.model_id, job_id=key)
        raise NotFound(f"training job {job_id} was deleted meanwhile", field=("trainingJobId",))
    return model


async def compare_jobs(*, job_ids: Sequence[str], scope: TenantScope) -> Comparison:
    """2 to 10 distinct visible jobs, in the order given, with their configuration differences."""
    keys = [parse_id(job_id, field="ids") for job_id in job_ids]
    if not 2 <= len(keys) <= MAX_COMPARED or len(set(keys)) != len(keys):
        raise ValidationFailed(
            [
                FieldError(
                    ErrorCode.VALIDATION_ERROR,
                    f"give 2 to {MAX_COMPARED} distinct training job ids (got {len(keys)}, "
                    f"{len(set(keys))} distinct)",
                    ("ids",),
                )
            ]
        )
    jobs = []
    for index, key in enumerate(keys):
        job = training.visible(await TrainingJobDocument.get(key), scope)
        if job is None:
            raise NotFound(f"training job {job_ids[index]} does not exist", field=("ids", str(index)))
        jobs.append(job)
    return Comparison(
        jobs=jobs, differences=differences_of([job.config.model_dump(mode="json") for job in jobs])
    )


def differences_of(configs: Sequence[dict[str, Any]]) -> list[ConfigDifference]:
    """Each leaf path whose value is not the same in every config, in declaration order."""
    flat = [_flatten(config) for config in configs]
    paths = list(dict.fromkeys(path for one in flat for path in one))
    missing = object()
    differences = []
    for path in paths:
        values = [one.get(path, missing) for one in flat]
        if any(value != values[0] for value in values[1:]):
            shown = [json.dumps(None if value is missing else value) for value in values]
            differences.append(ConfigDifference(field=path, values=shown))
    return differences


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}.{to_camel(key)}" if prefix else to_camel(key)))
        return flat
    if isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        flat = {}
        for index, inner in enumerate(value):
            flat.update(_flatten(inner, f"{prefix}.{index}"))
        return flat
    return {prefix: value}


__all__ = ["MAX_COMPARED", "Comparison", "ConfigDifference", "compare_jobs", "differences_of", "promote_job"]
