"""``python -m fiware.sandbox``: Orion, STH-Comet and IoT Agent stand-ins on their usual ports."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType

from fiware.sandbox import fake_iota, fake_orion, fake_sth
from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.demo import DemoDataMissing, seed_demo
from fiware.sandbox.faults import CONTROL_PATH, FaultMiddleware, Faults, Outage
from fiware.sandbox.server import start_in_thread, stop


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fiware.sandbox", description=__doc__)
    parser.add_argument("--orion-port", type=int, default=1026)
    parser.add_argument("--sth-port", type=int, default=8666)
    parser.add_argument("--iota-port", type=int, default=4041)
    parser.add_argument("--seed", choices=["none", "demo"], default="none", help="data to start with")
    parser.add_argument("--service", default="smart", help="tenant of the demo data")
    parser.add_argument("--service-path", default="/", help="service path of the demo data")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    parser.add_argument("--max-page-size", type=int, default=100, help="STH maxPageSize")
    parser.add_argument("--orion-version", default="3.12.0", help="4.x refuses legacy notifications")
    parser.add_argument(
        "--orion-fault",
        choices=[mode.value for mode in Outage],
        default=Outage.OFF.value,
        help=f"start with Orion answering 503 or hanging; switch it later with PUT {CONTROL_PATH} "
        """'{"mode": "off"}' on Orion's port (each service has its own switch)""",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = SandboxConfig(
        max_page_size=args.max_page_size,
        latency_seconds=args.latency_ms / 1000,
        orion_version=args.orion_version,
    )
    stores = (fake_sth.SthStore(), fake_orion.OrionStore(), fake_iota.IotaStore())
    if args.seed == "demo":
        try:
            counts = seed_demo(
                sth=stores[0],
                orion=stores[1],
                iota=stores[2],
                service=args.service,
                service_path=args.service_path,
            )
        except DemoDataMissing as error:
            raise SystemExit(f"FIWARE sandbox: {error}") from None
        for entity_id, count in counts.items():
            print(f"demo: {entity_id}: {count} points of history", flush=True)
    faults = {name: Faults() for name in ("sth", "orion", "iota")}
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
    if faults["orion"].standing is not Outage.OFF:
        print(f"FIWARE sandbox: Orion outage switch on ({args.orion_fault})", flush=True)
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


if __name__ == "__main__":
    main()
