"""The FIWARE clients a process uses, each on one pooled HTTP client, opened and closed together."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import httpx

from fiware.history import PagedHistory
from fiware.http import make_http_client
from fiware.iota import IotAgentClient
from fiware.orion import OrionClient
from fiware.quantumleap import QuantumLeapClient
from fiware.sth import SthClient


class HistoryStore(StrEnum):
    """Where a deployment keeps sensor history and the forecasts Orion notifies."""

    STH_COMET = "sth-comet"
    QUANTUMLEAP = "quantumleap"


@dataclass
class FiwareClients:
    """One pooled HTTP client per FIWARE service, shared by every request of the process."""

    orion: OrionClient
    sth: SthClient
    iota: IotAgentClient
    http: list[httpx.AsyncClient]
    quantumleap: QuantumLeapClient | None = None
    store: HistoryStore = HistoryStore.STH_COMET

    @property
    def history(self) -> PagedHistory:
        """The history store this deployment reads series and published forecasts from."""
        if self.store is HistoryStore.QUANTUMLEAP and self.quantumleap is not None:
            return self.quantumleap
        return self.sth

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
        opened = cls(
            orion=OrionClient(orion_http),
            sth=SthClient(sth_http, max_page_size=sth_page_size, concurrency=sth_concurrency),
            iota=IotAgentClient(iota_http),
            http=[orion_http, sth_http, iota_http],
            store=store,
        )
        if quantumleap_url:
            ql_http = make_http_client(quantumleap_url, timeout=timeout, max_connections=sth_concurrency * 4)
            opened.quantumleap = QuantumLeapClient(
                ql_http, max_page_size=quantumleap_page_size, concurrency=sth_concurrency
            )
            opened.http.append(ql_http)
        return opened

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()


__all__ = ["FiwareClients", "HistoryStore"]
