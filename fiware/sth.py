"""STH-Comet client: raw history reads of one attribute series, as :class:`fiware.history.PagedHistory`.

STH serves at most ``maxPageSize`` (default 100) points per request, ascending by time, with
``hLimit``/``hOffset`` paging and an optional ``fiware-total-count`` header (fiware-sth-comet
``lib/server/handlers/sthGetDataHandler.js``; ``MAX_PAGE_SIZE`` in ``config.js``): the count comes
from that header, and the collection, slices and newest points from the shared paging.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from fiware.errors import FiwareError
from fiware.history import (
    DEFAULT_CONCURRENCY,
    Collected,
    PagedHistory,
    Point,
    RawEntry,
    RawPage,
    ReadStopped,
    Series,
    ShouldContinue,
    format_time,
    page_plan,
    parse_time,
    parse_value,
)
from fiware.http import DEFAULT_RETRY, RetryPolicy, ServiceClient, Tenant, encode_path

SERVICE = "STH-Comet"
DEFAULT_PAGE_SIZE = 100


def _entries(items: Any) -> list[RawEntry]:
    if not isinstance(items, list):
        return []
    # An entry without a time is kept (with an empty one) so that it is counted as dropped, not lost.
    return [
        RawEntry(str(item.get("recvTime", "")), item.get("attrType"), item.get("attrValue"))
        if isinstance(item, dict)
        else RawEntry("", None, item)
        for item in items
    ]


class SthClient(PagedHistory):
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        max_page_size: int = DEFAULT_PAGE_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry: RetryPolicy = DEFAULT_RETRY,
        api: str = "v2",
    ) -> None:
        if api not in {"v1", "v2"}:
            raise ValueError("api must be 'v1' or 'v2'")
        self.service = SERVICE
        self.client = ServiceClient(http, service=SERVICE, retry=retry)
        self.max_page_size = max_page_size
        self.concurrency = concurrency
        self.api = api

    @property
    def http(self) -> httpx.AsyncClient:
        return self.client.http

    async def version(self) -> str:
        response = await self.client.request("GET", "/version")
        return str(self.client.object_of(response).get("version", "unknown"))

    def _path(self, series: Series) -> tuple[str, dict[str, str]]:
        if self.api == "v2":
            path = encode_path("STH", "v2", "entities", series.entity_id, "attrs", series.attribute)
            return path, {"type": series.entity_type}
        path = encode_path(
            "STH", "v1", "contextEntities", "type", series.entity_type, "id", series.entity_id,
            "attributes", series.attribute,
        )  # fmt: skip
        return path, {}

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
        """One raw-data request, exactly as STH takes it."""
        path, params = self._path(series)
        query: dict[str, str | int] = dict(params)
        for key, value in (("hLimit", h_limit), ("hOffset", h_offset), ("lastN", last_n)):
            if value is not None:
                query[key] = value
        if date_from is not None:
            query["dateFrom"] = format_time(date_from)
        if date_to is not None:
            query["dateTo"] = format_time(date_to)
        if count:
            query["count"] = "true"
        response = await self.client.request("GET", path, tenant=tenant, params=query)
        body = self.client.object_of(response)
        if self.api == "v2":
            entries = _entries(body.get("value"))
        else:
            try:
                attribute = body["contextResponses"][0]["contextElement"]["attributes"][0]
            except (KeyError, IndexError, TypeError):
                attribute = {}
            entries = _entries(attribute.get("values"))
        header = response.headers.get("fiware-total-count")
        if header is None:
            return RawPage(entries, None)
        try:
            return RawPage(entries, int(header))
        except ValueError:
            raise FiwareError(f"{SERVICE} sent fiware-total-count {header!r}", service=SERVICE) from None

    async def count(
        self,
        series: Series,
        tenant: Tenant,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> int:
        """How many points STH holds for the series (in the window, when given)."""
        page = await self.raw(
            series, tenant, h_limit=1, h_offset=0, date_from=date_from, date_to=date_to, count=True
        )
        if page.total is None:
            # Without the header a count of 0 would read as "no data": say what happened instead.
            raise FiwareError(f"{SERVICE} sent no fiware-total-count (older than 2.4.0?)", service=SERVICE)
        return page.total


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PAGE_SIZE",
    "Collected",
    "Point",
    "RawEntry",
    "RawPage",
    "ReadStopped",
    "Series",
    "ShouldContinue",
    "SthClient",
    "format_time",
    "page_plan",
    "parse_time",
    "parse_value",
]
