"""A model's retraining policy and what watching it records: declared once, checked here.

The policy (``setRetrainingPolicy``) says when the model retrains on a schedule (an interval, or a
cron expression read in an explicit IANA time zone, so "every day at 03:00" stays at 03:00 local
time across daylight-saving changes), on which data (the newest N points or a duration), how much
better a challenger must be to replace the champion, and the drift rule. The state
(``RetrainingState``, ``Monitoring``) is what beat's ticks record; :mod:`app.models.repository`
writes all of it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter
from pydantic import BaseModel, Field

from app.errors import ErrorCode, FieldError, ValidationFailed

MIN_INTERVAL_SECONDS = 60.0
MAX_INTERVAL_SECONDS = 366 * 86_400.0
# A cron expression that fires less than once in this long is refused as one that never fires.
CRON_HORIZON = timedelta(days=366 * 4 + 1)
MAX_LAST_N = 1_000_000
MAX_DURATION_SECONDS = 10 * 366 * 86_400.0
MAX_MARGIN = 0.9
MIN_DRIFT_FACTOR, MAX_DRIFT_FACTOR = 1.0, 100.0
MAX_SUSTAIN_SECONDS = 30 * 86_400.0
MAX_DRIFT_WINDOW_SECONDS = 7 * 86_400.0
# Live RMSE evaluations kept per model: the drift rule looks back through them.
HISTORY_KEPT = 500


class RetrainingSchedule(BaseModel):
    """When a model retrains on its own: every ``interval_seconds``, or at each ``cron`` time."""

    interval_seconds: float | None = Field(
        None, description="Seconds between retrainings (60 s to a year); give this or `cron`."
    )
    cron: str | None = Field(
        None,
        description="A five-field cron expression (minute hour day month weekday); or `intervalSeconds`.",
    )
    time_zone: str = Field(
        "UTC", description="IANA time zone the cron expression is read in, e.g. `Europe/Madrid`."
    )


class DataWindow(BaseModel):
    """The history a retraining learns from: the newest ``last_n`` points, or ``duration_seconds``."""

    last_n: int | None = Field(None, description="The newest N points; or `durationSeconds`.")
    duration_seconds: float | None = Field(
        None, description="Everything in this many seconds back from the retraining's start."
    )


class DriftRule(BaseModel):
    """When the model counts as drifting: live RMSE above ``factor`` × its test RMSE for ``sustain``."""

    factor: float = Field(2.0, description="Live RMSE over the active version's test RMSE that counts.")
    sustain_seconds: float = Field(
        3600.0, description="How long every evaluation must exceed it before the model is drifting."
    )
    window_seconds: float = Field(
        86_400.0, description="The rolling window (seconds) whose live RMSE the rule reads."
    )
    retrain: bool = Field(False, description="Start one retraining when the model starts drifting.")


class RetrainingPolicy(BaseModel):
    """A model's scheduled retraining and drift rule."""

    schedule: RetrainingSchedule | None = Field(None, description="Null: retrain on drift or by hand only.")
    data_window: DataWindow = Field(default_factory=DataWindow, description="What a retraining learns from.")
    promotion_margin: float = Field(
        0.0,
        description=(
            "A challenger replaces the champion only when its holdout RMSE is at most "
            "(1 - margin) × the champion's on the same holdout; 0.05 asks for 5 % better."
        ),
    )
    drift: DriftRule = Field(default_factory=DriftRule, description="The drift rule.")


class RetrainingState(BaseModel):
    """What the retraining tick records on the model."""

    next_at: datetime | None = None
    challenger_job_id: UUID | None = None
    # Set while one process decides the challenger's fate: a second one waits it out.
    deciding_since: datetime | None = None
    last_started_at: datetime | None = None
    last_trigger: str | None = None
    last_outcome: str | None = None
    last_error: str | None = None
    # Why the pending challenger's decision could not be made yet (the next tick tries again).
    decision_error: str | None = None


class WindowScore(BaseModel):
    """Live accuracy over one rolling window."""

    window_seconds: float
    forecasts: int = 0
    pairs: int = 0
    mae: float | None = None
    rmse: float | None = None
    u2: float | None = None
    coverage: float | None = None
    bias: float | None = None


class RmseSample(BaseModel):
    at: datetime
    rmse: float | None


class Monitoring(BaseModel):
    """The newest live-accuracy evaluation of a model's published forecasts and the drift verdict."""

    next_check_at: datetime | None = None
    evaluated_at: datetime | None = None
    job_id: UUID | None = None
    reference_rmse: float | None = None
    windows: list[WindowScore] = Field(default_factory=list)
    history: list[RmseSample] = Field(default_factory=list)
    drifting: bool = False
    drifting_since: datetime | None = None
    # The drift episode's retraining, started once per episode.
    drift_job_id: UUID | None = None
    error: str | None = None


