"""Training job queries."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.training import service
from schema.context import Info
from schema.training.inputs import TrainingJobFilter
from schema.training.types import TrainingJob, TrainingJobConnection, TrainingJobId


@strawberry.type
class TrainingQueries:
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
