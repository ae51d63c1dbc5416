"""Forecast history: the runs STH-Comet stored for a job's forecast entity, newest first.

STH pages oldest first by offset; counting from the end would shift under new runs. So a page is
"the newest ``first`` runs recorded at or before a time", and the cursor is the record time of the
oldest run returned: the next page ends just before it, whatever arrived meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.auth.tenancy import TenantScope
from app.errors import ErrorCode, FieldError, NotFound, ValidationFailed
from app.models.service import parse_id
from app.timeutil import safely_in_range
from app.training import service as training
from app.training.config import series_of
from app.training.documents import TrainingJobDocument
from app.upstream import translate
from fiware.errors import FiwareError, FiwareNotFound
from fiware.history import PagedHistory, Series, parse_time
from fiware.orion import FORECAST_ATTRIBUTE

MAX_PAGE = 100
_CURSOR_PREFIX = "h1:"


@dataclass(frozen=True)
class RunPoint:
    step: int
    value: float | None
    target_timestamp: datetime | None
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class Run:
    recorded_at: datetime
    generated_at: datetime | None
    horizon: int
    points: list[RunPoint]
    cursor: str
    interval_level: float | None = None


@dataclass(frozen=True)
class HistoryPage:
    runs: list[Run]
    has_next_page: bool
    total: int

    @property
    def end_cursor(self) -> str | None:
        return self.runs[-1].cursor if self.runs else None


def _encode(moment: datetime) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{moment.isoformat()}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> datetime | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            return None
        moment = datetime.fromisoformat(raw.removeprefix(_CURSOR_PREFIX))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return moment if moment.tzinfo is not None and safely_in_range(moment) else None


def _optional_time(value: object) -> datetime | None:
    try:
        return parse_time(str(value)) if value else None
    except ValueError:
        return None


def parse_run(recorded_at: datetime, value: object) -> Run | None:
    """One stored forecast; STH may hand back the object itself or its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, dict) or not isinstance(value.get("points"), list):
        return None
    points = [_run_point(point) for point in value["points"] if isinstance(point, dict)]
    horizon = value.get("horizon")
    return Run(
        recorded_at=recorded_at,
        generated_at=_optional_time(value.get("generatedAt")),
        horizon=horizon if isinstance(horizon, int) else len(points),
        points=[point for point in points if point is not None],
        cursor=_encode(recorded_at),
        interval_level=_number(value.get("intervalLevel")),
    )


def _number(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _run_point(point: dict[str, Any]) -> RunPoint | None:
    """A stored point, from whatever a client or an older Chronos left there: ``None`` without a step."""
    if not isinstance(point.get("step"), int):
        return None
    return RunPoint(
        point["step"],
        _number(point.get("value")),
        _optional_time(point.get("targetTimestamp")),
        _number(point.get("lower")),
        _number(point.get("upper")),
    )


def _check(
    date_from: datetime | None, date_to: datetime | None, first: int, after: str | None
) -> datetime | None:
    problems: list[FieldError] = []
    for name, value in (("from", date_from), ("to", date_to)):
        if value is not None and value.tzinfo is None:
            problems.append(
                FieldError(ErrorCode.VALIDATION_ERROR, "must carry a time zone offset, e.g. ...Z", (name,))
            )
        elif value is not None and not safely_in_range(value):
            problems.append(
                FieldError(ErrorCode.VALIDATION_ERROR, "must fall between years 2 and 9998 in UTC", (name,))
            )
    if not 1 <= first <= MAX_PAGE:
        problems.append(
            FieldError(ErrorCode.VALIDATION_ERROR, f"must be between 1 and {MAX_PAGE}", ("first",))
        )
    position = _decode(after) if after is not None else None
    if after is not None and position is None:
        problems.append(FieldError(ErrorCode.VALIDATION_ERROR, "is not a cursor of this list", ("after",)))
    if problems:
        raise ValidationFailed(problems)
    return position


async def history(
    *,
    job_id: str,
    date_from: datetime | None,
    date_to: datetime | None,
    first: int,
    after: str | None,
    scope: TenantScope,
    history: PagedHistory,
) -> HistoryPage:
    position = _check(date_from, date_to, first, after)
    job = training.visible(await TrainingJobDocument.get(parse_id(job_id, field="trainingJobId")), scope)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist", field=("trainingJobId",))
    config = job.prediction_config
    if config.entity_id is None:
        return HistoryPage([], has_next_page=False, total=0)
    # STH's dates are inclusive and kept to the millisecond: the next page ends 1 ms earlier.
    upper = date_to if position is None else position - timedelta(milliseconds=1)
    if date_to is not None and upper is not None:
        upper = min(upper, date_to)
    series = Series(
        entity_type=config.entity_type or "Prediction",
        entity_id=config.entity_id,
        attribute=FORECAST_ATTRIBUTE,
        store=job.config.history_store,
    )
    tenant = series_of(job.config)[1]
    try:
        counted = await history.raw(
            series, tenant, h_limit=1, h_offset=0, date_from=date_from, date_to=upper, count=True
        )
        total = counted.total or 0
        offset = max(0, total - first)
        page = (
            await history.raw(
                series, tenant, h_limit=total - offset, h_offset=offset, date_from=date_from, date_to=upper
            )
            if total
            else None
        )
    except FiwareNotFound:
        return HistoryPage([], has_next_page=False, total=0)
    except FiwareError as error:
        raise translate(error) from error
    runs = []
    for entry in reversed(page.entries if page else []):
        recorded = _optional_time(entry.recv_time)
        run = parse_run(recorded, entry.attr_value) if recorded is not None else None
        if run is not None:
            runs.append(run)
    return HistoryPage(runs, has_next_page=offset > 0, total=total)


__all__ = ["MAX_PAGE", "HistoryPage", "Run", "RunPoint", "history", "parse_run"]
