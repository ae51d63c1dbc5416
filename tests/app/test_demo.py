"""``python -m app.cli demo`` trains, follows and forecasts a demo sensor through the running API."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx

from app.devstack import free_port
from fiware.sandbox.runner import Sandbox
from tests.app.test_cli import cli
from tests.browser import DEMO, seed_demo_once
from tests.support import ApiServer, WorkerProcess

STOP_RECURRING = """
mutation($id: ID!) { togglePrediction(trainingJobId: $id, enabled: false) { errors { code } } }"""

FORECAST_LINE = re.compile(r"^  \d{4}-\d\d-\d\dT\S+\s+-?\d+\.\d{4}$")


def demo(env: dict[str, str], cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    done = cli(env, cwd, "demo", *arguments)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def graphql(api: ApiServer, document: str, variables: dict[str, Any]) -> Any:
    answer = httpx.post(api.graphql_url, json={"query": document, "variables": variables},
                        headers=api.headers, timeout=30).json()  # fmt: skip
    assert "errors" not in answer, answer
    return answer["data"]


MODEL = """query($name: String!) { models(filter: {nameContains: $name}) { edges { node {
  id epochs lookbackWindow forecastHorizon
  latestTrainingJob { id status prediction { enabled intervalSeconds } }
} } } }"""


def test_demo_trains_forecasts_and_schedules_then_reuses_its_model(
    api: ApiServer, worker: WorkerProcess, fiware_sandbox: Sandbox, log_dir: Path
) -> None:
    seed_demo_once(fiware_sandbox)
    assert api.key is not None
    tiny = ("--url", api.graphql_url, "--epochs", "2", "--last-n", "600")
    first = demo({"CHRONOS_API_KEY": api.key}, log_dir, *tiny, "--recurring", "--interval", "60")
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == f"Chronos at {api.graphql_url}" and lines[1].endswith("created")
    assert any(line.split()[:2] == ["TRAINING", "50%"] or "epoch 1/2" in line for line in lines), lines
    assert any(line.split()[0] == "COMPLETED" and "RMSE" in line for line in lines[3:] if line.strip()), lines
    assert sum(1 for line in lines if FORECAST_LINE.match(line)) == 12, lines
    assert lines[-1].startswith("Recurring forecasts on: every 60 s into Orion entity urn:ngsi-ld:Chronos:")

    (edge,) = graphql(api, MODEL, {"name": f"demo: {DEMO.entity_id} "})["models"]["edges"]
    model = edge["node"]
    assert (model["epochs"], model["lookbackWindow"], model["forecastHorizon"]) == (2, 24, 12)
    job = model["latestTrainingJob"]
    assert job["status"] == "COMPLETED" and job["prediction"] == {"enabled": True, "intervalSeconds": 60.0}
    assert f"Training job {job['id']} on the newest 600 readings" in lines

    again = demo({}, log_dir, *tiny, "--key", api.key)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Model {model['id']} " in again.stdout and "made by an earlier run" in again.stdout
    graphql(api, STOP_RECURRING, {"id": job["id"]})


def test_demo_says_in_one_line_why_it_cannot_go_on(api: ApiServer, log_dir: Path) -> None:
    port = free_port()
    # No --url: the API's address comes from the settings, as `make run` serves it.
    down = demo({"CHRONOS_PORT": str(port)}, log_dir)
    url = f"http://127.0.0.1:{port}/graphql"
    assert down.returncode == 3 and down.stdout == f"Chronos at {url}\n"
    assert down.stderr.count("\n") == 1 and f"no Chronos API answered at {url}" in down.stderr

    schemeless = demo({}, log_dir, "--url", "localhost:8000/graphql")
    assert schemeless.returncode == 2 and schemeless.stdout == ""
    assert schemeless.stderr.startswith("error: localhost:8000/graphql is not the API's URL; e.g. --url http")

    keyless = demo({}, log_dir, "--url", api.graphql_url)
    assert keyless.returncode == 2 and keyless.stderr.count("\n") == 1
    assert "the API wants an API key" in keyless.stderr and "CHRONOS_API_KEY" in keyless.stderr

    assert api.key is not None
    keyed = {"CHRONOS_API_KEY": api.key}
    nowhere = demo(keyed, log_dir, "--url", api.graphql_url, "--entity-id", "urn:x:none")
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1
    assert nowhere.stderr.startswith("error: startTraining refused: INSUFFICIENT_DATA"), nowhere.stderr
