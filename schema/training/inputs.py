"""GraphQL inputs of training jobs and their conversion to service arguments."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.models.service import parse_id
from app.training import admission, service
from schema.training.types import TrainingStatus


@strawberry.input(
    description=(
        "Which history to train on: the newest `lastN` points (default 1,000), or every point "
        "between `dateFrom` and `dateTo`. Not both."
    )
)
class StartTrainingInput:
    last_n: int | None = strawberry.field(
        default=None,
        description=(
            "Newest points to use, 1 to 1,000,000. When the history store holds fewer (but enough), the job "
            "uses all it holds."
        ),
    )
    date_from: datetime | None = strawberry.field(
        default=None, description="Start of the window, inclusive, with a time zone offset."
    )
    date_to: datetime | None = strawberry.field(
        default=None, description="End of the window, inclusive, with a time zone offset."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description=(
            "Any string up to 200 characters. Repeating a call with the same key and input returns "
            "the same job instead of starting another; the same key with another input is a CONFLICT."
        ),
    )

    def to_request(self) -> admission.StartRequest:
        return admission.StartRequest(
            last_n=self.last_n,
            date_from=self.date_from,
            date_to=self.date_to,
            idempotency_key=self.idempotency_key,
        )


@strawberry.input(description="Criteria every returned training job meets.")
class TrainingJobFilter:
    model_id: strawberry.ID | None = strawberry.field(default=None, description="Jobs of this model only.")
    status: list[TrainingStatus] | None = strawberry.field(
        default=None, description="Jobs in any of these statuses."
    )

    def to_filter(self) -> service.JobFilter:
        return service.JobFilter(
            model_id=parse_id(self.model_id, field=("filter", "modelId"))
            if self.model_id is not None
            else None,
            statuses=frozenset(self.status or ()),
        )


__all__ = ["StartTrainingInput", "TrainingJobFilter"]
