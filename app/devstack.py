"""Local stack for ``make run`` and the test suite: use what the settings reach, start the rest.

MongoDB: the configured server when it answers, otherwise SecantusDB (a MongoDB-wire server on
WiredTiger, in its own venv) with a persistent data folder, or in memory for tests. Redis and
RabbitMQ: the configured servers, otherwise ``redis-server`` / ``rabbitmq-server`` where
installed; without RabbitMQ, Redis becomes the Celery broker and we say so. Children are
stopped in reverse order on Ctrl-C; nothing this module did not start is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from app import console, graphiql
from app.log import configure_logging
from app.settings import Settings, get_settings
from app.system.info import redact_url
from fiware.clients import HistoryStore
from fiware.sandbox.demo import SENSORS
from fiware.sandbox.server import free_port as free_port  # re-exported: tests and benches use it

log = structlog.get_logger("chronos.devstack")

ROOT = Path(__file__).resolve().parent.parent
SECANTUSD = ROOT / ".venv-mongo" / "bin" / "secantusd-py"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEMO_COMMAND = ".venv/bin/python -m app.cli demo"
# The Orion the sandbox emulates in QuantumLeap mode: the newest release the contracts describe.
SANDBOX_ORION_4 = "4.7.0"


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def hosts(url: str, default_port: int) -> list[tuple[str, int]]:
    """Every ``host:port`` of a URL; MongoDB URLs may list several, IPv6 hosts come in brackets."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    found = []
    for item in netloc.split(","):
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        found.append((host or "127.0.0.1", int(port) if port else default_port))
    return found


def host_port(url: str, default_port: int) -> tuple[str, int]:
    return hosts(url, default_port)[0]


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    host, _ = host_port(url, port)
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{userinfo}@" if userinfo else ""
    return urlunsplit((parts.scheme, f"{netloc}{shown}:{port}", parts.path, parts.query, parts.fragment))


def mongo_reachable(url: str) -> bool:
    # An SRV URL names a DNS record, not a socket: it is someone's real cluster, never ours to replace.
    if url.startswith("mongodb+srv://"):
        return True
    return any(port_open(host, port) for host, port in hosts(url, 27017))


def with_db(redis_url: str, db: int) -> str:
    parts = urlsplit(redis_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, *, timeout: float, process: subprocess.Popen[Any] | None = None
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port, timeout=0.2):
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.1)
    return False


@dataclass
class Stack:
    """The processes we started, stopped last-started first."""

    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    cleanups: list[Callable[[], object]] = field(default_factory=list)

    def spawn(
        self, name: str, args: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None
    ) -> subprocess.Popen[bytes]:
        output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        # A new session: the terminal's Ctrl-C reaches us only, and we stop children in order.
        process = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT if log_path else None,
            start_new_session=True,
        )
        self.children.append((name, process))
        return process

    def stop(self) -> None:
        # A second Ctrl-C must not cut the clean-up short and leave children behind.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in _STOP_SIGNALS if _main_thread()}
        try:
            while self.children:
                name, process = self.children.pop()
                stop_process(process, timeout=15, tree=True)
                log.info("devstack.stopped", service=name)
            while self.cleanups:
                self.cleanups.pop()()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, read from /proc (empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command name may hold spaces and parentheses; fields after the last ')' are safe.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def stop_process(process: subprocess.Popen[Any], *, timeout: float, tree: bool = False) -> None:
    """SIGTERM, then SIGKILL for whatever has not exited within ``timeout`` seconds.

    With ``tree``, every descendant too: wrappers such as Debian's ``rabbitmq-server`` (a shell
    script that runs the server through ``su``, in a session of its own) pass no signal on.
    """
    if process.poll() is not None:
        return
    targets = [process.pid, *(descendants(process.pid) if tree else [])]

    def send(signum: int) -> None:
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process.poll() is None or any(map(alive, targets[1:]))):
        time.sleep(0.1)
    if process.poll() is None or any(map(alive, targets[1:])):
        send(signal.SIGKILL)
    process.wait()


def api_command(host: str, port: int) -> list[str]:
    """The API process (``schema.serve``); Chronos is installed, so any working directory does."""
    return [sys.executable, "-m", "schema.serve", "--host", host, "--port", str(port)]


