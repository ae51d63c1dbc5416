"""The STH-Comet sandbox's memory: raw points per (service, service path, entity type, entity id,
attribute), keyed and deduplicated as ``sthNotificationHandler.js`` stores them, and read by date
window. MongoDB failures (500 ``MongoDB is not connected``), truncation and the non-default data
models are not implemented."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import pairwise
from operator import itemgetter

from fiware.sandbox.fake_sth.dates import to_ms


def same_json(left: object, right: object) -> bool:
    """lodash ``_.isEqual`` on JSON values, which STH uses to tell a repeat from an update: unlike
    Python's ``==``, ``true`` is not ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return False
    return left == right


SeriesKey = tuple[str, str, str, str, str]
"""(service, service path, entity type, entity id, attribute name): one attribute's raw points."""

Row = tuple[int, str | None, object]
"""(recvTime in ms, attrType, attrValue): what STH's projection returns for one raw point."""


class Series:
    """One attribute's points sorted by time, as parallel lists so ``bisect`` works on the times.
    Equal times stay in arrival order (MongoDB has no tie-breaker either)."""

    __slots__ = ("times", "types", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.types: list[str | None] = []
        self.values: list[object] = []

    def put(self, ms: int, attr_type: str | None, value: object) -> bool:
        """One point under STH's (recvTime, attrName, attrType) key; False when it was already there."""
        times = self.times
        if not times or ms > times[-1]:
            self._insert(len(times), ms, attr_type, value)
            return True
        end = bisect_right(times, ms)
        for index in range(bisect_left(times, ms), end):
            if self.types[index] == attr_type:
                if same_json(self.values[index], value):
                    return False
                self.values[index] = value
                return True
        self._insert(end, ms, attr_type, value)
        return True

    def append_later(self, attr_type: str | None, points: list[tuple[int, object]]) -> int:
        """Sorted points all later than the stored ones: the common seeding case, kept cheap."""
        times = [ms for ms, _ in points]
        if all(earlier < later for earlier, later in pairwise(times)):
            self.times.extend(times)
            self.types.extend([attr_type] * len(points))
            self.values.extend(value for _, value in points)
            return len(points)
        return sum(self.put(ms, attr_type, value) for ms, value in points)

    def merge(self, attr_type: str | None, points: list[tuple[int, object]]) -> int:
        """Many points that interleave with the stored ones: a rebuild, because inserting each one into
        the middle of the lists would be quadratic."""
        slots: dict[tuple[int, str | None], object] = dict(
            zip(zip(self.times, self.types, strict=True), self.values, strict=True)
        )
        stored = 0
        for ms, value in points:
            key = (ms, attr_type)
            if key in slots and same_json(slots[key], value):
                continue
            slots[key] = value
            stored += 1
        ordered = sorted(slots.items(), key=lambda item: item[0][0])
        self.times = [ms for (ms, _), _ in ordered]
        self.types = [kind for (_, kind), _ in ordered]
        self.values = [value for _, value in ordered]
        return stored

    def window(self, date_from: int | None, date_to: int | None) -> tuple[int, int]:
        """Index bounds of the points with ``dateFrom <= recvTime <= dateTo`` (``$gte``/``$lte``)."""
        lo = 0 if date_from is None else bisect_left(self.times, date_from)
        hi = len(self.times) if date_to is None else bisect_right(self.times, date_to)
        return lo, max(lo, hi)

    def rows(self, start: int, stop: int) -> list[Row]:
        return list(zip(self.times[start:stop], self.types[start:stop], self.values[start:stop], strict=True))

    def _insert(self, index: int, ms: int, attr_type: str | None, value: object) -> None:
        self.times.insert(index, ms)
        self.types.insert(index, attr_type)
        self.values.insert(index, value)


class SthStore:
    """In-memory raw data, per (service, servicePath, entityType, entityId, attrName).

    Thread-safe: tests and benchmarks seed it from their own thread while the server reads it."""

    def __init__(self) -> None:
        self._series: dict[SeriesKey, Series] = {}
        self._lock = threading.Lock()

    def add_points(
        self,
        *,
        service: str,
        service_path: str,
        entity_type: str,
        entity_id: str,
        attr_name: str,
        attr_type: str,
        points: Iterable[tuple[datetime, object]],
    ) -> int:
        """Seed points as if notified, with the same keying; returns how many were stored (new or
        overwritten). Naive datetimes are UTC; precision is cut to milliseconds, as in STH."""
        batch = sorted(((to_ms(moment), value) for moment, value in points), key=itemgetter(0))
        if not batch:
            return 0
        key = (service, service_path, entity_type, entity_id, attr_name)
        with self._lock:
            series = self._series.setdefault(key, Series())
            if series.times and batch[0][0] <= series.times[-1]:
                return series.merge(attr_type, batch)
            return series.append_later(attr_type, batch)

    def count(
        self, *, service: str, service_path: str, entity_type: str, entity_id: str, attr_name: str
    ) -> int:
        with self._lock:
            series = self._series.get((service, service_path, entity_type, entity_id, attr_name))
            return len(series.times) if series else 0

    def put(self, key: SeriesKey, ms: int, attr_type: str | None, value: object) -> bool:
        """One notified point; False when STH would ignore it as already registered."""
        with self._lock:
            return self._series.setdefault(key, Series()).put(ms, attr_type, value)

    def read(
        self,
        key: SeriesKey,
        *,
        date_from: int | None,
        date_to: int | None,
        select: Callable[[int, int], tuple[int, int]],
    ) -> tuple[int, list[Row]]:
        """The number of points in the date window, and the rows ``select`` picks from its bounds."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                return 0, []
            lo, hi = series.window(date_from, date_to)
            start, stop = select(lo, hi)
            return hi - lo, series.rows(start, stop)

    def remove(
        self,
        *,
        service: str,
        service_path: str,
        entity_type: str | None = None,
        entity_id: str | None = None,
        attr_name: str | None = None,
    ) -> None:
        """Drop a tenant's data, narrowed to an entity and then to one of its attributes."""
        wanted = (service, service_path, entity_type, entity_id, attr_name)
        with self._lock:
            for key in [key for key in self._series if _covers(wanted, key)]:
                del self._series[key]


def _covers(wanted: tuple[str | None, ...], key: SeriesKey) -> bool:
    return all(part is None or part == actual for part, actual in zip(wanted, key, strict=True))
