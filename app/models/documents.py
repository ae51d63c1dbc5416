"""Beanie document of a forecasting model configuration (collection ``models``)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID, uuid4

import pymongo
from beanie import Document
from pydantic import BaseModel, Field
from pymongo import IndexModel

from app.models.enums import Activation, ModelStatus, ModelType, TargetMode
from app.timeutil import utcnow


class RnnLayer(BaseModel):
    units: int
    dropout: float = 0.0
    recurrent_dropout: float = 0.0


class DenseLayer(BaseModel):
    units: int
    dropout: float = 0.0
    activation: Activation = Activation.RELU


class ModelDocument(Document):
    id: UUID = Field(default_factory=uuid4)  # type: ignore[assignment]
    name: str
    description: str | None = None
    model_type: ModelType
    status: ModelStatus = ModelStatus.DRAFT
    has_successful_training: bool = False
    # The job that holds the model while it trains: set and cleared atomically, it is the lock
    # that makes "one running job per model" hold under concurrent startTraining calls.
    active_job_id: UUID | None = None
    # When the lock was taken: the watchdog frees a lock whose job is missing only once it is old,
    # since admission takes the lock a moment before it stores the job.
    active_since: datetime | None = None
    rnn_layers: list[RnnLayer]
    dense_layers: list[DenseLayer]
    lookback_window: int
    forecast_horizon: int
    target_mode: TargetMode
    batch_size: int
    epochs: int
    learning_rate: float
    validation_ratio: float
    test_ratio: float
    # None means "the default for the current epochs", so changing epochs keeps it valid.
    early_stopping_patience: int | None = None
    entity_type: str
    entity_id: str
    feature: str
    fiware_service: str
    fiware_service_path: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Bumped by every edit: the optimistic-concurrency version (timestamps can tie).
    revision: int = 0

    class Settings:
        name = "models"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("status", pymongo.ASCENDING)], name="status"),
            IndexModel([("model_type", pymongo.ASCENDING)], name="model_type"),
            IndexModel([("entity_id", pymongo.ASCENDING)], name="entity_id"),
            IndexModel([("feature", pymongo.ASCENDING)], name="feature"),
            # Newest-first keyset pagination sorts on exactly this pair.
            IndexModel(
                [("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)],
                name="created_at_desc",
            ),
        ]


__all__ = ["DenseLayer", "ModelDocument", "RnnLayer"]
