"""Fault injection for sandbox apps: make the next requests fail or hang, to test clients' retries."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # answer this status instead of the real response
    delay: float = 0.0  # wait this long first (longer than a client's timeout: a hung server)
    # Run just before the request is handled: lets a test change data at an exact point of a read.
    action: Callable[[], object] | None = None


@dataclass
class Faults:
    """Planned faults, consumed one per request, in order; ``seen`` counts every request."""

    planned: deque[Fault] = field(default_factory=deque)
    seen: int = 0

    def inject(self, fault: Fault, times: int = 1) -> None:
        self.planned.extend([fault] * times)


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.faults.seen += 1
        fault = self.faults.planned.popleft() if self.faults.planned else None
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.action is not None:
            fault.action()
        if fault.status is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "InjectedFault", "description": f"injected {fault.status}"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


__all__ = ["Fault", "FaultMiddleware", "Faults"]
