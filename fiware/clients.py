"""The three FIWARE clients a process uses, each on one pooled HTTP client, opened and closed together."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from fiware.http import make_http_client
from fiware.iota import IotAgentClient
from fiware.orion import OrionClient
from fiware.sth import SthClient


@dataclass
class FiwareClients:
    """One pooled HTTP client per FIWARE service, shared by every request of the process."""

    orion: OrionClient
    sth: SthClient
    iota: IotAgentClient
    http: list[httpx.AsyncClient]

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
    ) -> FiwareClients:
        orion_http = make_http_client(orion_url, timeout=timeout)
        # A collection keeps `sth_concurrency` pages in flight per chunk, several chunks at once.
        sth_http = make_http_client(sth_url, timeout=timeout, max_connections=sth_concurrency * 4)
        iota_http = make_http_client(iota_url, timeout=timeout)
        return cls(
            orion=OrionClient(orion_http),
            sth=SthClient(sth_http, max_page_size=sth_page_size, concurrency=sth_concurrency),
            iota=IotAgentClient(iota_http),
            http=[orion_http, sth_http, iota_http],
        )

    async def close(self) -> None:
        for client in self.http:
            await client.aclose()


__all__ = ["FiwareClients"]
