"""History stores: the port every reader of sensor history uses, and the paging both adapters share.

A history store keeps the readings of one attribute of one entity (a :class:`Series`) and answers
pages of them in time order, counted from the oldest: STH-Comet (``fiware.sth``) and QuantumLeap
(``fiware.quantumleap``) both do, with ``limit``/``offset`` paging and a ``lastN`` read of the
newest. :class:`PagedHistory` holds what is built on that: collection of a whole series with
bounded concurrency and a stability check, slices for chunked collection, the newest ``n``. An
adapter supplies one raw request (:meth:`PagedHistory.raw`), a count (:meth:`PagedHistory.count`)
and its version. Nothing here knows Mongo, Redis or Celery.
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

import httpx

from fiware.errors import FiwareBadRequest, FiwareError
from fiware.http import Tenant

# Asked before each page, with the entries received so far: whether to go on.
ShouldContinue = Callable[[int], Awaitable[bool]]


class ReadStopped(Exception):
    """A read was abandoned because its ``should_continue`` answered False (a cancelled job)."""


DEFAULT_CONCURRENCY = 5


class HistoryStore(StrEnum):
    """Where sensor history and the forecasts Orion notifies are kept."""

    STH_COMET = "sth-comet"
    QUANTUMLEAP = "quantumleap"


@dataclass(frozen=True)
class Series:
    """One attribute of one entity: what a history store keeps a history of."""

    entity_type: str
    entity_id: str
    attribute: str
    # The store that holds it; None: the deployment's (a model records its own, older ones do not).
    store: HistoryStore | None = None


@dataclass(frozen=True, slots=True)
class RawEntry:
    recv_time: str
    attr_type: str | None
    attr_value: object


@dataclass(frozen=True)
class RawPage:
    entries: list[RawEntry]
    total: int | None


@dataclass(frozen=True, slots=True, order=True)
class Point:
    timestamp: datetime
    value: float


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None


@dataclass
class Collected:
    """Points of a series in time order, and an account of what was left out."""

    points: list[Point]
    requested: int
    pages: int = 0
    dropped: int = 0
    duplicates: int = 0
    drop_examples: list[str] = field(default_factory=list)
    # False when the series kept changing under two reads: the points may miss or repeat a few.
    stable: bool = True
    # Newest recvTime seen on any entry, parsed or dropped: the line between old and appended data.
    latest: datetime | None = None

    @property
    def distinct(self) -> int:
        return len(self.points) + self.dropped


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: how STH (a JS Date) keeps times, and a form QuantumLeap
    parses in ``fromDate``/``toDate`` (``dateutil.parser.isoparse``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)  # Python 3.11 reads the trailing 'Z' itself
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_value(value: object) -> float | None:
    """A finite float, or None for what a forecast cannot use (text, booleans, NaN, objects)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


