"""What PredictionSchedule makes of a job's record of missed slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from app.training.documents import MissedSlot, MissReason, PredictionConfig, TrainingJobDocument
from schema.predictions.types import PredictionSchedule

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def job_with(config: PredictionConfig) -> TrainingJobDocument:
    # Only the fields from_document reads: the resolver is a plain mapping, no database involved.
    job: TrainingJobDocument = TrainingJobDocument.model_construct(id=uuid4(), prediction_config=config)
    return job


def test_missed_slots_are_listed_newest_first_with_their_count() -> None:
    misses = [
        MissedSlot(slot=SLOT, reason=MissReason.NO_WORKER),
        MissedSlot(slot=SLOT + timedelta(minutes=2), reason=MissReason.ORION_UNAVAILABLE),
        MissedSlot(slot=SLOT + timedelta(minutes=1), reason=MissReason.NO_WORKER),
    ]
    schedule = PredictionSchedule.from_document(
        job_with(PredictionConfig(missed_count=57, recent_misses=misses))
    )
    assert schedule.missed_count == 57
    assert [(m.slot, m.reason) for m in schedule.recent_misses] == [
        (SLOT + timedelta(minutes=2), MissReason.ORION_UNAVAILABLE),
        (SLOT + timedelta(minutes=1), MissReason.NO_WORKER),
        (SLOT, MissReason.NO_WORKER),
    ]


def test_a_job_that_never_missed_a_slot() -> None:
    schedule = PredictionSchedule.from_document(job_with(PredictionConfig()))
    assert schedule.missed_count == 0 and schedule.recent_misses == []
