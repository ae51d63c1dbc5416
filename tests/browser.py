"""Helpers of the newcomer-path tests: Debian's Chromium with no way off this machine, and the
demo sensors of ``make run``'s sandbox seeded into the session's sandbox.

Playwright (PyPI) drives ``/usr/bin/chromium``; its own browser download is never used. Every
request whose host is not loopback is refused twice over: the browser's proxy is a closed local
port with only loopback bypassing it, and a route handler aborts and records what the page tried,
so a test can fail on any attempt instead of trusting that nothing went out.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, WebSocket, sync_playwright

from fiware.sandbox.demo import SENSORS, seed_demo
from fiware.sandbox.runner import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Root needs --no-sandbox; the rest keep Chromium from calling Google's hosts on its own.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
# Port 9 (discard) has no listener here: whatever is not bypassed fails to connect.
NOWHERE_PROXY = {"server": "http://127.0.0.1:9", "bypass": "127.0.0.1,localhost,[::1]"}


@dataclass
class OfflinePage:
    page: Page
    # Every non-loopback URL the page tried (HTTP and WebSocket), in order.
    attempted: list[str] = field(default_factory=list)


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"data", "blob", "about"} or parts.hostname in LOOPBACK


@contextlib.contextmanager
def offline_page(*, timeout_ms: float = 30_000) -> Iterator[OfflinePage]:
    """A fresh headless Chromium profile whose page may reach loopback only."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; CI does)")
    with tempfile.TemporaryDirectory(prefix="chronos-chromium-") as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            proxy=NOWHERE_PROXY,  # type: ignore[arg-type]
        )
        try:
            context.set_default_timeout(timeout_ms)
            page = context.pages[0] if context.pages else context.new_page()
            offline = OfflinePage(page)

            def guard(route: Route) -> None:
                if _loopback(route.request.url):
                    route.continue_()
                else:
                    offline.attempted.append(route.request.url)
                    route.abort("blockedbyclient")

            def watch_socket(socket: WebSocket) -> None:
                if not _loopback(socket.url):
                    offline.attempted.append(socket.url)

            context.route("**/*", guard)
            page.on("websocket", watch_socket)
            yield offline
        finally:
            context.close()


DEMO = SENSORS[0]


def seed_demo_once(sandbox: Sandbox, *, service: str = "smart", service_path: str = "/") -> None:
    """The demo sensors ``make run`` seeds, in the session's sandbox (which other tests share)."""
    seeded = sandbox.sth.count(
        service=service,
        service_path=service_path,
        entity_type=DEMO.entity_type,
        entity_id=DEMO.entity_id,
        attr_name=DEMO.attribute,
    )
    if not seeded:
        seed_demo(
            sth=sandbox.sth,
            orion=sandbox.orion,
            iota=sandbox.iota,
            service=service,
            service_path=service_path,
        )


__all__ = ["CHROMIUM", "DEMO", "OfflinePage", "offline_page", "seed_demo_once"]
