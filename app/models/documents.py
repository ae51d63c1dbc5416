"""Beanie document of a forecasting model (collection ``models``)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID, uuid4

import pymongo
from beanie import Document
from pydantic import Field
from pymongo import IndexModel

from app.models.config import ModelConfig
from app.models.enums import ModelStatus
from app.models.policy import Monitoring, RetrainingPolicy, RetrainingState
from app.timeutil import utcnow


class ModelDocument(ModelConfig, Document):
    """A model's configuration (declared by ``ModelConfig``) as stored, with its life cycle."""

    id: UUID = Field(default_factory=uuid4)  # type: ignore[assignment]
    # Always set: a model created without one takes its default name.
    name: str
    description: str | None = None
    status: ModelStatus = ModelStatus.DRAFT
    has_successful_training: bool = False
    # The job that holds the model while it trains: set and cleared atomically, it is the lock
    # that makes "one running job per model" hold under concurrent startTraining calls.
    active_job_id: UUID | None = None
    # When the lock was taken: the watchdog frees a lock whose job is missing only once it is old,
    # since admission takes the lock a moment before it stores the job.
    active_since: datetime | None = None
    # The champion: the COMPLETED job whose forecasts the model stands for (promoteTrainingJob).
    # Distinct from active_job_id, the training lock; the first job to complete takes it when empty.
    champion_job_id: UUID | None = None
    champion_since: datetime | None = None
    # Scheduled retraining and drift rule (setRetrainingPolicy); None: the defaults, no schedule.
    retraining: RetrainingPolicy | None = None
    retraining_state: RetrainingState = Field(default_factory=RetrainingState)
    # Live accuracy of the model's published forecasts and the drift verdict, kept by beat's tick.
    monitoring: Monitoring = Field(default_factory=Monitoring)
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
            # Health asks whether any model reads a store other than the deployment's.
            IndexModel([("history_store", pymongo.ASCENDING)], name="history_store"),
            # Beat's ticks look for models due a retraining or a live-accuracy check.
            IndexModel([("retraining_state.next_at", pymongo.ASCENDING)], name="retraining_due"),
            IndexModel([("monitoring.next_check_at", pymongo.ASCENDING)], name="monitoring_due"),
            # The metrics scrape reads the most recently evaluated models first.
            IndexModel(
                [("monitoring.evaluated_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)],
                name="monitoring_evaluated",
            ),
            # Newest-first keyset pagination sorts on exactly this pair.
            IndexModel(
                [("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)],
                name="created_at_desc",
            ),
        ]


__all__ = ["ModelDocument"]
