"""The model configuration, declared once: each field with its default and its description.

``ModelSpec`` is what users give (the configuration, a name and a description),
``app.models.documents.ModelDocument`` stores it, ``app.training.documents.TrainingConfig`` fixes it
for a job, and the GraphQL types and inputs of ``schema.models`` are derived from these fields.
The checks are ``app.models.spec.validate_spec``: no pydantic constraint here, so that every problem
is reported with its field path and our message.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.models.enums import Activation, ModelType, TargetMode
from fiware.history import HistoryStore
from ml.lookback import BASE_LOOKBACK, MAX_AUTO_LOOKBACK

MAX_LAYERS = 8
MAX_UNITS = 1024
MAX_LOOKBACK = 8760
MAX_HORIZON = 1000
MAX_BATCH = 4096
MAX_EPOCHS = 1000
# With at most 100 epochs and patience 8, early stopping ended each of bench/baselines.py's ten jobs
# on five real series (10-58 epochs); 3 of 12 jobs had run into the former 50-epoch limit.
DEFAULT_PATIENCE = 8
MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_INTERVAL_LEVELS = 5


class RnnLayer(BaseModel):
    """One recurrent layer."""

    units: int = Field(32, description=f"Number of units (1-{MAX_UNITS}).")
    dropout: float = Field(0.0, description="Input dropout rate, in [0, 1).")
    recurrent_dropout: float = Field(
        0.0, description="Recurrent-state dropout rate, in [0, 1); above 0 disables fused kernels."
    )


class DenseLayer(BaseModel):
    """One dense layer after the recurrent stack."""

    units: int = Field(description=f"Number of units (1-{MAX_UNITS}).")
    dropout: float = Field(0.0, description="Dropout rate after the layer, in [0, 1).")
    activation: Activation = Field(Activation.RELU, description="Activation function.")


class ModelConfig(BaseModel):
    """How a model is built and trained, and which series it learns: what a training job needs."""

    model_type: ModelType = Field(ModelType.LSTM, description="Recurrent cell type.")
    rnn_layers: list[RnnLayer] = Field(
        default_factory=lambda: [RnnLayer()],
        description=f"Recurrent layers, input first (1-{MAX_LAYERS}).",
    )
    dense_layers: list[DenseLayer] = Field(
        default_factory=list,
        description=f"Dense layers between the recurrent stack and the output layer (0-{MAX_LAYERS}).",
    )
    # None: chosen per job from the data (ml.lookback), so the network sees the longest season.
    lookback_window: int | None = Field(
        None,
        description=(
            f"Past points the network sees per forecast (1-{MAX_LOOKBACK}). Unset (null), each training "
            f"job chooses it when its data is in: the longest daily or weekly season the series shows, "
            f"from {BASE_LOOKBACK} up to {MAX_AUTO_LOOKBACK} steps, as far as the held-out splits allow."
        ),
    )
    forecast_horizon: int = Field(12, description=f"Future points forecast at once (1-{MAX_HORIZON}).")
    target_mode: TargetMode = Field(TargetMode.DELTA, description="What the network learns to predict.")
    batch_size: int = Field(64, description=f"Training batch size (1-{MAX_BATCH}).")
    # A ceiling, not a target: about 0.7 s an epoch for 8,760 hourly points on 2 cores.
    epochs: int = Field(100, description=f"Maximum training epochs (1-{MAX_EPOCHS}).")
    learning_rate: float = Field(0.001, description="Adam learning rate, in (0, 1].")
    validation_ratio: float = Field(
        0.15,
        description=(
            "Share of the series (chronologically after training data) used for validation, in (0, 1); "
            "with testRatio below 1."
        ),
    )
    test_ratio: float = Field(
        0.15,
        description=(
            "Share of the series (the most recent part) held out for test metrics, in (0, 1); "
            "with validationRatio below 1."
        ),
    )
    interval_levels: list[float] = Field(
        default_factory=lambda: [0.8, 0.95],
        description=(
            f"Levels of the prediction intervals, each above 0 and below 1 (at most {MAX_INTERVAL_LEVELS}), "
            "calibrated on the validation split."
        ),
    )
    calendar_features: bool = Field(
        True,
        description=(
            "Give the network the time of day and the day of week (sine and cosine, UTC) of every input "
            "step, as far as the sampling interval divides a day or a week into whole steps."
        ),
    )
    # None means "the default for the current epochs", so changing epochs keeps it valid.
    early_stopping_patience: int | None = Field(
        None,
        description=(
            "Epochs without validation improvement before stopping, 0 (never stop early) to epochs; "
            f"defaults to {DEFAULT_PATIENCE}, or to epochs when fewer than {DEFAULT_PATIENCE}."
        ),
    )
    entity_type: str = Field(description="NGSI entity type of the sensor.")
    entity_id: str = Field(description="NGSI entity id of the sensor.")
    feature: str = Field(description="Attribute of the entity to forecast.")
    fiware_service: str = Field(description="FIWARE tenant (Fiware-Service) of the entity.")
    fiware_service_path: str = Field(description="Fiware-ServicePath of the entity.")
    # None only on models created before the store was recorded: they read the deployment's.
    history_store: HistoryStore | None = Field(
        None,
        description=(
            "Where the entity's history is read and the model's forecasts are kept: STH-Comet or "
            "QuantumLeap, recorded when the model is created."
        ),
    )

    @property
    def effective_patience(self) -> int:
        """Patience 0 turns early stopping off; unset means the default, but never more than ``epochs``."""
        patience = self.early_stopping_patience
        return min(DEFAULT_PATIENCE, self.epochs) if patience is None else patience

    @property
    def default_name(self) -> str:
        # An update built from GraphQL variables may carry the enum as its value.
        return f"{ModelType(self.model_type).value} - {self.feature}"


class ModelSpec(ModelConfig):
    """A model as users give it: its configuration, and how it is named and described."""

    name: str | None = Field(
        None, description=f"Display name (at most {MAX_NAME} characters); defaults to `<TYPE> - <feature>`."
    )
    description: str | None = Field(None, description=f"Free text (at most {MAX_DESCRIPTION} characters).")

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes`` applied, unchecked: ``validate_spec`` reports what is wrong with it."""
        return self.model_copy(update=changes)


__all__ = [
    "DEFAULT_PATIENCE",
    "MAX_BATCH",
    "MAX_DESCRIPTION",
    "MAX_EPOCHS",
    "MAX_HORIZON",
    "MAX_LAYERS",
    "MAX_LOOKBACK",
    "MAX_NAME",
    "MAX_UNITS",
    "DenseLayer",
    "ModelConfig",
    "ModelSpec",
    "RnnLayer",
]
