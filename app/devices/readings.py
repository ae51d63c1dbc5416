"""An entity's recent readings, read from a history store: what a console draws beside its devices
(sparklines) and against a model's forecasts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.auth.tenancy import TenantScope
from app.devices.service import checked_tenant
from app.errors import ErrorCode, FieldError, ValidationFailed
from app.upstream import translate
from fiware.errors import FiwareError, FiwareNotFound
from fiware.history import HistoryStore, PagedHistory, Point, Series

MAX_READINGS = 10_000


@dataclass(frozen=True)
class Readings:
    points: list[Point]
    store: HistoryStore
    # Readings the store held that were not numbers (left out of ``points``).
    dropped: int


def _check(last_n: int, date_from: datetime | None, date_to: datetime | None) -> None:
    problems = []
    if not 1 <= last_n <= MAX_READINGS:
        problems.append(FieldError(ErrorCode.VALIDATION_ERROR, f"must be 1 to {MAX_READINGS:,}", ("lastN",)))
    for name, value in (("dateFrom", date_from), ("dateTo", date_to)):
        if value is not None and value.tzinfo is None:
            problems.append(FieldError(ErrorCode.VALIDATION_ERROR, "needs a time zone offset", (name,)))
    if date_from and date_to and date_from.tzinfo and date_to.tzinfo and date_from > date_to:
        problems.append(FieldError(ErrorCode.VALIDATION_ERROR, "is after dateTo", ("dateFrom",)))
    if problems:
        raise ValidationFailed(problems)


async def recent_readings(
    *,
    history: PagedHistory,
    series: Series,
    service: str,
    service_path: str,
    last_n: int,
    date_from: datetime | None,
    date_to: datetime | None,
    scope: TenantScope,
    store: HistoryStore,
) -> Readings:
    """The newest ``last_n`` numeric readings of ``series`` (in the window, when given), oldest
    first; none for a tenant the caller does not hold, as for an entity the store never saw."""
    _check(last_n, date_from, date_to)
    tenant = checked_tenant(service, service_path)
    if not scope.allows(tenant.service, tenant.service_path):
        return Readings([], store, 0)
    try:
        if date_from is None and date_to is None:
            collected = await history.newest(series, tenant, n=last_n)
        else:
            collected = await history.collect(
                series, tenant, last_n=last_n, date_from=date_from, date_to=date_to
            )
    except FiwareNotFound:
        return Readings([], store, 0)
    except FiwareError as error:
        raise translate(error) from error
    return Readings(collected.points, store, collected.dropped)


__all__ = ["MAX_READINGS", "Readings", "recent_readings"]
