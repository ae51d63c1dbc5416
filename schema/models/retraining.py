"""GraphQL types of a model's retraining policy (derived from ``app.models.policy``), of what its
retraining tick and its live-accuracy checks recorded, and the inputs that set the policy."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.models import policy
from schema.derive import Nested, declared_values, from_graphql, input_fields, output_fields


@strawberry.type(description="When a model retrains on its own.")
@output_fields(policy.RetrainingSchedule)
class RetrainingSchedule:
    pass


@strawberry.type(description="The history a retraining learns from.")
@output_fields(policy.DataWindow)
class DataWindow:
    pass


@strawberry.type(description="When a model counts as drifting, and what then happens.")
@output_fields(policy.DriftRule)
class DriftRule:
    pass


OUT: Nested = {
    policy.RetrainingSchedule: RetrainingSchedule,
    policy.DataWindow: DataWindow,
    policy.DriftRule: DriftRule,
}


@strawberry.type(description="A model's scheduled retraining, data window, promotion margin and drift rule.")
@output_fields(policy.RetrainingPolicy, nested=OUT)
class RetrainingPolicy:
    @classmethod
    def from_policy(cls, value: policy.RetrainingPolicy) -> RetrainingPolicy:
        return cls(**declared_values(value, policy.RetrainingPolicy, OUT))


@strawberry.input(description="When a model retrains on its own: an interval or a cron expression.")
@input_fields(policy.RetrainingSchedule)
class RetrainingScheduleInput:
    pass


@strawberry.input(
    description="The history a retraining learns from; neither field: as much as the active version had."
)
@input_fields(policy.DataWindow)
class DataWindowInput:
    pass


@strawberry.input(description="When a model counts as drifting, and whether that starts a retraining.")
@input_fields(policy.DriftRule)
class DriftRuleInput:
    pass


IN: Nested = {
    policy.RetrainingSchedule: RetrainingScheduleInput,
    policy.DataWindow: DataWindowInput,
    policy.DriftRule: DriftRuleInput,
}


@strawberry.input(description="A model's retraining policy; every field left out takes its default.")
@input_fields(policy.RetrainingPolicy, nested=IN)
class RetrainingPolicyInput:
    def to_policy(self) -> policy.RetrainingPolicy:
        values = {
            field: from_graphql(getattr(self, field), IN) for field in policy.RetrainingPolicy.model_fields
        }
        return policy.RetrainingPolicy.model_validate(values)


@strawberry.type(description="What the retraining tick last did for a model.")
class RetrainingStatus:
    next_at: datetime | None = strawberry.field(
        description="The next scheduled retraining, UTC; null without a schedule."
    )
    challenger_job_id: strawberry.ID | None = strawberry.field(
        description="The retraining running or waiting for its decision; null when none is."
    )
    last_started_at: datetime | None = strawberry.field(
        description="When the newest retraining started, UTC."
    )
    last_trigger: str | None = strawberry.field(description="What started it: `schedule` or `drift`.")
    last_outcome: str | None = strawberry.field(
        description="`started`, `skipped`, `failed`, `promoted` or `kept`: what became of the newest attempt."
    )
    last_error: str | None = strawberry.field(
        description="Why the newest attempt was skipped, failed or kept its champion; null otherwise."
    )
    decision_error: str | None = strawberry.field(
        description=(
            "Why the pending challenger could not be judged yet (the history store unavailable, an artifact "
            "missing); the next retraining tick tries again. Null when no decision waits on an error."
        )
    )

    @classmethod
    def from_state(cls, state: policy.RetrainingState) -> RetrainingStatus:
        challenger = state.challenger_job_id
        return cls(
            next_at=state.next_at,
            challenger_job_id=strawberry.ID(str(challenger)) if challenger else None,
            last_started_at=state.last_started_at,
            last_trigger=state.last_trigger,
            last_outcome=state.last_outcome,
            last_error=state.last_error,
            decision_error=state.decision_error,
        )


@strawberry.type(description="Live accuracy over one rolling window, as the newest check stored it.")
class WindowAccuracy:
    window_seconds: float = strawberry.field(description="Targets in the last this many seconds.")
    forecasts: int = strawberry.field(description="Published forecasts with at least one scored target.")
    pairs: int = strawberry.field(description="(Forecast, step) pairs with a reading.")
    mae: float | None = strawberry.field(description="Mean absolute error; null without pairs.")
    rmse: float | None = strawberry.field(description="Root mean squared error; null without pairs.")
    u2: float | None = strawberry.field(description="RMSE over persistence's on the same pairs.")
    coverage: float | None = strawberry.field(description="Share of readings inside the published interval.")
    bias: float | None = strawberry.field(description="Mean of forecast minus reading.")


@strawberry.type(
    description="The newest live-accuracy check of a model's published forecasts and its drift verdict."
)
class ModelMonitoring:
    evaluated_at: datetime | None = strawberry.field(description="When it was checked, UTC; null before.")
    training_job_id: strawberry.ID | None = strawberry.field(description="The active version checked.")
    reference_rmse: float | None = strawberry.field(
        description=(
            "That version's test RMSE (of the forecaster that serves): what drift is measured against."
        )
    )
    windows: list[WindowAccuracy] = strawberry.field(description="One entry per configured window.")
    drifting: bool = strawberry.field(
        description=(
            "True while live RMSE has exceeded the drift rule's factor × referenceRmse for its sustain time."
        )
    )
    drifting_since: datetime | None = strawberry.field(description="When the current drift began, UTC.")
    drift_training_job_id: strawberry.ID | None = strawberry.field(
        description="The retraining this drift episode started; null when none did."
    )
    error: str | None = strawberry.field(
        description="Why the newest check could not score; null when it could."
    )

    @classmethod
    def from_monitoring(cls, value: policy.Monitoring) -> ModelMonitoring:
        return cls(
            evaluated_at=value.evaluated_at,
            training_job_id=strawberry.ID(str(value.job_id)) if value.job_id else None,
            reference_rmse=value.reference_rmse,
            windows=[WindowAccuracy(**window.model_dump()) for window in value.windows],
            drifting=value.drifting,
            drifting_since=value.drifting_since,
            drift_training_job_id=strawberry.ID(str(value.drift_job_id)) if value.drift_job_id else None,
            error=value.error,
        )


__all__ = [
    "ModelMonitoring",
    "RetrainingPolicy",
    "RetrainingPolicyInput",
    "RetrainingStatus",
]