def worker_command(
    *, concurrency: int, name: str = "chronos", beat_schedule: Path | None = None
) -> list[str]:
    """A Celery worker on every queue (prefork: TensorFlow loads in the children only).

    With ``beat_schedule`` it also runs beat in-process, which tests use; ``make run`` starts beat
    as its own process, as production does.
    """
    queues = ",".join(
        ("orchestration", "data_collection", "model_training", "forecast_scheduling", "forecast_execution")
    )
    command = [
        sys.executable, "-m", "tasks.run", "worker", "--pool", "prefork",
        "--concurrency", str(concurrency), "-Q", queues, "-n", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--loglevel", "INFO",
    ]  # fmt: skip
    if beat_schedule is not None:
        command += ["--beat", "--schedule", str(beat_schedule)]
    return command


def beat_command(schedule: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tasks.run",
        "beat",
        "--schedule",
        str(schedule),
        "--loglevel",
        "INFO",
    ]


def start_secantus(stack: Stack, *, port: int, storage: str, log_path: Path | None = None) -> str:
    if not SECANTUSD.exists():
        raise RuntimeError(f"{SECANTUSD} is missing: run `make .venv-mongo/.installed` first")
    process = stack.spawn(
        "secantusdb",
        [
            str(SECANTUSD),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            storage,
            "--log-level",
            "WARNING",
        ],
        log_path=log_path,
    )
    if not wait_for_port("127.0.0.1", port, timeout=30, process=process):
        raise RuntimeError(f"SecantusDB did not start on port {port}")
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def start_redis(stack: Stack, *, port: int) -> str | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    process = stack.spawn(
        "redis",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
    )
    if not wait_for_port("127.0.0.1", port, timeout=10, process=process):
        return None
    return f"redis://127.0.0.1:{port}/0"


