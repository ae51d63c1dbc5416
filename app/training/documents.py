"""Beanie document of a training job (collection ``training_jobs``), after the seed's domain model."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID, uuid4

import pymongo
from beanie import Document
from pydantic import BaseModel, Field
from pymongo import IndexModel

from app.timeutil import utcnow


class TrainingStatus(StrEnum):
    PENDING = "PENDING"
    COLLECTING_DATA = "COLLECTING_DATA"
    PREPROCESSING = "PREPROCESSING"
    TRAINING = "TRAINING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELLED = "CANCELLED"


class DataCollectionStatus(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class DataCollectionJob(BaseModel):
    id: UUID = Field(default_factory=uuid4)
    h_offset: int
    last_n: int
    status: DataCollectionStatus = DataCollectionStatus.PENDING
    data_points_collected: int = 0
    error: str | None = None


class TrainingMetrics(BaseModel):
    # None where a metric is undefined (constant series, values near zero): never NaN.
    mse: float | None = None
    mae: float | None = None
    rmse: float | None = None
    theil_u: float | None = None
    mape: float | None = None
    r2: float | None = None


class PredictionConfig(BaseModel):
    enabled: bool = False
    entity_id: str | None = None
    subscription_id: str | None = None
    sampling_interval_seconds: float | None = None
    next_prediction_at: datetime | None = None


class TrainingJobDocument(Document):
    id: UUID = Field(default_factory=uuid4)  # type: ignore[assignment]
    model_id: UUID
    status: TrainingStatus = TrainingStatus.PENDING
    last_n: int | None = None
    data_collection_jobs: list[DataCollectionJob] = Field(default_factory=list)
    metrics: TrainingMetrics | None = None
    prediction_config: PredictionConfig = Field(default_factory=PredictionConfig)
    task_refs: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "training_jobs"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("model_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)],
                name="model_id_created_at",
            ),
            # The forecast scheduler asks: enabled jobs whose next run is due.
            IndexModel(
                [
                    ("prediction_config.enabled", pymongo.ASCENDING),
                    ("prediction_config.next_prediction_at", pymongo.ASCENDING),
                ],
                name="prediction_due",
            ),
        ]
