"""The QuantumLeap sandbox against QuantumLeap 1.0.0 and master, over HTTP: the meta routes,
``GET /v2/types/{type}/attrs/{attr}``, ``DEFAULT_LIMIT``, unknown paths, and Orion 4 notifying it
inside the whole sandbox."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiware.sandbox.config import SandboxConfig
from fiware.sandbox.fake_ql import QlStore, create_app
from fiware.sandbox.runner import running_sandbox
from fiware.sandbox.server import free_port, serving
from tests.fiware.sandbox.fake_orion.support import wait_until
from tests.fiware.sandbox.fake_ql.support import (
    NO_RECORDS,
    PROBLEM,
    assert_answer,
    hdr,
    index,
    problem,
    seed,
)

TYPES_URL = "/v2/types/Sensor/attrs/temperature"

# ---------------------------------------------------------------------------------------------------------
# Meta routes and unknown paths


def test_version_by_flavour(http: httpx.Client, master: httpx.Client) -> None:
    # tests/test_version.py; master's src/reporter/version.py
    assert_answer(http.get("/version"), 200, {"version": "1.0.0"})
    assert_answer(master.get("/version"), 200, {"version": "1.0.1-dev"})


def test_health(http: httpx.Client) -> None:
    # tests/test_health.py::test_health_pass
    response = http.get("/health")
    assert_answer(response, 200, {"status": "pass"})
    assert response.headers["cache-control"] == "max-age=180"


def test_api_list(http: httpx.Client) -> None:
    expected = {
        "notify_url": "/v2/notify",
        "subscriptions_url": "/v2/subscriptions",
        "entities_url": "/v2/entities",
        "types_url": "/v2/types",
        "attributes_url": "/v2/attrs",
    }
    assert_answer(http.get("/v2/"), 200, expected)


def test_unknown_path_and_wrong_method(http: httpx.Client) -> None:
    detail = (
        "The requested URL was not found on the server. If you entered the URL manually please check your "
        "spelling and try again."
    )
    assert_answer(http.get("/v2/nothing"), 404, problem(404, "Not Found", detail), PROBLEM)
    wrong = http.get("/v2/notify")
    assert_answer(
        wrong,
        405,
        problem(405, "Method Not Allowed", "The method is not allowed for the requested URL."),
        PROBLEM,
    )


def test_geo_queries_are_not_implemented(http: httpx.Client) -> None:
    response = http.get("/v2/entities/E1/attrs/temperature?georel=intersects&geometry=point&coords=1,2")
    body = {
        "error": "Not Implemented",
        "description": "The QuantumLeap sandbox does not implement geo queries",
    }
    assert_answer(response, 501, body)


# ---------------------------------------------------------------------------------------------------------
# /v2/types/{type}/attrs/{attr}


def test_type_query_caps_the_whole_type(http: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 11))
    seed(store, tenant, range(1, 11), entity_id="E2", offset=100.0)
    response = http.get(f"{TYPES_URL}?lastN=3", headers=hdr(tenant))
    expected = {
        "entityType": "Sensor",
        "attrName": "temperature",
        "entities": [
            {"entityId": "E1", "index": [index(10)], "values": [9.0]},
            {"entityId": "E2", "index": [index(9), index(10)], "values": [108.0, 109.0]},
        ],
    }
    assert_answer(response, 200, expected)


def test_type_query_keeps_the_id_order(
    http: httpx.Client, master: httpx.Client, store: QlStore, tenant: str
) -> None:
    seed(store, tenant, range(1, 3))
    seed(store, tenant, range(1, 3), entity_id="E2", offset=100.0)
    seed(store, tenant, range(1, 3), entity_id="E3", offset=200.0)
    response = http.get(f"{TYPES_URL}/value?id=E3,E1&aggrMethod=max&fromDate=2024-01-01", headers=hdr(tenant))
    expected = {
        "values": [
            {"entityId": "E3", "index": ["2024-01-01", ""], "values": [201.0]},
            {"entityId": "E1", "index": ["2024-01-01", ""], "values": [1.0]},
        ]
    }
    assert_answer(response, 200, expected)
    every = master.get(f"{TYPES_URL}?aggrMethod=count", headers=hdr(tenant))
    entities = [{"id": f"E{n}", "index": [], "values": [2]} for n in (1, 2, 3)]
    assert_answer(every, 200, {"type": "Sensor", "attrName": "temperature", "entities": entities})


def test_type_query_refusals(http: httpx.Client, master: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 2))
    bad_date = http.get(f"{TYPES_URL}?fromDate=notadate", headers=hdr(tenant))
    description = "The parameter value 'notadate' for parameter **fromDate** or **toDate** is not valid."
    error = "<class 'exceptions.exceptions.InvalidParameterValue'>"
    assert_answer(bad_date, 422, {"error": error, "description": description})
    scope = http.get(f"{TYPES_URL}?aggrMethod=sum&aggrScope=global", headers=hdr(tenant))
    body = {
        "error": "Not implemented option",
        "description": "aggrScope and options are not yet implemented.",
    }
    assert_answer(scope, 501, body)
    assert_answer(http.get("/v2/types/Nothing/attrs/temperature", headers=hdr(tenant)), 404, NO_RECORDS)
    assert_answer(master.get("/v2/types/Nothing/attrs/temperature/value", headers=hdr(tenant)), 200, [])


def test_id_pattern(http: httpx.Client, store: QlStore, tenant: str) -> None:
    seed(store, tenant, range(1, 2), entity_id="Lamp:1")
    seed(store, tenant, range(1, 2), entity_id="Pump:1")
    response = http.get(f"{TYPES_URL}/value?idPattern=lamp", headers=hdr(tenant))
    assert [entry["entityId"] for entry in response.json()["values"]] == ["Lamp:1"]


# ---------------------------------------------------------------------------------------------------------
# DEFAULT_LIMIT


@pytest.fixture(scope="module")
def capped() -> Iterator[tuple[httpx.Client, QlStore]]:
    store = QlStore()
    config = SandboxConfig(ql_default_limit=4)
    with serving(create_app(config, store)) as url, httpx.Client(base_url=url, timeout=5.0) as client:
        yield client, store


@pytest.mark.parametrize(("query", "days"), [("limit=100", range(1, 5)), ("lastN=100", range(7, 11))])
def test_default_limit_caps_silently(
    capped: tuple[httpx.Client, QlStore], tenant: str, query: str, days: range
) -> None:
    client, store = capped
    seed(store, tenant, range(1, 11))
    response = client.get(f"/v2/entities/E1/attrs/temperature/value?{query}", headers=hdr(tenant))
    assert_answer(
        response, 200, {"index": [index(day) for day in days], "values": [day - 1.0 for day in days]}
    )
    assert not {"fiware-total-count", "link"} & set(response.headers)


def test_unknown_flavour_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ql_flavor must be one of 1\.0\.0, master"):
        SandboxConfig(ql_flavor="edge")


# ---------------------------------------------------------------------------------------------------------
# Orion 4 → QuantumLeap in the whole sandbox


def test_orion_4_notifies_quantumleap() -> None:
    with (
        running_sandbox(SandboxConfig(orion_version="4.0.0")) as sandbox,
        httpx.Client(timeout=5.0) as client,
    ):
        assert sandbox.faults["ql"].seen == 0
        subscription = {
            "subject": {"entities": [{"id": "E1", "type": "Sensor"}]},
            "notification": {
                "http": {"url": f"{sandbox.ql_url}/v2/notify"},
                "attrs": ["temperature"],
                "metadata": ["dateModified", "TimeInstant"],
            },
        }
        headers = hdr("smart", "/")
        assert (
            client.post(
                f"{sandbox.orion_url}/v2/subscriptions", json=subscription, headers=headers
            ).status_code
            == 201
        )
        temperature = {
            "type": "Number",
            "value": 21.5,
            "metadata": {"TimeInstant": {"type": "DateTime", "value": "2024-01-05T10:00:00Z"}},
        }
        created = client.post(
            f"{sandbox.orion_url}/v2/entities",
            json={"id": "E1", "type": "Sensor", "temperature": temperature},
            headers=headers,
        )
        assert created.status_code == 201
        wait_until(lambda: len(sandbox.ql.rows("smart", "Sensor")) == 1)
        response = client.get(f"{sandbox.ql_url}/v2/entities/E1/attrs/temperature/value", headers=headers)
        assert_answer(response, 200, {"index": ["2024-01-05T10:00:00.000+00:00"], "values": [21.5]})


def test_python_m_fiware_sandbox_serves_quantumleap_and_cygnus(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("orion", "sth", "iota", "ql", "cygnus")}
    command = [sys.executable, "-m", "fiware.sandbox", "--ql-flavor", "master"]
    command += [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
    log = tmp_path / "sandbox.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "FIWARE sandbox: Cygnus" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert f"QuantumLeap http://127.0.0.1:{ports['ql']} (master)" in log.read_text()
        version = httpx.get(f"http://127.0.0.1:{ports['ql']}/version", timeout=5)
        assert_answer(version, 200, {"version": "1.0.1-dev"})
        refused = httpx.get(f"http://127.0.0.1:{ports['cygnus']}/notify", timeout=5)
        assert (refused.status_code, refused.text) == (
            400,
            "Bad request from client. GET method not supported",
        )
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_python_m_fiware_sandbox_leaves_out_a_service_whose_port_is_taken(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("orion", "sth", "iota", "cygnus")}
    command = [sys.executable, "-m", "fiware.sandbox", "--ql-port", "0"]
    command += [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
    log = tmp_path / "sandbox.log"
    with serving(create_app()) as taken:
        command[command.index(str(ports["cygnus"]))] = taken.rsplit(":", 1)[1]
        with open(log, "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while "Cygnus left out" not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            assert "QuantumLeap" not in log.read_text()
            assert httpx.get(f"http://127.0.0.1:{ports['sth']}/version", timeout=5).status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=15)
