"""The slot grid of recurring forecasts: ``anchor + k·interval``, on BSON's millisecond clock.

Enabling anchors the grid at that moment (``next_prediction_at``); the scheduler only ever moves
``next_prediction_at`` by whole steps, so the grid never drifts and a slot is the same instant to
the scheduler, the task message and the record of what became of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Missed slots listed per job (missed_count counts every one): a long outage adds one count, not
# thousands of entries.
RECENT_MISSES = 20
# Slots a run settled, kept per job to refuse a second settlement of one slot. A duplicate of a
# slot's task comes within a few slots of it (a redelivery, a retry), never 20 slots later.
SETTLED_SLOTS = 20


def step_of(interval: float) -> timedelta:
    return timedelta(milliseconds=max(1, round(interval * 1000)))


@dataclass(frozen=True)
class Position:
    """Where the clock stands on a job's grid when the scheduler looks at it."""

    current: datetime
    """The newest slot at or before now: the one to run."""
    missed: int
    """Slots before it that came due and were never claimed (nothing ran the scheduler)."""
    step: timedelta

    @property
    def next(self) -> datetime:
        return self.current + self.step

    def missed_slots(self, limit: int = RECENT_MISSES) -> list[datetime]:
        """The newest ``limit`` of the missed slots, oldest first."""
        return [self.current - k * self.step for k in range(min(self.missed, limit), 0, -1)]


def position(due: datetime, now: datetime, step: timedelta) -> Position:
    """The grid position of a job whose next slot was ``due`` (at or before ``now``)."""
    behind = max(0, (now - due) // step)
    return Position(current=due + behind * step, missed=behind, step=step)


def late(slot: datetime, step: timedelta, now: datetime) -> bool:
    """Whether a run of ``slot`` starting ``now`` is too late: the next slot is already due."""
    return now >= slot + step


__all__ = ["RECENT_MISSES", "SETTLED_SLOTS", "Position", "late", "position", "step_of"]
