"""Fault injection for sandbox apps: make requests fail or hang, to test clients' retries and outages.

Two kinds, checked in this order:

- **planned** faults, consumed one per request in order (``Faults.inject``): a few 503s, one slow
  answer, the first PATCH failing;
- a **standing** fault, the switch (``Faults.switch``, ``--orion-fault``, or ``PUT`` on
  :data:`CONTROL_PATH`): every request answers 503, or hangs, until it is switched back ``off``.
  Off by default.

A hung request waits until the switch goes off, the client gives up, or :data:`MAX_HANG_SECONDS`
pass, and then answers 503 without reaching the app: like a request a proxy never forwarded, it
changes nothing, so a client that timed out can tell exactly what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The switch of a running sandbox over HTTP, on each service's own port: GET reads it, PUT sets it
# with {"mode": "503"}. No FIWARE API has this path, so it never shadows a real route.
CONTROL_PATH = "/__sandbox/outage"
MAX_HANG_SECONDS = 300.0
_POLL_SECONDS = 0.05


class Outage(StrEnum):
    """The standing fault: what every request meets while it is switched on."""

    OFF = "off"
    UNAVAILABLE = "503"
    HANG = "hang"


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer this status instead of the real response
    delay: float = 0.0  # wait this long first (longer than a client's timeout: a hung server)
    # Run just before the request is handled: lets a test change data at an exact point of a read.
    action: Callable[[], object] | None = None
    # Only for requests of this method (others pass it by): e.g. the first PATCH, whatever came before.
    method: str | None = None


@dataclass
class Faults:
    """Planned faults, consumed one per request, in order; the standing one; ``seen`` counts every request."""

    planned: deque[Fault] = field(default_factory=deque)
    seen: int = 0
    standing: Outage = Outage.OFF
    # Requests the standing fault answered or held (a hung one counts when it arrives).
    refused: int = 0

    def inject(self, fault: Fault, times: int = 1) -> None:
        self.planned.extend([fault] * times)

    def take(self, method: str) -> Fault | None:
        """The first planned fault for a request of ``method``, removed from the plan."""
        # A snapshot: a test's thread may add to or clear the plan while the server reads it.
        for fault in list(self.planned):
            if fault.method is None or fault.method == method:
                with contextlib.suppress(ValueError):  # cleared meanwhile
                    self.planned.remove(fault)
                    return fault
        return None

    def switch(self, mode: Outage) -> None:
        # One attribute write: safe from a test's thread while the server's thread reads it.
        self.standing = mode


async def _answer(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _unavailable(description: str) -> dict[str, str]:
    return {"error": "ServiceUnavailable", "description": description}


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == CONTROL_PATH:
            await self._control(scope, receive, send)
            return
        self.faults.seen += 1
        fault = self.faults.take(scope["method"])
        if fault is None:
            if self.faults.standing is not Outage.OFF:
                await self._standing(receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.action is not None:
            fault.action()
        if fault.status is None:
            await self.app(scope, receive, send)
            return
        injected = {"error": "InjectedFault", "description": f"injected {fault.status}"}
        await _answer(send, fault.status, injected)

    async def _standing(self, receive: Receive, send: Send) -> None:
        self.faults.refused += 1
        if self.faults.standing is Outage.HANG and not await self._hang(receive):
            return  # the client gave up: nobody to answer
        await _answer(send, 503, _unavailable("the sandbox's outage switch is on"))

    async def _hang(self, receive: Receive) -> bool:
        """Hold the request while the switch says hang; False when the client went away meanwhile."""
        gone = asyncio.Event()

        async def watch() -> None:
            message: Message = {"type": ""}
            while message["type"] != "http.disconnect":
                message = await receive()
            gone.set()

        watcher = asyncio.create_task(watch())
        deadline = time.monotonic() + MAX_HANG_SECONDS
        try:
            while self.faults.standing is Outage.HANG and not gone.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(_POLL_SECONDS)
        finally:
            watcher.cancel()
        return not gone.is_set()

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "PUT":
            body = b""
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = bool(message.get("more_body"))
            try:
                mode = Outage(str(json.loads(body or b"{}").get("mode")))
            except (ValueError, AttributeError):
                choices = ", ".join(repr(m.value) for m in Outage)
                refusal = {"error": "BadRequest", "description": f"mode must be one of {choices}"}
                await _answer(send, 400, refusal)
                return
            self.faults.switch(mode)
        elif scope["method"] != "GET":
            await _answer(send, 405, {"error": "MethodNotAllowed", "description": "GET or PUT"})
            return
        await _answer(send, 200, {"mode": self.faults.standing.value, "refused": self.faults.refused})


__all__ = ["CONTROL_PATH", "MAX_HANG_SECONDS", "Fault", "FaultMiddleware", "Faults", "Outage"]
