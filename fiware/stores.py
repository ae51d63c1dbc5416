"""Every history store a deployment reaches, read as one: each series from the store it names.

A deployment has a store of its own (``CHRONOS_HISTORY_STORE``) and a model may name another (its
data came from there): :class:`Series` carries that choice, so services read through one
:class:`HistoryStores` and never choose an adapter themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx

from fiware.errors import FiwareUnavailable
from fiware.history import Collected, HistoryStore, PagedHistory, RawPage, Series, ShouldContinue
from fiware.http import Tenant

NAMES = {HistoryStore.STH_COMET: "STH-Comet", HistoryStore.QUANTUMLEAP: "QuantumLeap"}


class HistoryStores(PagedHistory):
    """Reads each series from the store it names, the deployment's ``default`` when it names none."""

    service = "history store"

    def __init__(self, stores: Mapping[HistoryStore, PagedHistory], *, default: HistoryStore) -> None:
        self.stores = dict(stores)
        self.default = default
        self.concurrency = self.of(None).concurrency

    def store_of(self, series: Series | None) -> HistoryStore:
        """The store ``series`` is read from."""
        return series.store if series is not None and series.store is not None else self.default

    def of(self, series: Series | None) -> PagedHistory:
        """The adapter of ``series``'s store; FiwareUnavailable when this process reaches none."""
        store = self.store_of(series)
        adapter = self.stores.get(store)
        if adapter is None:
            raise FiwareUnavailable(
                f"{NAMES[store]} is not configured in this deployment", service=NAMES[store]
            )
        return adapter

    @property
    def http(self) -> httpx.AsyncClient:
        return self.of(None).http

    async def version(self) -> str:
        return await self.of(None).version()

    def page_size(self, series: Series) -> int:
        return self.of(series).page_size(series)

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
        return await self.of(series).raw(
            series,
            tenant,
            h_limit=h_limit,
            h_offset=h_offset,
            last_n=last_n,
            date_from=date_from,
            date_to=date_to,
            count=count,
        )

    async def count(
        self,
        series: Series,
        tenant: Tenant,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> int:
        return await self.of(series).count(series, tenant, date_from=date_from, date_to=date_to)

    async def collect(
        self,
        series: Series,
        tenant: Tenant,
        *,
        last_n: int | None = None,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
    ) -> Collected:
        return await self.of(series).collect(
            series, tenant, last_n=last_n, date_from=date_from, date_to=date_to
        )

    async def newest(self, series: Series, tenant: Tenant, *, n: int) -> Collected:
        return await self.of(series).newest(series, tenant, n=n)

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
        return await self.of(series).read_range(
            series,
            tenant,
            offset=offset,
            limit=limit,
            date_from=date_from,
            date_to=date_to,
            should_continue=should_continue,
        )


__all__ = ["NAMES", "HistoryStores"]