def _problem(message: str, *path: str) -> FieldError:
    return FieldError(ErrorCode.VALIDATION_ERROR, message, ("input", *path))


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _schedule_problems(schedule: RetrainingSchedule, now: datetime, min_interval: float) -> list[FieldError]:
    given = [schedule.interval_seconds is not None, schedule.cron is not None]
    if sum(given) != 1:
        return [_problem("give exactly one of intervalSeconds and cron", "schedule")]
    if _zone(schedule.time_zone) is None:
        return [_problem(f"unknown IANA time zone {schedule.time_zone!r}", "schedule", "timeZone")]
    if schedule.interval_seconds is not None:
        interval = schedule.interval_seconds
        if not (math.isfinite(interval) and min_interval <= interval <= MAX_INTERVAL_SECONDS):
            return [
                _problem(
                    f"must be {min_interval:g} to {MAX_INTERVAL_SECONDS:g} s (got {interval})",
                    "schedule",
                    "intervalSeconds",
                )
            ]
        return []
    try:
        next_fire(schedule, after=now)
    except ValueError as error:
        return [_problem(str(error), "schedule", "cron")]
    return []


def _window_problems(window: DataWindow) -> list[FieldError]:
    if window.last_n is not None and window.duration_seconds is not None:
        return [_problem("give lastN or durationSeconds, not both", "dataWindow")]
    if window.last_n is not None and not 1 <= window.last_n <= MAX_LAST_N:
        return [_problem(f"must be 1 to {MAX_LAST_N} (got {window.last_n})", "dataWindow", "lastN")]
    seconds = window.duration_seconds
    if seconds is not None and not (math.isfinite(seconds) and 0 < seconds <= MAX_DURATION_SECONDS):
        message = f"must be above 0 and at most {MAX_DURATION_SECONDS:g} s (got {seconds})"
        return [_problem(message, "dataWindow", "durationSeconds")]
    return []


def _bounded(value: float, low: float, high: float, *path: str, low_open: bool = False) -> list[FieldError]:
    above = value > low if low_open else value >= low
    if math.isfinite(value) and above and value <= high:
        return []
    bound = "above" if low_open else "at least"
    return [_problem(f"must be {bound} {low:g} and at most {high:g} (got {value})", *path)]


def check_policy(
    policy: RetrainingPolicy, *, now: datetime, min_interval: float = MIN_INTERVAL_SECONDS
) -> None:
    """VALIDATION_ERROR with every problem at its field (paths under ``input``), or nothing."""
    problems: list[FieldError] = []
    if policy.schedule is not None:
        problems += _schedule_problems(policy.schedule, now, min_interval)
    problems += _window_problems(policy.data_window)
    problems += _bounded(policy.promotion_margin, 0.0, MAX_MARGIN, "promotionMargin")
    drift = policy.drift
    problems += _bounded(drift.factor, MIN_DRIFT_FACTOR, MAX_DRIFT_FACTOR, "drift", "factor", low_open=True)
    problems += _bounded(drift.sustain_seconds, 0.0, MAX_SUSTAIN_SECONDS, "drift", "sustainSeconds")
    problems += _bounded(
        drift.window_seconds, 0.0, MAX_DRIFT_WINDOW_SECONDS, "drift", "windowSeconds", low_open=True
    )
    if problems:
        raise ValidationFailed(problems)


def next_fire(schedule: RetrainingSchedule, *, after: datetime) -> datetime:
    """The first scheduled time strictly after ``after`` (UTC); ValueError for a cron expression that
    is malformed or never fires within four years (``0 0 30 2 *``)."""
    if schedule.interval_seconds is not None:
        return after + timedelta(seconds=schedule.interval_seconds)
    expression = schedule.cron or ""
    zone = _zone(schedule.time_zone) or ZoneInfo("UTC")
    if len(expression.split()) != 5:
        raise ValueError(
            f"{expression!r} is not a five-field cron expression (minute hour day month weekday)"
        )
    try:
        fire = croniter(expression, after.astimezone(zone), max_years_between_matches=4).get_next(datetime)
    except CroniterBadDateError as error:  # a ValueError too: caught first
        raise ValueError(f"{expression!r} never fires (no time matches it within four years)") from error
    except (CroniterBadCronError, CroniterNotAlphaError, ValueError, KeyError) as error:
        raise ValueError(f"{expression!r} is not a valid cron expression: {error}") from error
    fired: datetime = fire.astimezone(ZoneInfo("UTC"))
    if fired - after > CRON_HORIZON:
        raise ValueError(f"{expression!r} never fires within four years")
    return fired


__all__ = [
    "HISTORY_KEPT",
    "DataWindow",
    "DriftRule",
    "Monitoring",
    "RetrainingPolicy",
    "RetrainingSchedule",
    "RetrainingState",
    "RmseSample",
    "WindowScore",
    "check_policy",
    "next_fire",
]
