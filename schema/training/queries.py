"""Training job queries."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.models import versions
from app.training import service
from schema.context import Info
from schema.training.inputs import TrainingJobFilter
from schema.training.types import TrainingJob, TrainingJobConnection, TrainingJobId


@strawberry.type(description="A configuration field in which compared training jobs differ.")
class ConfigDifference:
    field: str = strawberry.field(description="The field's path, camelCase (`rnnLayers.0.units`).")
    values: list[str] = strawberry.field(
        description="Its value in each compared job, in the order of `jobs`, as JSON (`null` when absent)."
    )


@strawberry.type(description="Training jobs side by side: their scores, data and configuration differences.")
class TrainingJobComparison:
    jobs: list[TrainingJob] = strawberry.field(
        description=(
            "The jobs in the order asked: compare their `metrics`, `baselines`, `servedBy`, `intervals` "
            "and `data` (series start and end, slots, gaps)."
        )
    )
    differences: list[ConfigDifference] = strawberry.field(
        description="Every configuration field whose value is not the same in all the jobs."
    )


@strawberry.type
class TrainingQueries:
    @strawberry.field(
        description=(
            "2 to 10 training jobs side by side, so a user sees why one version is better: each job with "
            "its scores and data window, and the configuration fields in which they differ. An unknown "
            "(or another tenant's) id is NOT_FOUND at its index."
        )
    )
    async def compare_training_jobs(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="UUIDs of the jobs to compare.")],
    ) -> TrainingJobComparison:
        comparison = await versions.compare_jobs(job_ids=[str(i) for i in ids], scope=info.context.scope)
        return TrainingJobComparison(
            jobs=[TrainingJob.from_document(job) for job in comparison.jobs],
            differences=[ConfigDifference(field=d.field, values=d.values) for d in comparison.differences],
        )

    @strawberry.field(description="One training job by id; null when there is none.")
    async def training_job(self, info: Info, id: TrainingJobId) -> TrainingJob | None:  # noqa: A002
        document = await service.get_job(job_id=id, scope=info.context.scope)
        return TrainingJob.from_document(document) if document else None

    @strawberry.field(description="Training jobs of every model, newest first, in pages of at most 100.")
    async def training_jobs(
        self,
        info: Info,
        filter: Annotated[  # noqa: A002 - the GraphQL argument name
            TrainingJobFilter | None, strawberry.argument(description="Criteria every returned job meets.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="Page size, 0-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="`endCursor` of the previous page.")
        ] = None,
    ) -> TrainingJobConnection:
        job_filter = filter.to_filter() if filter else service.JobFilter()
        page = await service.list_jobs(
            job_filter=job_filter, first=first, after=after, scope=info.context.scope
        )
        return TrainingJobConnection.from_page(page)


__all__ = ["TrainingQueries"]
