"""The sandbox's outage switch: Orion answering 503 or hanging until switched off, over real HTTP.

Set in-process (tests), over HTTP on the service's own port, or at start with
``python -m fiware.sandbox --orion-fault``; off by default.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fiware.sandbox.faults import CONTROL_PATH, Fault, Outage
from fiware.sandbox.runner import Sandbox
from fiware.sandbox.server import free_port

ENTITY = {"id": "urn:test:outage", "type": "Thing", "temperature": {"type": "Number", "value": 1}}


@pytest.fixture
def orion(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.orion_url, timeout=5) as client:
        yield client
    sandbox.faults["orion"].switch(Outage.OFF)


def tenant() -> dict[str, str]:
    return {"Fiware-Service": f"t{uuid.uuid4().hex[:12]}"}


def test_off_by_default_and_503_until_switched_off(sandbox: Sandbox, orion: httpx.Client) -> None:
    headers = tenant()
    assert orion.get(CONTROL_PATH).json() == {"mode": "off", "refused": 0}
    assert orion.get("/v2/entities", headers=headers).status_code == 200
    sandbox.faults["orion"].switch(Outage.UNAVAILABLE)
    answers = [orion.get("/v2/entities", headers=headers) for _ in range(3)]
    refused = orion.post("/v2/entities", json=ENTITY, headers=headers)
    assert [a.status_code for a in answers] + [refused.status_code] == [503] * 4
    assert answers[0].json()["error"] == "ServiceUnavailable"
    sandbox.faults["orion"].switch(Outage.OFF)
    # Nothing a refused request carried took effect.
    assert orion.get("/v2/entities", headers=headers).json() == []
    assert orion.get(CONTROL_PATH).json() == {"mode": "off", "refused": 4}


def test_a_hung_request_times_the_client_out_and_changes_nothing(
    sandbox: Sandbox, orion: httpx.Client
) -> None:
    headers = tenant()
    sandbox.faults["orion"].switch(Outage.HANG)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        orion.post("/v2/entities", json=ENTITY, headers=headers, timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 3
    sandbox.faults["orion"].switch(Outage.OFF)
    assert orion.get("/v2/entities", headers=headers).json() == []


def test_a_request_still_hanging_answers_503_when_switched_off(sandbox: Sandbox, orion: httpx.Client) -> None:
    sandbox.faults["orion"].switch(Outage.HANG)
    answers: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(orion.get("/v2/entities", headers=tenant())))
    waiting.start()
    # Held, not answered: the request is counted on arrival and nothing comes back.
    deadline = time.monotonic() + 5
    while sandbox.faults["orion"].refused == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting.join(timeout=0.3)
    assert waiting.is_alive() and answers == []
    switched = time.monotonic()
    sandbox.faults["orion"].switch(Outage.OFF)
    waiting.join(timeout=5)
    assert [a.status_code for a in answers] == [503]
    assert time.monotonic() - switched < 1


def test_the_switch_over_http(sandbox: Sandbox, orion: httpx.Client) -> None:
    assert orion.put(CONTROL_PATH, json={"mode": "503"}).json()["mode"] == "503"
    assert sandbox.faults["orion"].standing is Outage.UNAVAILABLE
    assert orion.get("/version").status_code == 503
    assert orion.get(CONTROL_PATH).json()["mode"] == "503", "the switch itself always answers"
    bad = orion.put(CONTROL_PATH, json={"mode": "sometimes"})
    assert bad.status_code == 400 and "'off', '503', 'hang'" in bad.json()["description"]
    assert orion.post(CONTROL_PATH, json={"mode": "off"}).status_code == 405
    assert orion.put(CONTROL_PATH, json={"mode": "off"}).json()["mode"] == "off"
    assert orion.get("/version").status_code == 200
    # Each service has its own switch.
    assert sandbox.faults["sth"].standing is Outage.OFF


def test_python_m_fiware_sandbox_starts_with_orion_down(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("orion", "sth", "iota")}
    command = [sys.executable, "-m", "fiware.sandbox", "--orion-fault", "503"]
    command += [arg for name, port in ports.items() for arg in (f"--{name}-port", str(port))]
    with open(tmp_path / "sandbox.log", "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        orion = f"http://127.0.0.1:{ports['orion']}"
        deadline = time.monotonic() + 30
        while "outage switch on (503)" not in (tmp_path / "sandbox.log").read_text():
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "sandbox.log"
            ).read_text()
            time.sleep(0.1)
        assert httpx.get(f"{orion}/version", timeout=5).status_code == 503
        assert httpx.get(f"http://127.0.0.1:{ports['sth']}/version", timeout=5).status_code == 200
        httpx.put(f"{orion}{CONTROL_PATH}", json={"mode": "off"}, timeout=5).raise_for_status()
        assert httpx.get(f"{orion}/version", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_planned_fault_can_wait_for_a_method(sandbox: Sandbox, orion: httpx.Client) -> None:
    headers = tenant()
    assert orion.post("/v2/entities", json=ENTITY, headers=headers).status_code == 201
    sandbox.faults["orion"].inject(Fault(status=503, method="PATCH"))
    patch = {"temperature": {"type": "Number", "value": 2}}
    # Requests of other methods pass it by; the first PATCH meets it, the next one does not.
    assert orion.get(f"/v2/entities/{ENTITY['id']}", headers=headers).status_code == 200
    assert orion.patch(f"/v2/entities/{ENTITY['id']}/attrs", json=patch, headers=headers).status_code == 503
    assert orion.patch(f"/v2/entities/{ENTITY['id']}/attrs", json=patch, headers=headers).status_code == 204
    assert list(sandbox.faults["orion"].planned) == []
