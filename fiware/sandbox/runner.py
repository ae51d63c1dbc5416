"""The sandbox services together, on real ports in background threads (tests, benchmarks): Orion,
STH-Comet, the IoT Agent, QuantumLeap, and Cygnus writing into STH-Comet's store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from fiware.sandbox import fake_cygnus, fake_iota, fake_orion, fake_ql, fake_sth
from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.faults import FaultMiddleware, Faults, Outage
from fiware.sandbox.server import start_in_thread, stop

SERVICES = ("orion", "sth", "iota", "ql", "cygnus")


@dataclass
class Sandbox:
    """Base URLs, the stores behind them (to seed or inspect) and faults per service (planned ones and
    the outage switch, see :mod:`fiware.sandbox.faults`). Cygnus has no store of its own: what it
    receives lands in ``sth``, where STH-Comet reads it."""

    orion_url: str
    sth_url: str
    iota_url: str
    orion: fake_orion.OrionStore
    sth: fake_sth.SthStore
    iota: fake_iota.IotaStore
    faults: dict[str, Faults] = field(default_factory=dict)
    # Later additions, with defaults so that positional construction of the first fields still works.
    ql_url: str = ""
    ql: fake_ql.QlStore = field(default_factory=fake_ql.QlStore)
    cygnus_url: str = ""


@contextlib.contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[Sandbox]:
    config = config or SandboxConfig()
    orion, sth, iota, ql = (
        fake_orion.OrionStore(),
        fake_sth.SthStore(),
        fake_iota.IotaStore(),
        fake_ql.QlStore(),
    )
    faults = {name: Faults() for name in SERVICES}
    apps = {
        "orion": fake_orion.create_app(config, orion),
        "sth": fake_sth.create_app(config, sth),
        "iota": fake_iota.create_app(config, iota),
        "ql": fake_ql.create_app(config, ql),
        "cygnus": fake_cygnus.create_app(config, sth),
    }
    running = {name: start_in_thread(FaultMiddleware(app, faults[name])) for name, app in apps.items()}
    try:
        yield Sandbox(
            running["orion"].url,
            running["sth"].url,
            running["iota"].url,
            orion,
            sth,
            iota,
            faults=faults,
            ql_url=running["ql"].url,
            ql=ql,
            cygnus_url=running["cygnus"].url,
        )
    finally:
        for switch in faults.values():
            switch.switch(Outage.OFF)  # hung requests answer now instead of holding the shutdown
        for app in running.values():
            stop(app)


__all__ = ["SERVICES", "Sandbox", "running_sandbox"]
