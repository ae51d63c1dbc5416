"""The three sandbox services together, on real ports in background threads (tests, benchmarks)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from fiware.sandbox import fake_iota, fake_orion, fake_sth
from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.faults import FaultMiddleware, Faults, Outage
from fiware.sandbox.server import start_in_thread, stop


@dataclass
class Sandbox:
    """Base URLs, the stores behind them (to seed or inspect) and faults per service (planned ones and
    the outage switch, see :mod:`fiware.sandbox.faults`)."""

    orion_url: str
    sth_url: str
    iota_url: str
    orion: fake_orion.OrionStore
    sth: fake_sth.SthStore
    iota: fake_iota.IotaStore
    faults: dict[str, Faults] = field(default_factory=dict)


@contextlib.contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[Sandbox]:
    config = config or SandboxConfig()
    stores = (fake_orion.OrionStore(), fake_sth.SthStore(), fake_iota.IotaStore())
    faults = {name: Faults() for name in ("orion", "sth", "iota")}
    apps = [
        FaultMiddleware(fake_orion.create_app(config, stores[0]), faults["orion"]),
        FaultMiddleware(fake_sth.create_app(config, stores[1]), faults["sth"]),
        FaultMiddleware(fake_iota.create_app(config, stores[2]), faults["iota"]),
    ]
    running = [start_in_thread(app) for app in apps]
    try:
        yield Sandbox(running[0].url, running[1].url, running[2].url, *stores, faults=faults)
    finally:
        for switch in faults.values():
            switch.switch(Outage.OFF)  # hung requests answer now instead of holding the shutdown
        for app in running:
            stop(app)


__all__ = ["Sandbox", "running_sandbox"]
