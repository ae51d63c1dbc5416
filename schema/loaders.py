"""Per-request DataLoaders: one query for all the models of a page, not one per model.

Caching is off: a WebSocket context lives as long as its connection, and a job's status must
not be served from a snapshot taken minutes ago. Batching is what removes the N+1.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from uuid import UUID

from strawberry.dataloader import DataLoader

from app.models.documents import ModelDocument
from app.training import service
from app.training.documents import TrainingStatus


@dataclass(frozen=True)
class JobsOfModel:
    model_id: UUID
    first: int
    statuses: frozenset[TrainingStatus]


async def _load_jobs(keys: list[JobsOfModel]) -> list[service.JobPage]:
    groups: dict[tuple[int, frozenset[TrainingStatus]], list[UUID]] = defaultdict(list)
    for key in keys:
        groups[(key.first, key.statuses)].append(key.model_id)
    pages: dict[JobsOfModel, service.JobPage] = {}
    for (first, statuses), model_ids in groups.items():
        found = await service.jobs_of_models(model_ids=model_ids, first=first, statuses=statuses)
        for model_id, page in found.items():
            pages[JobsOfModel(model_id, first, statuses)] = page
    return [pages[key] for key in keys]


@dataclass(frozen=True)
class JobCount:
    model_id: UUID
    statuses: frozenset[TrainingStatus]


async def _count_jobs(keys: list[JobCount]) -> list[int]:
    groups: dict[frozenset[TrainingStatus], list[UUID]] = defaultdict(list)
    for key in keys:
        groups[key.statuses].append(key.model_id)
    counts: dict[JobCount, int] = {}
    for statuses, model_ids in groups.items():
        found = await service.count_jobs_of_models(model_ids=model_ids, statuses=statuses)
        counts.update({JobCount(model_id, statuses): n for model_id, n in found.items()})
    return [counts[key] for key in keys]


async def _load_models(keys: list[UUID]) -> list[ModelDocument | None]:
    found = {
        model.id: model for model in await ModelDocument.find({"_id": {"$in": list(set(keys))}}).to_list()
    }
    return [found.get(key) for key in keys]


class Loaders:
    def __init__(self) -> None:
        self.model: DataLoader[UUID, ModelDocument | None] = DataLoader(load_fn=_load_models, cache=False)
        self.job_count: DataLoader[JobCount, int] = DataLoader(load_fn=_count_jobs, cache=False)
        self.jobs_of_model: DataLoader[JobsOfModel, service.JobPage] = DataLoader(
            load_fn=_load_jobs, cache=False
        )


__all__ = ["JobCount", "JobsOfModel", "Loaders"]
