"""The shared client rules, over real HTTP against an app with injected faults."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fiware.errors import FiwareBadRequest, FiwareConflict, FiwareError, FiwareNotFound, FiwareUnavailable
from fiware.http import NO_RETRY, RetryPolicy, ServiceClient, Tenant, encode_path, make_http_client
from fiware.sandbox.faults import Fault, FaultMiddleware, Faults
from fiware.sandbox.server import free_port, serving

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, deadline=5)


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "path": request.scope["raw_path"].decode(),
            "service": request.headers.get("fiware-service"),
            "servicePath": request.headers.get("fiware-servicepath"),
        }
    )


async def text(request: Request) -> Response:
    return Response("<html>proxy error page</html>", media_type="text/html")


async def status(request: Request) -> Response:
    code = int(request.path_params["code"])
    return JSONResponse({"error": "Whatever", "description": f"status {code}"}, status_code=code)


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    app = Starlette(
        routes=[
            Route("/status/{code:int}", status),
            Route("/text", text),
            Route("/{rest:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
    with serving(FaultMiddleware(app, faults)) as url:
        yield url, faults


async def test_tenant_headers_are_sent_per_call_and_paths_encoded(faulty: tuple[str, Faults]) -> None:
    url, _ = faulty
    async with make_http_client(url) as http:
        client = ServiceClient(http, service="test")
        odd = "urn:ngsi-ld:Sensor:a/b#c d?e%f+g"
        first = (await client.request("GET", encode_path("x", odd), tenant=Tenant("city_a", "/north"))).json()
        second = (await client.request("GET", "/x", tenant=Tenant("city_b"))).json()
    assert first["path"] == "/x/urn%3Angsi-ld%3ASensor%3Aa%2Fb%23c%20d%3Fe%25f%2Bg"
    assert (first["service"], first["servicePath"]) == ("city_a", "/north")
    assert (second["service"], second["servicePath"]) == ("city_b", "/")


async def test_5xx_is_retried_until_it_succeeds(faulty: tuple[str, Faults]) -> None:
    url, faults = faulty
    faults.inject(Fault(status=503), times=2)
    before = faults.seen
    async with make_http_client(url) as http:
        response = await ServiceClient(http, service="test", retry=FAST).request("GET", "/ok")
    assert response.status_code == 200
    assert faults.seen - before == 3


async def test_retries_are_bounded_and_end_unavailable(faulty: tuple[str, Faults]) -> None:
    url, faults = faulty
    faults.inject(Fault(status=500), times=10)
    before = faults.seen
    async with make_http_client(url) as http:
        with pytest.raises(FiwareUnavailable) as failure:
            await ServiceClient(http, service="test", retry=FAST).request("GET", "/ok")
    faults.planned.clear()
    assert faults.seen - before == FAST.attempts
    assert failure.value.status == 500 and failure.value.body == {
        "error": "InjectedFault",
        "description": "injected 500",
    }


async def test_timeouts_are_retried(faulty: tuple[str, Faults]) -> None:
    url, faults = faulty
    faults.inject(Fault(delay=2.5))
    before = faults.seen
    async with make_http_client(url, timeout=1.0) as http:
        response = await ServiceClient(http, service="test", retry=FAST).request("GET", "/ok")
    assert response.status_code == 200 and faults.seen - before == 2


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        pytest.param(400, FiwareBadRequest, id="400"),
        pytest.param(404, FiwareNotFound, id="404"),
        pytest.param(409, FiwareConflict, id="409"),
        pytest.param(422, FiwareBadRequest, id="422-other"),
    ],
)
async def test_4xx_is_never_retried_and_typed(
    faulty: tuple[str, Faults], code: int, kind: type[FiwareError]
) -> None:
    url, faults = faulty
    before = faults.seen
    async with make_http_client(url) as http:
        with pytest.raises(kind) as failure:
            await ServiceClient(http, service="test", retry=FAST).request("GET", f"/status/{code}")
    assert faults.seen - before == 1
    assert failure.value.body == {"error": "Whatever", "description": f"status {code}"}


async def test_unreachable_server_is_unavailable_within_the_deadline() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.05, max_delay=0.2, deadline=0.5)
    started = time.perf_counter()
    async with make_http_client(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(FiwareUnavailable):
            await ServiceClient(http, service="test", retry=policy).request("GET", "/")
    assert time.perf_counter() - started < 1.0


async def test_no_retry_policy_tries_once(faulty: tuple[str, Faults]) -> None:
    url, faults = faulty
    faults.inject(Fault(status=502))
    before = faults.seen
    async with make_http_client(url) as http:
        with pytest.raises(FiwareUnavailable):
            await ServiceClient(http, service="test", retry=NO_RETRY).request("GET", "/ok")
    assert faults.seen - before == 1


def test_encode_path_keeps_each_segment_whole() -> None:
    assert encode_path("v2", "entities", "a/b") == "/v2/entities/a%2Fb"
    assert httpx.URL("http://h" + encode_path("é")).raw_path == b"/%C3%A9"


@pytest.mark.parametrize("fault", [Fault(status=503), Fault(delay=2.5)], ids=["5xx", "timeout"])
async def test_a_post_that_may_have_landed_is_never_repeated(
    faulty: tuple[str, Faults], fault: Fault
) -> None:
    url, faults = faulty
    faults.inject(fault)
    before = faults.seen
    async with make_http_client(url, timeout=1.0) as http:
        with pytest.raises(FiwareUnavailable):
            await ServiceClient(http, service="test", retry=FAST).request("POST", "/create", json={})
    assert faults.seen - before == 1


async def test_a_body_that_is_not_json_is_a_fiware_error(faulty: tuple[str, Faults]) -> None:
    url, _ = faulty
    async with make_http_client(url) as http:
        client = ServiceClient(http, service="test", retry=FAST)
        response = await client.request("GET", "/text")
        with pytest.raises(FiwareError, match="not JSON") as failure:
            client.object_of(response)
    assert failure.value.body == "<html>proxy error page</html>"