def start_rabbitmq(stack: Stack, *, port: int, data_dir: Path) -> bool:
    """A RabbitMQ node of our own on ``port``; its log goes to ``data_dir/rabbitmq.log``."""
    binary = shutil.which("rabbitmq-server")
    if binary is None:
        return False
    # State lives under /tmp: Debian's wrapper re-runs the server as the `rabbitmq` user, who
    # must own it and reach it (a 0700 parent such as a test's tmp_path would lock it out).
    base = Path(tempfile.mkdtemp(prefix=f"chronos-rabbitmq-{port}-"))
    stack.cleanups.append(lambda: shutil.rmtree(base, ignore_errors=True))
    (base / "enabled_plugins").write_text("[].\n")
    # Our own config: a system rabbitmq.conf would pin the listener to the port that is taken.
    (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\n")
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError, LookupError, OSError):
            for path in (base, base / "enabled_plugins", base / "rabbitmq.conf"):
                shutil.chown(path, user="rabbitmq", group="rabbitmq")
    env = {
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_NODENAME": f"chronos{port}@localhost",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "ERL_CRASH_DUMP": str(base / "erl_crash.dump"),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    process = stack.spawn("rabbitmq", [binary], env=env, log_path=data_dir / "rabbitmq.log")
    return wait_for_port("127.0.0.1", port, timeout=60, process=process)


def ensure_sandbox(settings: Settings, *, stack: Stack, data_dir: Path) -> bool:
    """The FIWARE sandbox, seeded with the demo sensors, where no FIWARE service answers.

    True when it started the sandbox (so the demo sensors are there), False when FIWARE is someone's.
    """
    urls = {
        "orion": host_port(settings.orion_url, 1026),
        "sth": host_port(settings.sth_comet_url, 8666),
        "iota": host_port(settings.iot_agent_url, 4041),
    }
    if settings.history_store is HistoryStore.QUANTUMLEAP:
        urls["ql"] = host_port(settings.quantumleap_url, 8668)
    up = {name: port_open(*where) for name, where in urls.items()}
    if all(up.values()):
        log.info("devstack.using", service="fiware", orion=settings.orion_url, sth=settings.sth_comet_url,
                 iota=settings.iot_agent_url)  # fmt: skip
        return False
    if any(up.values()) or any(host not in {"127.0.0.1", "localhost"} for host, _ in urls.values()):
        # A real FIWARE installation, partly down: that is for `health` to report, not ours to replace.
        log.warning("devstack.fiware_unreachable", services=[name for name, ok in up.items() if not ok])
        return False
    data_dir.mkdir(parents=True, exist_ok=True)
    process = stack.spawn(
        "fiware-sandbox",
        [sys.executable, "-m", "fiware.sandbox", "--seed", "demo",
         "--orion-port", str(urls["orion"][1]), "--sth-port", str(urls["sth"][1]),
         "--iota-port", str(urls["iota"][1]), "--service", settings.fiware_service,
         "--service-path", settings.fiware_service_path, *_store_mode(settings, urls)],
        log_path=data_dir / "fiware-sandbox.log",
    )  # fmt: skip
    for name, (host, port) in urls.items():
        if not wait_for_port(host, port, timeout=120, process=process):
            raise RuntimeError(f"FIWARE sandbox did not start ({name}): see {data_dir}/fiware-sandbox.log")
    log.info("devstack.started", service="fiware-sandbox", seed="demo")
    return True


def _store_mode(settings: Settings, urls: dict[str, tuple[str, int]]) -> list[str]:
    """The sandbox in the deployment's history-store mode: with QuantumLeap, an Orion 4 (which
    notifies it normalized) and QuantumLeap on its configured port; with STH-Comet, Orion 3.12."""
    if "ql" not in urls:
        return ["--ql-port", "0"]
    return ["--orion-version", SANDBOX_ORION_4, "--ql-port", str(urls["ql"][1])]


def ensure_services(
    settings: Settings,
    *,
    stack: Stack,
    memory_mongo: bool,
    rabbitmq_allowed: bool = True,
    sandbox: bool = True,
) -> dict[str, str]:
    """Make Mongo, Redis and a broker reachable; return the ``CHRONOS_*`` overrides to use them."""
    data_dir = settings.data_dir.resolve()
    overrides = _ensure_mongo(settings, stack=stack, memory_mongo=memory_mongo, data_dir=data_dir)
    overrides.update(_ensure_redis(settings, stack=stack, memory_mongo=memory_mongo))
    redis_url = overrides.get("CHRONOS_REDIS_URL", settings.redis_url)
    overrides.update(
        _ensure_broker(
            settings, stack=stack, allowed=rabbitmq_allowed, data_dir=data_dir, redis_url=redis_url
        )
    )
    if sandbox:
        ensure_sandbox(settings, stack=stack, data_dir=data_dir)
    return overrides


def _ensure_mongo(settings: Settings, *, stack: Stack, memory_mongo: bool, data_dir: Path) -> dict[str, str]:
    if memory_mongo:
        return {"CHRONOS_MONGO_URL": start_secantus(stack, port=free_port(), storage=":memory:")}
    if mongo_reachable(settings.mongo_url):
        log.info("devstack.using", service="mongo", url=redact_url(settings.mongo_url))
        return {}
    mongo_host, mongo_port = host_port(settings.mongo_url, 27017)
    (data_dir / "mongo").mkdir(parents=True, exist_ok=True)
    port = mongo_port if mongo_host in {"127.0.0.1", "localhost"} else free_port()
    url = start_secantus(
        stack, port=port, storage=str(data_dir / "mongo"), log_path=data_dir / "secantusdb.log"
    )
    log.info("devstack.started", service="secantusdb", url=url, data=str(data_dir / "mongo"))
    return {"CHRONOS_MONGO_URL": url}


def _ensure_redis(settings: Settings, *, stack: Stack, memory_mongo: bool) -> dict[str, str]:
    redis_host, redis_port = host_port(settings.redis_url, 6379)
    if port_open(redis_host, redis_port):
        log.info("devstack.using", service="redis", url=f"{redis_host}:{redis_port}")
        return {}
    port = redis_port if redis_host in {"127.0.0.1", "localhost"} and not memory_mongo else free_port()
    started = start_redis(stack, port=port)
    if started is None:
        raise RuntimeError(
            f"Redis is not reachable at {redis_host}:{redis_port} and redis-server is not installed"
        )
    log.info("devstack.started", service="redis", url=started)
    return {"CHRONOS_REDIS_URL": started}


def _ensure_broker(
    settings: Settings, *, stack: Stack, allowed: bool, data_dir: Path, redis_url: str
) -> dict[str, str]:
    broker = settings.celery_broker_url
    if not broker.startswith(("amqp://", "amqps://", "pyamqp://")):
        return {}
    host, port = host_port(broker, 5672)
    if port_open(host, port):
        log.info("devstack.using", service="rabbitmq", url=f"{host}:{port}")
        return {}
    if allowed and host in {"127.0.0.1", "localhost"} and start_rabbitmq(stack, port=port, data_dir=data_dir):
        log.info("devstack.started", service="rabbitmq", port=port)
        return {}
    # No RabbitMQ to be had: Redis carries the tasks, so `make run` still works on a bare machine.
    fallback = with_db(redis_url, 2)
    log.warning(
        "devstack.broker_fallback",
        reason=f"RabbitMQ is not reachable at {host}:{port} and could not be started",
        broker=fallback,
    )
    return {"CHRONOS_CELERY_BROKER_URL": fallback}


def banner(settings: Settings, *, demo: bool) -> str:
    """What ``make run`` prints once the API answers: where to go and what to try first."""
    lines = (
        _console_lines(settings)
        + _ide_lines(settings)
        + (_demo_lines(settings) if demo else [])
        + _origin_lines(settings)
    )
    return "\n".join(["", *lines, ""])


def _console_lines(settings: Settings) -> list[str]:
    url = f"http://{settings.host}:{settings.port}/"
    dist = (settings.console_dir or graphiql.CONSOLE_DIR) / "dist"
    if console.built(dist).problem is not None:
        return [f"  Chronos console: {url}  (not built: run `{console.BUILD_COMMAND}`, then reload)"]
    return [f"  Chronos console: {url}  (models, training jobs live, forecasts)"]


def _ide_lines(settings: Settings) -> list[str]:
    url = f"http://{settings.host}:{settings.port}/graphql"
    if not settings.graphiql_enabled:
        return [f"  Chronos GraphQL: {url}  (Ctrl-C stops; GraphiQL is off: CHRONOS_GRAPHIQL)"]
    if not graphiql.installed(settings.console_dir or graphiql.CONSOLE_DIR).ready:
        hint = f"  Its files are missing: run `{graphiql.INSTALL_COMMAND}`, then reload the page."
    else:
        hint = "  It opens on a walkthrough: press Run in each tab, left to right."
    return [f"  Chronos GraphiQL: {url}  (Ctrl-C stops)", hint]


def _demo_lines(settings: Settings) -> list[str]:
    tenant = f"{settings.fiware_service}:{settings.fiware_service_path}"
    width = max(len(sensor.entity_id) for sensor in SENSORS)
    lines = ["", f"  Demo sensors in the FIWARE sandbox (tenant {tenant}):"]
    for sensor in SENSORS:
        every = f"every {sensor.step.total_seconds() / 60:g} min"
        lines.append(f"    {sensor.entity_id:<{width}}  {sensor.entity_type} · {sensor.attribute}, {every}")
    lines += ["  Train and forecast the first one, from another terminal:", f"    {DEMO_COMMAND}"]
    if settings.auth_required:
        lines += [
            "  (API keys are checked: add --key, an editor key made with",
            f"   .venv/bin/python -m app.cli keys create --name demo --role editor --tenant {tenant})",
        ]
    return lines


def _origin_lines(settings: Settings) -> list[str]:
    # CORS is closed by default; a frontend's fetch then fails with no hint of why.
    return [
        "",
        '  A browser frontend on another origin gets "Failed to fetch" until it is allowed, e.g. Vite:',
        "    CHRONOS_ALLOWED_ORIGINS=http://localhost:5173 make run   (or in .env; comma-separated)",
        f"  Allowed now: {', '.join(settings.allowed_origins) or 'none'}",
    ]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    settings = get_settings()
    configure_logging(
        level=settings.log_level, json=settings.json_logs, http_requests=settings.log_http_requests
    )
    stack = Stack()
    # Explicit, because a shell that starts us in the background may have told us to ignore SIGINT.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _raise_interrupt)
    try:
        overrides = ensure_services(settings, stack=stack, memory_mongo=False, sandbox=False)
        data_dir = settings.data_dir.resolve()
        demo = ensure_sandbox(settings, stack=stack, data_dir=data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        stack.spawn(
            "worker",
            worker_command(concurrency=settings.worker_concurrency),
            env=overrides,
            log_path=data_dir / "worker.log",
        )
        stack.spawn(
            "beat",
            beat_command(data_dir / "celerybeat-schedule"),
            env=overrides,
            log_path=data_dir / "beat.log",
        )
        log.info(
            "devstack.workers", worker_log=str(data_dir / "worker.log"), beat_log=str(data_dir / "beat.log")
        )
        api = stack.spawn("api", api_command(settings.host, settings.port), env=overrides)
        if not wait_for_port(settings.host, settings.port, timeout=60, process=api):
            log.error("devstack.api_failed", code=api.poll())
            return 1
        print(banner(settings, demo=demo), flush=True)
        while all(process.poll() is None for _, process in stack.children):
            time.sleep(0.5)
        failed = [name for name, process in stack.children if process.poll() is not None]
        log.error("devstack.child_exited", services=failed)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
