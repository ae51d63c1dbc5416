"""The body limit in front of a tiny Starlette app that counts what it was given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from app.body_limit import BodyLimit

LIMIT = 100


class Echo:
    """Answers with the length of the body it read, remembering the most it ever saw."""

    def __init__(self) -> None:
        self.calls = 0
        self.most_seen = 0

        async def echo(request: Request) -> JSONResponse:
            self.calls += 1
            length = 0
            async for chunk in request.stream():
                length += len(chunk)
                self.most_seen = max(self.most_seen, length)
            return JSONResponse({"length": length})

        self.app = Starlette(routes=[Route(path, echo, methods=["POST"]) for path in ("/graphql", "/upload")])


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
async def client(echo: Echo) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=BodyLimit(echo.app, max_bytes=LIMIT))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def chunks(total: int, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TOO_LARGE", "maxBytes": LIMIT}
    assert str(LIMIT) in error["message"]


@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT])
async def test_bodies_up_to_the_limit_pass(client: httpx.AsyncClient, size: int) -> None:
    response = await client.post("/graphql", content=b"x" * size)
    assert response.status_code == 200 and response.json() == {"length": size}


async def test_a_declared_length_over_the_limit_is_refused_unread(
    client: httpx.AsyncClient, echo: Echo
) -> None:
    response = await client.post("/graphql", content=b"x" * (LIMIT + 1))
    assert_refused(response)
    assert echo.calls == 0, "refused on the header alone: the app never ran"


@pytest.mark.parametrize("size", [1, LIMIT - 1, LIMIT])
async def test_streamed_bodies_up_to_the_limit_pass(client: httpx.AsyncClient, size: int) -> None:
    request = client.build_request("POST", "/graphql", content=chunks(size))
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    response = await client.send(request)
    assert response.status_code == 200 and response.json() == {"length": size}


@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT])
async def test_a_streamed_body_over_the_limit_is_cut(
    client: httpx.AsyncClient, echo: Echo, size: int
) -> None:
    assert_refused(await client.post("/graphql", content=chunks(size)))
    assert echo.calls == 1 and echo.most_seen <= LIMIT, "the app never saw the chunk over the limit"


async def test_a_length_that_lies_low_does_not_help(client: httpx.AsyncClient, echo: Echo) -> None:
    response = await client.post("/graphql", content=b"x" * (LIMIT * 3), headers={"content-length": "10"})
    assert_refused(response)
    assert echo.most_seen <= LIMIT


async def test_garbage_content_length_falls_back_to_counting(echo: Echo) -> None:
    async def call(body: list[bytes]) -> list[Message]:
        messages = [{"type": "http.request", "body": part, "more_body": True} for part in body]
        messages.append({"type": "http.request", "body": b"", "more_body": False})

        async def receive() -> Message:
            return messages.pop(0)

        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        scope = http_scope("/graphql", headers=[(b"content-length", b"lots")])
        await BodyLimit(echo.app, max_bytes=LIMIT)(scope, receive, send)
        return sent

    assert (await call([b"x" * LIMIT]))[0]["status"] == 200
    assert (await call([b"x" * LIMIT, b"x"]))[0]["status"] == 413


async def test_only_the_listed_paths_are_limited(echo: Echo) -> None:
    limited = BodyLimit(echo.app, max_bytes=LIMIT, paths={"/graphql"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://test") as http:
        assert (await http.post("/graphql", content=b"x" * (LIMIT + 1))).status_code == 413
        assert (await http.post("/upload", content=b"x" * (LIMIT + 1))).json() == {"length": LIMIT + 1}


async def test_an_app_answering_a_cut_body_itself_is_overruled() -> None:
    """An app that shrugs off the disconnect and answers 200 still has its request refused."""

    async def shrugging(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive())["type"] == "http.request":
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fine"})

    transport = httpx.ASGITransport(app=BodyLimit(shrugging, max_bytes=LIMIT))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert_refused(await http.post("/graphql", content=chunks(LIMIT + 1)))


async def test_after_the_response_started_the_app_just_sees_a_disconnect() -> None:
    """Too late for a 413: the app's own response goes on, and it still gets no byte too many."""
    seen: list[Message] = []

    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] != "http.request" or not message["more_body"]:
                break
        await send({"type": "http.response.body", "body": b"partial"})

    transport = httpx.ASGITransport(app=BodyLimit(streaming, max_bytes=LIMIT))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.post("/graphql", content=chunks(LIMIT * 2, size=30))
    assert response.status_code == 200 and response.content == b"partial"
    assert seen[-1] == {"type": "http.disconnect"}
    assert sum(len(m.get("body", b"")) for m in seen) == 90, "three chunks of 30; the fourth is over"


async def test_an_app_error_unrelated_to_the_limit_propagates() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=BodyLimit(broken, max_bytes=LIMIT))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        with pytest.raises(RuntimeError, match="boom"):
            await http.post("/graphql", content=b"small")


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scopes_pass_through_untouched(kind: str) -> None:
    called: list[tuple[Scope, Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": f"{kind}.connect"}

    async def send(message: Message) -> None:
        pass

    # A websocket upgrade may well carry a content-length; it is none of our business.
    scope: dict[str, Any] = {"type": kind, "path": "/graphql", "headers": [(b"content-length", b"999")]}
    await BodyLimit(app, max_bytes=0)(scope, receive, send)
    assert called == [(scope, receive, send)]


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        BodyLimit(Starlette(), max_bytes=-1)


def http_scope(path: str, *, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
    }
