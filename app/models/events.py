"""What happens to a model on its own, as events on Redis: drift found or ended, a retraining
started, skipped or failed, a challenger promoted or kept.

The model document holds the state (``monitoring``, ``retraining_state``) and the challenger job
its verdict; these events only tell a listener (``modelUpdates``) when to look, so they are best
effort like every pub/sub message: a lost one loses no state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from app.models.documents import ModelDocument
from app.timeutil import utcnow
from app.training import events

# Every model's events on one channel: listeners filter by model and tenant.
MODELS_CHANNEL = "chronos:models"


class ModelEventKind(StrEnum):
    DRIFTING = "DRIFTING"
    DRIFT_ENDED = "DRIFT_ENDED"
    RETRAINING_STARTED = "RETRAINING_STARTED"
    RETRAINING_SKIPPED = "RETRAINING_SKIPPED"
    RETRAINING_FAILED = "RETRAINING_FAILED"
    CHALLENGER_PROMOTED = "CHALLENGER_PROMOTED"
    CHALLENGER_KEPT = "CHALLENGER_KEPT"


@dataclass(frozen=True)
class ModelEvent:
    model_id: UUID
    kind: ModelEventKind
    at: datetime
    message: str | None = None
    training_job_id: UUID | None = None
    service: str = ""
    service_path: str = ""

    # Listeners treat every model event alike: none ends a stream, none is kept over another.
    terminal = False

    def to_json(self) -> str:
        values = asdict(self)
        values.update(
            model_id=str(self.model_id),
            kind=self.kind.value,
            at=self.at.isoformat(),
            training_job_id=str(self.training_job_id) if self.training_job_id else None,
        )
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelEvent:
        values: dict[str, Any] = json.loads(text)
        job = values.get("training_job_id")
        return cls(
            **{
                **values,
                "model_id": UUID(values["model_id"]),
                "kind": ModelEventKind(values["kind"]),
                "at": datetime.fromisoformat(values["at"]),
                "training_job_id": UUID(job) if job else None,
            }
        )


async def announce(
    model: ModelDocument, kind: ModelEventKind, *, message: str | None = None, job_id: UUID | None = None
) -> None:
    """Publish one event of ``model`` (never fails: Redis down is logged once per outage)."""
    event = ModelEvent(
        model_id=model.id,
        kind=kind,
        at=utcnow(),
        message=message,
        training_job_id=job_id,
        service=model.fiware_service,
        service_path=model.fiware_service_path,
    )
    await events.publish(MODELS_CHANNEL, event.to_json(), about=str(model.id))


__all__ = ["MODELS_CHANNEL", "ModelEvent", "ModelEventKind", "announce"]
