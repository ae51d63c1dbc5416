"""``python -m fiware.sandbox``: Orion, STH-Comet, IoT Agent, QuantumLeap and Cygnus stand-ins on their
usual ports. Cygnus writes what it receives into STH-Comet's store. QuantumLeap and Cygnus came later:
a port of theirs that is taken (or set to 0) leaves that service out instead of stopping the sandbox."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType

from starlette.types import ASGIApp

from fiware.sandbox import fake_cygnus, fake_iota, fake_orion, fake_ql, fake_sth
from fiware.sandbox.config import QL_FLAVORS, SandboxConfig
from fiware.sandbox.demo import DemoDataMissing, seed_demo
from fiware.sandbox.faults import CONTROL_PATH, FaultMiddleware, Faults, Outage
from fiware.sandbox.server import RunningApp, start_in_thread, stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fiware.sandbox", description=__doc__)
    parser.add_argument("--orion-port", type=int, default=1026)
    parser.add_argument("--sth-port", type=int, default=8666)
    parser.add_argument("--iota-port", type=int, default=4041)
    parser.add_argument("--ql-port", type=int, default=8668, help="QuantumLeap; 0 leaves it out")
    # The Mongo sink's port in the Cygnus image's multisink layout, where STH-Comet's tutorial sends Orion.
    parser.add_argument("--cygnus-port", type=int, default=5051, help="Cygnus; 0 leaves it out")
    parser.add_argument("--seed", choices=["none", "demo"], default="none", help="data to start with")
    parser.add_argument("--service", default="smart", help="tenant of the demo data")
    parser.add_argument("--service-path", default="/", help="service path of the demo data")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--max-page-size", type=int, default=100, help="STH maxPageSize")
    parser.add_argument("--orion-version", default="3.12.0", help="4.x refuses legacy notifications")
    parser.add_argument(
        "--ql-flavor", choices=QL_FLAVORS, default="1.0.0", help="master answers id/type and [] for no data"
    )
    parser.add_argument("--ql-default-limit", type=int, default=10000, help="QuantumLeap DEFAULT_LIMIT")
    parser.add_argument(
        "--orion-fault",
        choices=[mode.value for mode in Outage],
        default=Outage.OFF.value,
        help=f"start with Orion answering 503 or hanging; switch it later with PUT {CONTROL_PATH} "
        """'{"mode": "off"}' on Orion's port (each service has its own switch)""",
    )
    return parser.parse_args(argv)


def _config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        max_page_size=args.max_page_size,
        latency_seconds=args.latency_ms / 1000,
        orion_version=args.orion_version,
        ql_flavor=args.ql_flavor,
        ql_default_limit=args.ql_default_limit,
    )


def _start_optional(name: str, app: ASGIApp, port: int) -> RunningApp | None:
    """QuantumLeap or Cygnus: a taken port leaves the service out, so that a caller who only knows
    the first three services (and their ports) still gets them."""
    if not port:
        return None
    try:
        return start_in_thread(app, port)
    except RuntimeError:
        print(f"FIWARE sandbox: {name} left out, port {port} is not free", flush=True)
        return None


def _wait(running: list[RunningApp], faults: dict[str, Faults]) -> None:
    """Serve until SIGINT/SIGTERM or until a server dies, then stop them all."""
    done = threading.Event()

    def finish(signum: int, frame: FrameType | None) -> None:
        done.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, finish)
    while not done.is_set() and all(r.thread.is_alive() for r in running):
        time.sleep(0.2)
    for switch in faults.values():
        switch.switch(Outage.OFF)  # hung requests answer now instead of holding the shutdown
    for app in running:
        stop(app)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = _config(args)
    stores = (fake_sth.SthStore(), fake_orion.OrionStore(), fake_iota.IotaStore())
    ql_store = fake_ql.QlStore()
    if args.seed == "demo":
        try:
            counts = seed_demo(
                sth=stores[0],
                orion=stores[1],
                iota=stores[2],
                ql=ql_store,
                service=args.service,
                service_path=args.service_path,
            )
        except DemoDataMissing as error:
            raise SystemExit(f"FIWARE sandbox: {error}") from None
        for entity_id, count in counts.items():
            print(f"demo: {entity_id}: {count} points of history", flush=True)
    faults = {name: Faults() for name in ("sth", "orion", "iota", "ql", "cygnus")}
    faults["orion"].switch(Outage(args.orion_fault))
    apps = {
        "sth": (fake_sth.create_app(config, stores[0]), args.sth_port),
        "orion": (fake_orion.create_app(config, stores[1]), args.orion_port),
        "iota": (fake_iota.create_app(config, stores[2]), args.iota_port),
    }
    running = [
        start_in_thread(FaultMiddleware(app, faults[name]), port) for name, (app, port) in apps.items()
    ]
    print(
        f"FIWARE sandbox: STH-Comet {running[0].url}, Orion {running[1].url} ({args.orion_version}), "
        f"IoT Agent {running[2].url}",
        flush=True,
    )
    ql_app = FaultMiddleware(fake_ql.create_app(config, ql_store), faults["ql"])
    cygnus_app = FaultMiddleware(fake_cygnus.create_app(config, stores[0]), faults["cygnus"])
    for name, app, port in (("QuantumLeap", ql_app, args.ql_port), ("Cygnus", cygnus_app, args.cygnus_port)):
        started = _start_optional(name, app, port)
        if started is not None:
            running.append(started)
            flavor = f" ({args.ql_flavor})" if name == "QuantumLeap" else " (into STH-Comet's store)"
            print(f"FIWARE sandbox: {name} {started.url}{flavor}", flush=True)
    if faults["orion"].standing is not Outage.OFF:
        print(f"FIWARE sandbox: Orion outage switch on ({args.orion_fault})", flush=True)
    _wait(running, faults)


if __name__ == "__main__":
    main()
