"""QuantumLeap client: raw history reads of one attribute series, as :class:`fiware.history.PagedHistory`.

``GET /v2/entities/{id}/attrs/{attr}`` answers ``index`` (``YYYY-MM-DDTHH:MM:SS.mmm+00:00``) and
``values`` ascending by time, paged with ``limit``/``offset`` from the oldest, or the newest
``lastN`` (with ``offset``: skip the newest ``offset`` first), ``fromDate``/``toDate`` inclusive
(ngsi-timeseries-api ``src/translators/sql_translator.py``, ``specification/quantumleap.yml``).
Two response shapes are in use and both are read: 1.0.0 names the entity ``entityId``/``entityType``
and answers "no data" with 404 ``No records were found for such query.``; master (1.0.1-dev) says
``id``/``type`` and answers 200 ``[]``.

What QuantumLeap does not say, and how this client copes:

- **No total.** There is no count header: a count is ``aggrMethod=count`` over the same window
  (SQL ``count`` of the column: the rows whose value the store could cast, which are the rows a
  forecast can use; it works on every column type, ``sum`` and ``avg`` do not). Should the store
  still refuse it (404 "AggrMethod cannot be applied", its answer to a failed aggregation), the rows
  are counted by reading their pages.
- **A silent row cap.** Every answer holds at most ``min(lastN, limit, DEFAULT_LIMIT)`` rows, and
  ``DEFAULT_LIMIT`` (10,000 unless the operator set it) is applied without a word. Pages are
  ``max_page_size`` (1,000) rows, well under it; a page that still comes back short is followed by
  a request for the rest: rows there mean the server capped the page, and later pages are planned
  at the size it answered.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from fiware.errors import FiwareError, FiwareNotFound
from fiware.history import (
    DEFAULT_CONCURRENCY,
    PagedHistory,
    RawEntry,
    RawPage,
    Series,
    format_time,
)
from fiware.http import DEFAULT_RETRY, RetryPolicy, ServiceClient, Tenant, encode_path, read_json

SERVICE = "QuantumLeap"
DEFAULT_PAGE_SIZE = 1000
# QuantumLeap's DEFAULT_LIMIT when the operator did not set one (src/translators/config.py).
SERVER_LIMIT = 10_000
NO_RECORDS = "No records were found for such query."
NOT_AGGREGABLE = "AggrMethod cannot be applied"


class QuantumLeapClient(PagedHistory):
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.service = SERVICE
        self.client = ServiceClient(http, service=SERVICE, retry=retry)
        self.max_page_size = min(max_page_size, SERVER_LIMIT)
        self.concurrency = concurrency

    @property
    def http(self) -> httpx.AsyncClient:
        return self.client.http

    async def version(self) -> str:
        response = await self.client.request("GET", "/version")
        return str(self.client.object_of(response).get("version", "unknown"))

    async def _get(
        self, series: Series, tenant: Tenant, query: dict[str, str | int]
    ) -> dict[str, Any] | None:
        """One attribute query; None when the store holds no such rows (either version's answer)."""
        path = encode_path("v2", "entities", series.entity_id, "attrs", series.attribute)
        try:
            response = await self.client.request(
                "GET", path, tenant=tenant, params={"type": series.entity_type, **query}
            )
        except FiwareNotFound as error:
            if NO_RECORDS in str(error.body):
                return None
            raise
        body = read_json(response, service=SERVICE)
        if body == []:
            return None
        return self.client.object_of(response)

    async def _page(self, series: Series, tenant: Tenant, query: dict[str, str | int]) -> list[RawEntry]:
        body = await self._get(series, tenant, query)
        if body is None:
            return []
        index, values = body.get("index"), body.get("values")
        if not isinstance(index, list) or not isinstance(values, list) or len(index) != len(values):
            raise FiwareError(f"{SERVICE} answered a series whose index and values differ", service=SERVICE)
        return [RawEntry(str(moment), None, value) for moment, value in zip(index, values, strict=True)]

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
        window = _window(date_from, date_to)
        rows = self._rows(series, tenant, limit=h_limit, offset=h_offset or 0, last_n=last_n, window=window)
        if not count:
            return RawPage(await rows, None)
        entries, total = await asyncio.gather(rows, self._count(series, tenant, window))
        return RawPage(entries, total)

    async def _rows(
        self,
        series: Series,
        tenant: Tenant,
        *,
        limit: int | None,
        offset: int,
        last_n: int | None,
        window: dict[str, str | int],
    ) -> list[RawEntry]:
        """``limit`` rows from ``offset`` (or the newest ``last_n``), asked for again past a silent cap."""
        wanted = last_n if last_n is not None else limit
        if wanted is not None and wanted <= 0:
            return []  # QuantumLeap refuses 0 (its minimum is 1); nothing was asked for
        entries: list[RawEntry] = []
        short: int | None = None
        while True:
            missing = None if wanted is None else wanted - len(entries)
            query = dict(window)
            if last_n is not None:
                query |= {"lastN": missing or last_n, "offset": len(entries)}
            else:
                query |= {"offset": offset + len(entries)} | ({"limit": missing} if missing else {})
            page = await self._page(series, tenant, query)
            if short is not None and page:  # rows past a short page: the server capped that page
                self.max_page_size = min(self.max_page_size, short)
            # lastN pages go back in time: each holds rows older than those already read.
            entries = page + entries if last_n is not None else entries + page
            if missing is None or not page or len(page) >= missing:
                return entries
            short = len(page)

    async def count(
        self,
        series: Series,
        tenant: Tenant,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> int:
        return await self._count(series, tenant, _window(date_from, date_to))

    async def _count(self, series: Series, tenant: Tenant, window: dict[str, str | int]) -> int:
        try:
            body = await self._get(series, tenant, {**window, "aggrMethod": "count"})
        except FiwareNotFound as error:
            if NOT_AGGREGABLE not in str(error.body):
                raise
            return await self._count_pages(series, tenant, window)
        if body is None:
            return 0
        values = body.get("values")
        if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], int | float):
            raise FiwareError(f"{SERVICE} answered a count that is not a number: {values!r}", service=SERVICE)
        return int(values[0])

    async def _count_pages(self, series: Series, tenant: Tenant, window: dict[str, str | int]) -> int:
        """Rows counted by reading them: for a store that refuses to aggregate the column."""
        total = 0
        while True:
            page = await self._page(series, tenant, {**window, "offset": total, "limit": self.max_page_size})
            total += len(page)
            if not page:
                return total


def _window(date_from: datetime | None, date_to: datetime | None) -> dict[str, str | int]:
    window: dict[str, str | int] = {}
    if date_from is not None:
        window["fromDate"] = format_time(date_from)
    if date_to is not None:
        window["toDate"] = format_time(date_to)
    return window


__all__ = ["DEFAULT_PAGE_SIZE", "NO_RECORDS", "SERVER_LIMIT", "SERVICE", "QuantumLeapClient"]
