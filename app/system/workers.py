"""Live Celery workers, counted from the heartbeats every worker sends anyway.

Why heartbeats rather than ``control.ping``:

- Every worker announces itself on the broker's ``celeryev`` exchange: ``worker-online`` when it
  starts, ``worker-heartbeat`` every 2 s (``Heart`` in celery/worker/heartbeat.py; the worker's
  ``--heartbeat-interval``) and ``worker-offline`` when it stops cleanly. It does so without ``-E``
  and with ``--without-gossip``: celery/worker/consumer/events.py keeps the dispatcher on for the
  ``worker`` group unless heartbeats are switched off too. It is what Flower counts.
- A ping is a broadcast through the pidbox that waits its whole timeout for replies, every time it
  is asked: a burst of health queries would be a burst of broadcasts, each holding a thread. Here
  each API process binds one queue of its own to the exchange (routing key ``worker.#``; Celery
  auto-deletes it, drops events older than 5 s and expires it 60 s after its process is gone) and
  answers from memory at once, so several API processes each hear every worker and a health query
  costs the broker nothing.
- On (re)connecting, the listener asks every worker for a heartbeat at once (the pidbox
  ``heartbeat`` command: one broadcast per connection, as Celery's own EventReceiver does), so a
  fresh API process need not report "no worker" for the first interval. That one heartbeat
  announces 5 s (celery/worker/control.py), so a worker that dies before its next regular one is
  counted for up to 10 s, as Flower would.

A worker is alive while its last heartbeat is younger than twice the interval it announces,
Celery's own rule (``HEARTBEAT_EXPIRE_WINDOW = 200`` in celery/events/state.py), timed by this
host's clock when the event arrives, so a worker host whose clock is off can neither hide a live
worker nor keep a dead one. ``worker-offline`` ends it at once.

kombu blocks, so the listener is a thread of its own, started and stopped with the API's
resources; the event loop only ever copies a dictionary under its lock. While the broker is away
the entry is DOWN with the reason, and the thread reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from kombu.connection import Connection

from app.system.health import Finding, HealthStatus, describe

log = structlog.get_logger("chronos.health")

EXPIRE_FACTOR = 2.0  # Celery's HEARTBEAT_EXPIRE_WINDOW, 200 % of the announced interval
DEFAULT_INTERVAL = 2.0  # Celery's default heartbeat interval, for events that do not say
WORKER_EVENTS = "worker.#"
NO_WORKER = "no live worker: trainings and recurring forecasts wait until one starts"
DRAIN_SECONDS = 0.5  # how long the thread may take to notice it should stop
AMQP_HEARTBEAT = 10  # so a broker that vanished without closing the socket is noticed
BACKOFF_START, BACKOFF_MAX = 0.5, 5.0
FORGET_AFTER = 3600.0  # a worker unheard this long leaves the roster (hostnames churn on Kubernetes)
LISTED = 20  # hostnames named in one message at most
CONNECTING = "connecting to the broker"


@dataclass(frozen=True)
class Sighting:
    hostname: str
    heard: float  # time.monotonic() when its last event arrived
    interval: float
    active: int  # tasks it was running then
    online: bool  # False once it said worker-offline

    def alive(self, now: float) -> bool:
        return self.online and now - self.heard < self.interval * EXPIRE_FACTOR


def _sighting(event: Mapping[str, Any], *, now: float, online: bool) -> Sighting:
    try:
        interval = float(event.get("freq") or DEFAULT_INTERVAL)
    except (TypeError, ValueError):
        interval = DEFAULT_INTERVAL
    active = event.get("active")
    return Sighting(
        hostname=str(event.get("hostname") or "?"),
        heard=now,
        interval=interval,
        active=active if isinstance(active, int) else 0,
        online=online,
    )


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago" if seconds >= 1 else "just now"


def report(roster: Mapping[str, Sighting], *, now: float) -> Finding:
    """The workers entry for a listener that hears the broker."""
    alive = sorted((s for s in roster.values() if s.alive(now)), key=lambda s: s.hostname)
    if not alive:
        last = max(roster.values(), key=lambda s: s.heard, default=None)
        heard = f"; last heard: {last.hostname}, {_ago(now - last.heard)}" if last else ""
        return Finding(HealthStatus.DEGRADED, NO_WORKER + heard, instances=0)
    names = ", ".join(f"{s.hostname} ({s.active} active)" for s in alive[:LISTED])
    more = f" and {len(alive) - LISTED} more" if len(alive) > LISTED else ""
    plural = "s" if len(alive) > 1 else ""
    return Finding(HealthStatus.UP, f"{len(alive)} live worker{plural}: {names}{more}", instances=len(alive))


def _drain(connection: Any, *, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        connection.drain_events(timeout=timeout)
    # Our side of the AMQP heartbeat is due even while events keep the socket busy.
    connection.heartbeat_check()


class WorkerWatch:
    """Listens to the workers' heartbeats on the broker in a thread; ``probe`` is the health entry."""

    def __init__(self, *, broker_url: str, celery: Any, timeout: float) -> None:
        self._url = broker_url
        self._celery = celery  # a Celery app: for its event queue settings and its pidbox
        self._timeout = timeout
        self._lock = threading.Lock()
        self._roster: dict[str, Sighting] = {}
        self._listening_since: float | None = None
        self._heard_since_connect = False
        self._trouble = CONNECTING
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chronos-worker-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Blocks for at most a drain (0.5 s) or a connection attempt (the timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._timeout + DRAIN_SECONDS + 1)

    async def probe(self) -> Finding:
        # Right after (re)connecting, the workers' answers to the wake-up are on their way: wait
        # for them briefly rather than report no worker, within the probe's own deadline.
        deadline = time.monotonic() + self._timeout * 0.75
        while self._settling() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        with self._lock:
            roster = dict(self._roster)
            connected = self._listening_since is not None
            trouble = self._trouble
        if not connected:
            return Finding(HealthStatus.DOWN, f"cannot hear the workers' heartbeats: {trouble}")
        return report(roster, now=time.monotonic())

    def _settling(self) -> bool:
        with self._lock:
            if self._listening_since is None:
                return self._trouble == CONNECTING
            young = time.monotonic() - self._listening_since < DEFAULT_INTERVAL
            return young and not self._heard_since_connect

    def _run(self) -> None:
        backoff = BACKOFF_START
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - whatever broke the connection is the finding
                backoff = BACKOFF_START if self._lost(exc) else min(BACKOFF_MAX, backoff * 2)
            self._stop.wait(backoff)

    def _listen(self) -> None:
        # kombu's Redis transport ignores connect_timeout and waits forever on a silent server
        # unless told otherwise; reads happen only once the poller saw data, so idle is no timeout.
        redis = self._url.startswith(("redis://", "rediss://"))
        options = {"socket_timeout": self._timeout, "socket_connect_timeout": self._timeout} if redis else {}
        broker = Connection(  # type: ignore[no-untyped-call]  # kombu is untyped
            self._url, connect_timeout=self._timeout, heartbeat=AMQP_HEARTBEAT, transport_options=options
        )
        with broker as connection:
            connection.ensure_connection(max_retries=0)
            handlers = {
                "worker-online": self._heard,
                "worker-heartbeat": self._heard,
                "worker-offline": self._offline,
            }
            channel = connection.default_channel
            receiver = self._celery.events.Receiver(channel, handlers=handlers, routing_key=WORKER_EVENTS)
            (consumer,) = receiver.get_consumers(connection.Consumer, channel)
            with consumer:
                self._connected()
                # kombu's Redis transport subscribes to the event fanout on its first poll, and
                # pub/sub keeps nothing for a subscriber not there yet: poll before asking.
                _drain(connection, timeout=0.01)
                receiver.wakeup_workers(channel=channel)
                while not self._stop.is_set():
                    _drain(connection, timeout=DRAIN_SECONDS)

    def _connected(self) -> None:
        with self._lock:
            was = self._trouble
            self._listening_since = time.monotonic()
            self._heard_since_connect = False
            self._trouble = ""
        log.info("workers.listening", recovered_from=was if was != CONNECTING else None)

    def _lost(self, exc: Exception) -> bool:
        """Record why the broker cannot be heard; True when it had been until now."""
        with self._lock:
            was_listening = self._listening_since is not None
            first = self._trouble == CONNECTING
            self._listening_since = None
            self._trouble = describe(exc)
        # Once per outage, not once per retry.
        if was_listening or first:
            log.warning("workers.unheard", error=self._trouble)
        return was_listening

    def _heard(self, event: Mapping[str, Any]) -> None:
        self._note(_sighting(event, now=time.monotonic(), online=True))

    def _offline(self, event: Mapping[str, Any]) -> None:
        self._note(_sighting(event, now=time.monotonic(), online=False))

    def _note(self, sighting: Sighting) -> None:
        with self._lock:
            self._roster[sighting.hostname] = sighting
            self._heard_since_connect = True
            stale = [h for h, s in self._roster.items() if sighting.heard - s.heard > FORGET_AFTER]
            for hostname in stale:
                del self._roster[hostname]


__all__ = ["NO_WORKER", "Sighting", "WorkerWatch", "report"]
