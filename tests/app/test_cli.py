"""``python -m app.cli``: ``keys`` create prints the key once, list never shows it, revoke ends it;
``demo`` trains, follows and forecasts a demo sensor through the running API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from app.devstack import free_port
from app.settings import Settings
from fiware.sandbox.runner import Sandbox
from tests.browser import DEMO, seed_demo_once
from tests.support import ApiServer, WorkerProcess

STOP_RECURRING = """
mutation($id: ID!) { togglePrediction(trainingJobId: $id, enabled: false) { errors { code } } }"""


def cli(env: dict[str, str], cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOS_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        env={**inherited, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_keys_are_created_listed_and_revoked_from_the_command_line(
    service_env: dict[str, str],
    log_dir: Path,
    mongo: AsyncMongoClient[dict[str, Any]],
    test_settings: Settings,
) -> None:
    made = cli(
        service_env, log_dir, "keys", "create", "--name", "cli test", "--role", "editor",
        "--tenant", "smart:/", "--tenant", "city:/parking",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    line, shown = made.stdout.splitlines()
    secret = shown.removeprefix("key: ")
    assert secret.startswith("chr_") and "cannot show it again" in made.stderr
    assert "editor" in line and "smart:/,city:/parking" in line

    listed = cli(service_env, log_dir, "keys", "list", "--json")
    entries = {e["name"]: e for e in json.loads(listed.stdout)}
    entry = entries["cli test"]
    assert entry["tenants"] == ["smart:/", "city:/parking"] and entry["revokedAt"] is None
    assert secret not in listed.stdout and secret[:12] == entry["prefix"]
    stored = await mongo[test_settings.mongo_database]["api_keys"].find_one({"prefix": entry["prefix"]})
    assert stored is not None and secret not in json.dumps(stored, default=str)

    revoked = cli(service_env, log_dir, "keys", "revoke", entry["prefix"], "--json")
    assert revoked.returncode == 0 and json.loads(revoked.stdout)["revokedAt"]
    assert "cli test" not in {
        e["name"] for e in json.loads(cli(service_env, log_dir, "keys", "list", "--json").stdout)
    }


def test_bad_input_is_refused_with_a_reason(service_env: dict[str, str], log_dir: Path) -> None:
    no_tenant = cli(service_env, log_dir, "keys", "create", "--name", "x", "--role", "viewer")
    assert no_tenant.returncode == 2 and "needs at least one tenant" in no_tenant.stderr
    bad_tenant = cli(
        service_env, log_dir, "keys", "create", "--name", "x", "--role", "viewer", "--tenant", "Bad:/"
    )
    assert bad_tenant.returncode == 2 and "Bad:/" in bad_tenant.stderr
    unknown = cli(service_env, log_dir, "keys", "revoke", "chr_nothing")
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


def test_an_unreachable_mongodb_is_said_plainly(service_env: dict[str, str], log_dir: Path) -> None:
    env = {
        **service_env,
        "CHRONOS_MONGO_URL": "mongodb://127.0.0.1:1/",
        "CHRONOS_MONGO_TIMEOUT_SECONDS": "0.5",
    }
    listed = cli(env, log_dir, "keys", "list")
    assert listed.returncode == 3 and "did not answer" in listed.stderr and "Traceback" not in listed.stderr


# --- demo: a client of the running API ------------------------------------------------------------

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
