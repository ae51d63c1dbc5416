"""Serving the built console: the page, hashed assets compressed once, and a clear page when unbuilt."""

from __future__ import annotations

import gzip
import html
from pathlib import Path

from starlette.applications import Starlette
from starlette.testclient import TestClient

from app import console

SCRIPT = "console.log('chronos');\n" * 100


def client_for(console_dir: Path) -> TestClient:
    return TestClient(Starlette(routes=console.routes(console_dir=console_dir)))


def build(console_dir: Path) -> None:
    assets = console_dir / "dist" / "assets"
    assets.mkdir(parents=True)
    (console_dir / "dist" / "index.html").write_text(
        '<!doctype html><script src="/assets/index-1a2b.js"></script>'
    )
    (assets / "index-1a2b.js").write_text(SCRIPT)
    (assets / "tiny-3c4d.css").write_text("body{}")


def test_the_page_and_its_assets_are_served_compressed_to_browsers_that_take_it(tmp_path: Path) -> None:
    build(tmp_path)
    client = client_for(tmp_path)
    page = client.get("/")
    assert page.status_code == 200 and page.text.startswith("<!doctype html>")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"].startswith("default-src 'self'; connect-src 'self'")
    script = client.get("/assets/index-1a2b.js", headers={"accept-encoding": "gzip"})
    assert script.status_code == 200 and script.text == SCRIPT  # httpx undoes the encoding
    assert script.headers["content-encoding"] == "gzip" and script.headers["vary"] == "accept-encoding"
    assert int(script.headers["content-length"]) == len(gzip.compress(SCRIPT.encode(), 9, mtime=0))
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    plain = client.get("/assets/index-1a2b.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == SCRIPT.encode()
    # Too small to gain from compression: sent as it is.
    small = client.get("/assets/tiny-3c4d.css", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers and small.text == "body{}"
    assert client.get("/assets/../dist/index.html").status_code == 404
    assert client.get("/assets/nope.js").status_code == 404


def test_an_unbuilt_console_says_what_to_run_and_is_served_once_built(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    missing = client.get("/")
    assert missing.status_code == 503
    assert html.escape(console.BUILD_COMMAND) in missing.text and 'href="/graphql"' in missing.text
    build(tmp_path)
    assert client.get("/").status_code == 200
