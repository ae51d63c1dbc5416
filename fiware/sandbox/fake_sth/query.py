"""What a raw-data request asks for, and which points it gets: the dispatch and the
``hLimit <= lastN <= config.maxPageSize`` gate of ``sthGetDataHandler.js`` ``getDataHandler``
(JavaScript truthiness included), and the three query shapes of ``sthDatabase.js`` ``getRawData``:
``lastN`` gives the newest N in ascending order, a truthy ``hOffset``/``hLimit`` gives an ascending
page, anything else gives every point; ``dateFrom`` and ``dateTo`` are both inclusive.

``maxPageSize`` comes from ``SandboxConfig.max_page_size`` (default 100, as STH's ``config.js``
``server.maxPageSize`` and env ``MAX_PAGE_SIZE``).

Deliberately not implemented:

- aggregated data: a request that dispatches there gets 501 (in the route's error format) rather
  than invented aggregates.
- ``filetype=csv`` downloads: 501 likewise. ``filetype=CSV`` passes the gate but the database
  layer only honours lower case, so upstream (and this sandbox) answers JSON with every point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from fiware.sandbox.fake_sth.http import Failure, query_failure

_T = TypeVar("_T")


def _typed(values: Mapping[str, object], name: str, kind: type[_T]) -> _T | None:
    value = values.get(name)
    return value if isinstance(value, kind) else None


@dataclass(frozen=True)
class DataQuery:
    last_n: int | None
    h_limit: int | None
    h_offset: int | None
    date_from: int | None
    date_to: int | None
    filetype: str | None
    count: bool
    aggr_method: str | None
    aggr_period: str | None
    entity_type: str | None

    @classmethod
    def from_values(cls, values: Mapping[str, object]) -> DataQuery:
        return cls(
            last_n=_typed(values, "lastN", int),
            h_limit=_typed(values, "hLimit", int),
            h_offset=_typed(values, "hOffset", int),
            date_from=_typed(values, "dateFrom", int),
            date_to=_typed(values, "dateTo", int),
            filetype=_typed(values, "filetype", str),
            count=_typed(values, "count", bool) is True,
            aggr_method=_typed(values, "aggrMethod", str),
            aggr_period=_typed(values, "aggrPeriod", str),
            entity_type=_typed(values, "type", str),
        )

    def admit_raw(self, max_page_size: int) -> None:
        """getDataHandler's dispatch, raising unless the request is for raw data this sandbox serves."""
        if not self._wants_raw():
            if self.aggr_method and self.aggr_period:
                raise Failure(501, "The STH sandbox does not implement aggregated data")
            raise query_failure(
                "A combination of the following query params is required: lastN, hLimit and hOffset, "
                "filetype, or aggrMethod and aggrPeriod"
            )
        self._check_page_size(max_page_size)
        # Only the exact lower-case value reaches the CSV writer upstream.
        if self.filetype == "csv":
            raise Failure(501, "The STH sandbox does not implement filetype=csv")

    def _wants_raw(self) -> bool:
        """0 counts as present here, unlike in the page-size rule."""
        paged = self.h_limit is not None and self.h_offset is not None
        csv = self.filetype is not None and self.filetype.lower() == "csv"
        return self.last_n is not None or paged or csv

    def _check_page_size(self, max_page_size: int) -> None:
        """``hLimit <= lastN <= config.maxPageSize``, tested with JavaScript truthiness like upstream, so
        ``lastN=0`` or ``hLimit=0`` skip their part of the rule."""
        last_n, h_limit = self.last_n or 0, self.h_limit or 0
        too_big = last_n > max_page_size or h_limit > max_page_size
        if too_big or (h_limit and last_n and h_limit > last_n):
            raise query_failure("hLimit <= lastN <= config.maxPageSize")

    def select(self, lo: int, hi: int) -> tuple[int, int]:
        """getRawData's three shapes over the ascending date window ``[lo, hi)``. MongoDB's
        ``limit(0)`` means no limit, hence ``lastN=0`` and ``hLimit=0`` return everything."""
        if self.last_n is not None:
            return (max(lo, hi - self.last_n) if self.last_n else lo), hi
        if self.h_offset or self.h_limit:
            start = min(lo + (self.h_offset or 0), hi)
            return start, (min(start + self.h_limit, hi) if self.h_limit else hi)
        return lo, hi
