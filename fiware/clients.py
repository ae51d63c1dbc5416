"""The FIWARE clients a process uses, each on one pooled HTTP client, opened and closed together."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from fiware.history import HistoryStore, PagedHistory
from fiware.http import make_http_client
from fiware.iota import IotAgentClient
from fiware.orion import OrionClient
from fiware.quantumleap import QuantumLeapClient
from fiware.sth import SthClient
from fiware.stores import HistoryStores


@dataclass
class FiwareClients:
    """One pooled HTTP client per FIWARE service, shared by every request of the process."""

    orion: OrionClient
    sth: SthClient
    iota: IotAgentClient
    http: list[httpx.AsyncClient]
    history: HistoryStores
    """Series and published forecasts, each read from its model's store (the deployment's by default)."""
    quantumleap: QuantumLeapClient | None = None

    @property
    def store(self) -> HistoryStore:
        """The deployment's history store: the one a model that names none reads."""
        return self.history.default

    def store_of(self, chosen: HistoryStore | None) -> HistoryStore:
        """The store a model that chose ``chosen`` (None: nothing recorded) reads and publishes to."""
        return chosen or self.history.default

    @classmethod
    def open(
        cls,
        *,
        orion_url: str,
        sth_url: str,
        iota_url: str,
        timeout: float,
        sth_page_size: int,
        sth_concurrency: int,
        store: HistoryStore = HistoryStore.STH_COMET,
        quantumleap_url: str | None = None,
        quantumleap_page_size: int = 1000,
    ) -> FiwareClients:
        orion_http = make_http_client(orion_url, timeout=timeout)
        # A collection keeps `sth_concurrency` pages in flight per chunk, several chunks at once.
        sth_http = make_http_client(sth_url, timeout=timeout, max_connections=sth_concurrency * 4)
        iota_http = make_http_client(iota_url, timeout=timeout)
        sth = SthClient(sth_http, max_page_size=sth_page_size, concurrency=sth_concurrency)
        stores: dict[HistoryStore, PagedHistory] = {HistoryStore.STH_COMET: sth}
        http = [orion_http, sth_http, iota_http]
        quantumleap = None
        if quantumleap_url:
            ql_http = make_http_client(quantumleap_url, timeout=timeout, max_connections=sth_concurrency * 4)
            quantumleap = QuantumLeapClient(
                ql_http, max_page_size=quantumleap_page_size, concurrency=sth_concurrency
            )
            stores[HistoryStore.QUANTUMLEAP] = quantumleap
            http.append(ql_http)
        return cls(
            orion=OrionClient(orion_http),
            sth=sth,
            iota=IotAgentClient(iota_http),
            http=http,
            history=HistoryStores(stores, default=store),
            quantumleap=quantumleap,
        )

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()


__all__ = ["FiwareClients", "HistoryStore"]