class PagedHistory(ABC):
    """A history store read in pages of at most ``max_page_size`` points, ``concurrency`` at once."""

    service: str
    """The store's name in errors and logs (``STH-Comet``, ``QuantumLeap``)."""
    max_page_size: int
    concurrency: int

    @property
    @abstractmethod
    def http(self) -> httpx.AsyncClient:
        """The pooled HTTP client the store is reached with (health checks use it)."""

    @abstractmethod
    async def version(self) -> str:
        """The store's version, as it reports it."""

    def page_size(self, series: Series) -> int:
        """The most points one request for ``series`` answers."""
        return self.max_page_size

    @abstractmethod
    async def raw(
        self,
        series: Series,
        tenant: Tenant,
        *,
        h_limit: int | None = None,
        h_offset: int | None = None,
        last_n: int | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        count: bool = False,
    ) -> RawPage:
        """One page: ``h_limit`` points from ``h_offset`` (from the oldest, in the window when given),
        or the newest ``last_n``, ascending; with ``count``, the total in the window too. A series
        the store holds nothing of is an empty page (total 0)."""

    @abstractmethod
    async def count(
        self,
        series: Series,
        tenant: Tenant,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> int:
        """How many points the store holds for the series (in the window, when given)."""

    async def collect(
        self,
        series: Series,
        tenant: Tenant,
        *,
        last_n: int | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> Collected:
        """The newest ``last_n`` points, or every point in ``[date_from, date_to]`` (both inclusive).

        Offset paging is only as stable as the series: a point older than others landing during
        the read shifts every later page (one point repeats, another is skipped), and STH has no
        order among equal times. So a read is checked: the newest page, asked with ``count=true``
        afterwards, must show the same total and entries we read; points appended meanwhile are
        taken from it; anything else reads once more, and a second failure is reported as
        ``stable=False``.
        """
        if last_n is None and date_from is None and date_to is None:
            raise FiwareBadRequest("collect needs last_n or a date window", service=self.service)
        if last_n is not None and last_n < 0:
            raise FiwareBadRequest("last_n must not be negative", service=self.service)
        window = Window(date_from, date_to)
        total = await self.count(series, tenant, date_from=date_from, date_to=date_to)
        for _ in range(2):
            result = await self._read(series, tenant, total=total, last_n=last_n, window=window)
            newest = await self.raw(
                series, tenant, last_n=self.max_page_size, date_from=date_from, date_to=date_to, count=True
            )
            after = newest.total if newest.total is not None else total
            if result.distinct == result.requested and self._settle(result, newest, grown=after - total):
                break
            total = after
        else:
            result.stable = False
        if last_n is not None and len(result.points) > last_n:
            del result.points[: len(result.points) - last_n]
        return result

    def _settle(self, result: Collected, newest: RawPage, *, grown: int) -> bool:
        """True when nothing moved, or only points after everything read were added (taken now)."""
        if grown == 0:
            return True
        if grown < 0 or grown > len(newest.entries):
            return False
        added = newest.entries[-grown:]
        try:
            if result.latest is not None and any(parse_time(e.recv_time) <= result.latest for e in added):
                return False
        except ValueError:
            return False
        self._absorb(added, result)
        _sort_unique(result)
        result.requested += grown
        return True

    async def newest(self, series: Series, tenant: Tenant, *, n: int) -> Collected:
        """The newest ``n`` points: one ``lastN`` request when a page holds them, else ``collect``.

        A forecast's context is small, and one round trip instead of a count, pages and a check
        is most of a warm forecast's latency.
        """
        if n > self.max_page_size:
            return await self.collect(series, tenant, last_n=n)
        page = await self.raw(series, tenant, last_n=n)
        result = Collected(points=[], requested=n, pages=1)
        self._absorb(page.entries, result)
        _sort_unique(result)
        return result

    async def read_range(
        self,
        series: Series,
        tenant: Tenant,
        *,
        offset: int,
        limit: int,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        should_continue: ShouldContinue | None = None,
    ) -> Collected:
        """Points ``[offset, offset + limit)`` counted from the oldest (in the window, when given).

        One slice of a larger collection: the caller plans the slices from one count, and since
        STH counts offsets from the oldest point, points appended meanwhile never shift a slice.
        ``should_continue`` is awaited before each page with the entries received so far (parsed,
        dropped and repeated alike: a caller's progress); when it answers False the read stops with
        :class:`ReadStopped`.
        """
        if offset < 0 or limit < 0:
            raise FiwareBadRequest("offset and limit must not be negative", service=self.service)
        stop = offset + limit
        plan = [
            (start, min(self.max_page_size, stop - start))
            for start in range(offset, stop, self.max_page_size)
        ]
        return await self._read_plan(
            series, tenant, plan=plan, window=Window(date_from, date_to), should_continue=should_continue
        )

    async def _read(
        self, series: Series, tenant: Tenant, *, total: int, last_n: int | None, window: Window
    ) -> Collected:
        plan = list(page_plan(total, last_n, self.max_page_size))
        result = await self._read_plan(series, tenant, plan=plan, window=window, should_continue=None)
        result.requested = total - plan[0][0] if plan else 0
        return result

    async def _read_plan(
        self,
        series: Series,
        tenant: Tenant,
        *,
        plan: list[tuple[int, int]],
        window: Window,
        should_continue: ShouldContinue | None,
    ) -> Collected:
        pages = iter(plan)
        result = Collected(points=[], requested=sum(limit for _, limit in plan))

        async def worker() -> None:
            # Each worker holds one page at most: memory is the parsed points plus `concurrency` pages.
            for offset, limit in pages:
                received = len(result.points) + result.dropped + result.duplicates
                if should_continue is not None and not await should_continue(received):
                    raise ReadStopped(f"read of {series.entity_id}/{series.attribute} stopped")
                page = await self.raw(
                    series, tenant, h_limit=limit, h_offset=offset, date_from=window.start, date_to=window.end
                )
                result.pages += 1
                self._absorb(page.entries, result)

        try:
            # A task group: one failed page cancels the others instead of letting them run on.
            async with asyncio.TaskGroup() as group:
                for _ in range(max(1, min(self.concurrency, len(plan)))):
                    group.create_task(worker())
        except BaseExceptionGroup as group:
            # One error for the caller to act on: a stop wins (the job is over), then a FIWARE
            # failure (retry or explain it); anything else is a bug and stays a group.
            leaves = _leaves(group)
            for kind in (ReadStopped, FiwareError):
                for error in leaves:
                    if isinstance(error, kind):
                        raise error from None
            raise
        _sort_unique(result)
        return result

    @staticmethod
    def _absorb(entries: list[RawEntry], result: Collected) -> None:
        for entry in entries:
            try:
                timestamp: datetime | None = parse_time(entry.recv_time)
            except ValueError:
                timestamp = None
            if timestamp is not None and (result.latest is None or timestamp > result.latest):
                result.latest = timestamp
            value = parse_value(entry.attr_value) if timestamp is not None else None
            if timestamp is None or value is None:
                result.dropped += 1
                if len(result.drop_examples) < 5:
                    result.drop_examples.append(f"{entry.recv_time}: {entry.attr_value!r}")
                continue
            result.points.append(Point(timestamp, value))


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found.extend(_leaves(error) if isinstance(error, BaseExceptionGroup) else [error])
    return found


def _sort_unique(result: Collected) -> None:
    """Time order, each (time, value) once: equal times have no stable order in STH, so a point
    can come back on two pages. Sorting first makes the repeats neighbours, without a set."""
    result.points.sort()
    unique: list[Point] = []
    for point in result.points:
        if unique and unique[-1] == point:
            result.duplicates += 1
        else:
            unique.append(point)
    result.points = unique


def page_plan(total: int, last_n: int | None, page_size: int) -> Iterator[tuple[int, int]]:
    """(hOffset, hLimit) of each request ``collect`` makes; exposed for benchmarks and tests."""
    start = max(0, total - last_n) if last_n is not None else 0
    for offset in range(start, total, page_size):
        yield offset, page_size


__all__ = [
    "DEFAULT_CONCURRENCY",
    "Collected",
    "HistoryStore",
    "PagedHistory",
    "Point",
    "RawEntry",
    "RawPage",
    "ReadStopped",
    "Series",
    "ShouldContinue",
    "Window",
    "format_time",
    "page_plan",
    "parse_time",
    "parse_value",
]
