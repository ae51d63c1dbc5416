"""GraphQL types of the model aggregate, built from documents by ``from_document``; their
configuration fields are derived from ``app.models.config``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from app import models
from app.models import service as model_service
from app.predictions import model_forecasts
from app.settings import get_settings
from app.training import service as training
from schema.context import Info
from schema.derive import Nested, declared_values, output_fields
from schema.enums import expose
from schema.loaders import JobCount, JobsOfModel
from schema.models.retraining import ModelMonitoring, RetrainingPolicy, RetrainingStatus
from schema.pagination import Connection, Edge, PageInfo
from schema.predictions.types import (
    DAY_WINDOW,
    LiveAccuracy,
    PredictionSchedule,
    WindowsSeconds,
    live_accuracy_of,
)
from schema.training.types import TrainingJob, TrainingJobConnection, TrainingStatus

ModelId = Annotated[strawberry.ID, strawberry.argument(description="UUID of the model.")]

ModelType = models.ModelType
expose(
    ModelType,
    name="ModelType",
    description="Recurrent cell of the network.",
    values={
        "LSTM": "Long short-term memory cells: gates for input, forgetting and output; the default.",
        "GRU": "Gated recurrent units: two gates, fewer weights than LSTM, often as accurate.",
    },
)
ModelStatus = models.ModelStatus
expose(
    ModelStatus,
    name="ModelStatus",
    description="Life cycle of a model: DRAFT (editable), TRAINING (a job runs), TRAINED.",
    values={
        "DRAFT": "No job has completed yet; the configuration may still be edited.",
        "TRAINING": "A training job of this model is running; the model cannot be edited or deleted.",
        "TRAINED": "At least one job completed; the configuration is frozen.",
    },
)
TargetMode = models.TargetMode
expose(
    TargetMode,
    name="TargetMode",
    description="What the network learns.",
    values={
        "DELTA": "The change from the last observed value: level-free and robust to drift (the default).",
        "LEVEL": "The scaled values themselves.",
    },
)
Activation = models.Activation
expose(
    Activation,
    name="Activation",
    description="Keras activation of a dense layer.",
    values={
        "RELU": "max(0, x).",
        "TANH": "Hyperbolic tangent, in (-1, 1).",
        "SIGMOID": "Logistic function, in (0, 1).",
        "LINEAR": "Identity: no non-linearity.",
        "ELU": "Exponential linear unit: x for x > 0, exp(x) - 1 below.",
        "SELU": "Scaled ELU (self-normalising).",
        "GELU": "Gaussian error linear unit: x times the standard normal CDF of x.",
        "SWISH": "x times sigmoid(x) (also called SiLU).",
        "SOFTPLUS": "log(1 + exp(x)): a smooth ReLU.",
        "LEAKY_RELU": "x for x > 0, 0.2 x below (Keras's default slope).",
    },
)


@strawberry.type(description="A model type Chronos can train.")
class ModelTypeInfo:
    value: ModelType = strawberry.field(description="The enum value to use in inputs.")
    label: str = strawberry.field(description="Short human name.")
    description: str = strawberry.field(description="What the cell is and when it fits.")


@strawberry.type(description="One recurrent layer.")
@output_fields(models.RnnLayer)
class RnnLayer:
    pass


@strawberry.type(description="One dense layer after the recurrent stack.")
@output_fields(models.DenseLayer)
class DenseLayer:
    pass


# The GraphQL types that show the nested models of the configuration.
LAYERS: Nested = {models.RnnLayer: RnnLayer, models.DenseLayer: DenseLayer}


@strawberry.type(description="A forecasting model: its network, its training setup and its data source.")
# Answered with the effective patience, and with the default name when none was given.
@output_fields(models.ModelSpec, nested=LAYERS, non_null={"name", "early_stopping_patience", "history_store"})
class Model:
    id: strawberry.ID = strawberry.field(description="UUID of the model.")
    status: ModelStatus = strawberry.field(description="Life-cycle status.")
    created_at: datetime = strawberry.field(description="Creation time, UTC.")
    updated_at: datetime = strawberry.field(description="Last change, UTC.")
    active_training_job_id: strawberry.ID | None = strawberry.field(
        description=(
            "The active version: the COMPLETED training job the model stands for (the first to complete, "
            "until `promoteTrainingJob` names another); null before any completed."
        )
    )
    active_since: datetime | None = strawberry.field(
        description="When the active version became active, UTC; null when there is none."
    )
    retraining_policy: RetrainingPolicy | None = strawberry.field(
        description="Its scheduled retraining and drift rule (`setRetrainingPolicy`); null: none set."
    )
    retraining: RetrainingStatus = strawberry.field(
        description="What its scheduled and drift retrainings last did, and the one in flight."
    )
    monitoring: ModelMonitoring = strawberry.field(
        description=(
            "The newest periodic check of its published forecasts against the readings that arrived, "
            "and the drift verdict (also exported as Prometheus gauges)."
        )
    )

    @strawberry.field(description="The active version's training job; null when there is none.")
    async def active_training_job(self, info: Info) -> TrainingJob | None:
        if self.active_training_job_id is None:
            return None
        document = await training.get_job(job_id=str(self.active_training_job_id), scope=info.context.scope)
        return TrainingJob.from_document(document) if document else None

    @strawberry.field(
        description=(
            "The model's recurring forecasts (`setModelForecasting`) as its active version runs them; "
            "null when they were never switched on for the model."
        )
    )
    async def forecasting(self, info: Info) -> PredictionSchedule | None:
        publisher = await model_forecasts.publisher(model_id=UUID(str(self.id)), scope=info.context.scope)
        return PredictionSchedule.from_document(publisher) if publisher else None

    @strawberry.field(
        description=(
            "How the model's published forecasts (`setModelForecasting`, from every version that was "
            "active) did against the readings that arrived since, per window; empty when the model's "
            "forecasts were never switched on."
        )
    )
    async def live_accuracy(
        self, info: Info, windows_seconds: WindowsSeconds = DAY_WINDOW
    ) -> list[LiveAccuracy]:
        publisher = await model_forecasts.publisher(model_id=UUID(str(self.id)), scope=info.context.scope)
        if publisher is None:
            return []
        return await live_accuracy_of(info, job_id=str(publisher.id), windows=windows_seconds)

    @strawberry.field(description="Training jobs of this model, newest first, in pages of at most 100.")
    async def training_jobs(
        self,
        info: Info,
        first: Annotated[int, strawberry.argument(description="Page size, 0-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="`endCursor` of the previous page.")
        ] = None,
        status: Annotated[
            list[TrainingStatus] | None, strawberry.argument(description="Jobs in any of these statuses.")
        ] = None,
    ) -> TrainingJobConnection:
        model_id = UUID(str(self.id))
        statuses = frozenset(status or ())
        if after is None:
            # First pages of many models at once come from one query (no N+1 on list pages).
            page = await info.context.loaders.jobs_of_model.load(JobsOfModel(model_id, first, statuses))
        else:
            page = await training.list_jobs(
                job_filter=training.JobFilter(model_id=model_id, statuses=statuses),
                first=first,
                after=after,
                scope=info.context.scope,
            )
        return TrainingJobConnection.from_page(page, count_key=JobCount(model_id, statuses))

    @strawberry.field(description="The newest training job of this model; null when it has none.")
    async def latest_training_job(self, info: Info) -> TrainingJob | None:
        page = await info.context.loaders.jobs_of_model.load(JobsOfModel(UUID(str(self.id)), 1, frozenset()))
        return TrainingJob.from_document(page.edges[0].node) if page.edges else None

    @classmethod
    def from_document(cls, doc: models.ModelDocument) -> Model:
        fields = declared_values(doc, models.ModelSpec, LAYERS)
        return cls(
            id=strawberry.ID(str(doc.id)),
            status=doc.status,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            active_training_job_id=strawberry.ID(str(doc.champion_job_id)) if doc.champion_job_id else None,
            active_since=doc.champion_since,
            retraining_policy=RetrainingPolicy.from_policy(doc.retraining) if doc.retraining else None,
            retraining=RetrainingStatus.from_state(doc.retraining_state),
            monitoring=ModelMonitoring.from_monitoring(doc.monitoring),
            **{
                **fields,
                "early_stopping_patience": doc.effective_patience,
                # A model created before stores were recorded reads the deployment's.
                "history_store": doc.history_store or get_settings().history_store,
            },
        )


@strawberry.type(description="A page of models, newest first.")
class ModelConnection(Connection[Model]):
    query: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="Number of models matching the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        return await model_service.count_models(query=self.query)

    @classmethod
    def from_page(cls, page: model_service.ModelPage) -> ModelConnection:
        return cls(
            edges=[Edge(cursor=e.cursor, node=Model.from_document(e.node)) for e in page.edges],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
            query=page.query,
        )


MODEL_TYPE_INFOS = [
    ModelTypeInfo(
        value=models.ModelType.LSTM,
        label="LSTM",
        description=(
            "Long Short-Term Memory: gated cell with a separate memory state; the safe default "
            "for long lookback windows."
        ),
    ),
    ModelTypeInfo(
        value=models.ModelType.GRU,
        label="GRU",
        description=(
            "Gated Recurrent Unit: fewer parameters than LSTM, often as accurate on short "
            "windows and cheaper to train."
        ),
    ),
]

__all__ = [
    "MODEL_TYPE_INFOS",
    "Activation",
    "DenseLayer",
    "Model",
    "ModelConnection",
    "ModelId",
    "ModelStatus",
    "ModelType",
    "ModelTypeInfo",
    "PageInfo",
    "RnnLayer",
    "TargetMode",
]
