"""GraphQL types of the model aggregate, built from documents by ``from_document``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from app import models
from app.training import service as training
from schema.context import Info
from schema.enums import expose
from schema.loaders import JobCount, JobsOfModel
from schema.pagination import PageInfo
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
class RnnLayer:
    units: int = strawberry.field(description="Number of units (1-1024).")
    dropout: float = strawberry.field(description="Input dropout rate, in [0, 1).")
    recurrent_dropout: float = strawberry.field(
        description="Recurrent-state dropout rate, in [0, 1); above 0 disables fused kernels."
    )


@strawberry.type(description="One dense layer after the recurrent stack.")
class DenseLayer:
    units: int = strawberry.field(description="Number of units (1-1024).")
    dropout: float = strawberry.field(description="Dropout rate after the layer, in [0, 1).")
    activation: Activation = strawberry.field(description="Activation function.")


@strawberry.type(description="A forecasting model: its network, its training setup and its data source.")
class Model:
    id: strawberry.ID = strawberry.field(description="UUID of the model.")
    name: str = strawberry.field(description="Display name; defaults to `<TYPE> - <feature>`.")
    description: str | None = strawberry.field(description="Free text.")
    model_type: ModelType = strawberry.field(description="Recurrent cell type.")
    status: ModelStatus = strawberry.field(description="Life-cycle status.")
    rnn_layers: list[RnnLayer] = strawberry.field(description="Recurrent layers, input first.")
    dense_layers: list[DenseLayer] = strawberry.field(
        description="Dense layers between the recurrent stack and the output layer."
    )
    lookback_window: int = strawberry.field(description="Past points the network sees per forecast.")
    forecast_horizon: int = strawberry.field(description="Future points forecast at once.")
    target_mode: TargetMode = strawberry.field(description="What the network learns to predict.")
    batch_size: int = strawberry.field(description="Training batch size.")
    epochs: int = strawberry.field(description="Maximum training epochs.")
    learning_rate: float = strawberry.field(description="Adam learning rate.")
    validation_ratio: float = strawberry.field(
        description="Share of the series (chronologically after training data) used for validation."
    )
    test_ratio: float = strawberry.field(
        description="Share of the series (the most recent part) held out for test metrics."
    )
    early_stopping_patience: int = strawberry.field(
        description="Epochs without validation improvement before stopping; 0 means never stop early."
    )
    entity_type: str = strawberry.field(description="NGSI entity type of the sensor.")
    entity_id: str = strawberry.field(description="NGSI entity id of the sensor.")
    feature: str = strawberry.field(description="Attribute of the entity to forecast.")
    fiware_service: str = strawberry.field(description="FIWARE tenant (Fiware-Service) of the entity.")
    fiware_service_path: str = strawberry.field(description="Fiware-ServicePath of the entity.")
    created_at: datetime = strawberry.field(description="Creation time, UTC.")
    updated_at: datetime = strawberry.field(description="Last change, UTC.")

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
        return cls(
            id=strawberry.ID(str(doc.id)),
            name=doc.name,
            description=doc.description,
            model_type=doc.model_type,
            status=doc.status,
            rnn_layers=[RnnLayer(**layer.model_dump()) for layer in doc.rnn_layers],
            dense_layers=[DenseLayer(**layer.model_dump()) for layer in doc.dense_layers],
            lookback_window=doc.lookback_window,
            forecast_horizon=doc.forecast_horizon,
            target_mode=doc.target_mode,
            batch_size=doc.batch_size,
            epochs=doc.epochs,
            learning_rate=doc.learning_rate,
            validation_ratio=doc.validation_ratio,
            test_ratio=doc.test_ratio,
            early_stopping_patience=models.effective_patience(doc.early_stopping_patience, doc.epochs),
            entity_type=doc.entity_type,
            entity_id=doc.entity_id,
            feature=doc.feature,
            fiware_service=doc.fiware_service,
            fiware_service_path=doc.fiware_service_path,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
        )


@strawberry.type(description="A model and its position in the list.")
class ModelEdge:
    cursor: str = strawberry.field(description="Opaque position of this model in the list.")
    node: Model = strawberry.field(description="The model.")


@strawberry.type(description="A page of models, newest first.")
class ModelConnection:
    edges: list[ModelEdge] = strawberry.field(description="Models of this page.")
    page_info: PageInfo = strawberry.field(description="Whether and where the list goes on.")
    query: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="Number of models matching the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        return await models.count_models(query=self.query)

    @classmethod
    def from_page(cls, page: models.ModelPage) -> ModelConnection:
        return cls(
            edges=[ModelEdge(cursor=e.cursor, node=Model.from_document(e.node)) for e in page.edges],
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
    "ModelEdge",
    "ModelId",
    "ModelStatus",
    "ModelType",
    "ModelTypeInfo",
    "PageInfo",
    "RnnLayer",
    "TargetMode",
]
