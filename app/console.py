"""The Chronos console, served by the API itself: its page at ``/`` and its built files at ``/assets/``.

The console (TypeScript in ``console/src``) is a client of the public GraphQL API only. It is built
at set-up (``npm run build --prefix console``; ``make run`` and ``make test`` do it) into
``console/dist``, which is never committed. This module reads that folder once, compresses each file
once, and serves it with no request to any other host: the page's Content-Security-Policy lets it
reach only this origin. Built file names carry a content hash, so they are cached for a year; the
page itself is revalidated on every load so a new build is picked up at once.
"""

from __future__ import annotations

import gzip
import html
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

log = structlog.get_logger("chronos.console")

BUILD_COMMAND = "npm ci --prefix console && npm run build --prefix console"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
}
# Only this origin, for scripts, styles, images and GraphQL (HTTP and WebSocket alike).
POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
PAGE_HEADERS = {**SECURITY, "cache-control": "no-cache", "content-security-policy": POLICY}
ASSET_HEADERS = {**SECURITY, "cache-control": "public, max-age=31536000, immutable"}
# Smaller files gain nothing from compression but a header.
GZIP_FROM_BYTES = 512


@dataclass(frozen=True)
class Built:
    """One built file, with its gzip form when that is smaller."""

    body: bytes
    content_type: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, path: Path) -> Built:
        body = path.read_bytes()
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        packed = gzip.compress(body, compresslevel=9, mtime=0) if len(body) >= GZIP_FROM_BYTES else None
        return cls(body, content_type, packed if packed is not None and len(packed) < len(body) else None)

    def response(self, request: Request, headers: dict[str, str]) -> Response:
        if self.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
            extra = {"content-encoding": "gzip", "vary": "accept-encoding"}
            return Response(self.gzipped, media_type=self.content_type, headers={**headers, **extra})
        vary = {"vary": "accept-encoding"} if self.gzipped is not None else {}
        return Response(self.body, media_type=self.content_type, headers={**headers, **vary})


@dataclass(frozen=True)
class Bundle:
    """The built console; ``problem`` says why it cannot be served."""

    page: Built | None = None
    assets: dict[str, Built] = field(default_factory=dict)
    problem: str | None = None


def load_bundle(dist: Path) -> Bundle:
    index = dist / "index.html"
    if not index.is_file():
        return Bundle(problem=f"{index} is missing: the console has not been built")
    folder = dist / "assets"
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    assets = {path.relative_to(folder).as_posix(): Built.of(path) for path in files}
    return Bundle(page=Built.of(index), assets=assets)


_READY: dict[Path, Bundle] = {}


def built(dist: Path) -> Bundle:
    """The bundle, read once when complete; a missing build is looked for again on every request, so
    building while the API runs fixes the page at the next reload."""
    if dist in _READY:
        return _READY[dist]
    bundle = load_bundle(dist)
    if bundle.problem is None:
        _READY[dist] = bundle
    return bundle


def routes(*, console_dir: Path) -> list[BaseRoute]:
    """``/`` and ``/assets/{name}``; says at start-up what is missing."""
    dist = console_dir / "dist"
    bundle = built(dist)
    if bundle.problem is not None:
        log.warning("console.not_built", problem=bundle.problem, fix=f"run `{BUILD_COMMAND}` (make run does)")

    async def page(request: Request) -> Response:
        found = built(dist)
        if found.page is None:
            return HTMLResponse(missing_page(found.problem or ""), status_code=503, headers=PAGE_HEADERS)
        return found.page.response(request, PAGE_HEADERS)

    async def asset(request: Request) -> Response:
        found = built(dist).assets.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain", headers=SECURITY)
        return found.response(request, ASSET_HEADERS)

    return [Route("/", page, methods=["GET"]), Route("/assets/{name:path}", asset, methods=["GET"])]


def missing_page(problem: str) -> str:
    return MISSING.format(problem=html.escape(problem), command=html.escape(BUILD_COMMAND))


MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chronos console</title></head>
<body>
<h1>The Chronos console is not built</h1>
<p>{problem}.</p>
<p>Run <code>{command}</code> in the Chronos checkout (<code>make run</code> does), then reload.
The GraphQL API works meanwhile: <a href="/graphql">/graphql</a>.</p>
</body></html>
"""

__all__ = ["BUILD_COMMAND", "Bundle", "built", "load_bundle", "routes"]
