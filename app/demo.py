"""``python -m app.cli demo``: train and forecast a demo sensor through the running API.

A client of the API over HTTP GraphQL like any other: it creates (or finds again) a small model on a
demo sensor of ``make run``'s FIWARE sandbox, trains it, follows the job live (graphql-sse), prints a
forecast and, when asked, switches on recurring forecasts. Exit codes: 0 done, 1 the job failed or
was cancelled, 2 the API refused, 3 no API answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.settings import Settings
from fiware.sandbox.demo import SENSORS

DEMO_SENSOR = SENSORS[0]
# Small and quick, and still better than "no change": half a day of half-hourly readings in, six
# hours out. On the buoy's newest 10,000 readings: Theil's U 0.96 after 10 epochs, 7 s of training on
# two cores; 2,000 readings and 5 epochs gave 1.00 (no better than persistence).
DEMO_LOOKBACK, DEMO_HORIZON, DEMO_UNITS = 24, 12, 16
EXIT_JOB_FAILED, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3


def add_parser_to(groups: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = groups.add_parser(
        "demo",
        help="train and forecast a demo sensor through the running API",
        description="Create (or reuse) a small model on a demo sensor, train it, print its progress "
        "and a forecast; optionally switch on recurring forecasts.",
    )
    demo.add_argument("--url", help="the API's GraphQL URL (default: from CHRONOS_HOST and CHRONOS_PORT)")
    demo.add_argument("--key", help="an editor API key (default: CHRONOS_API_KEY), when the API checks keys")
    demo.add_argument("--entity-id", default=DEMO_SENSOR.entity_id, help="NGSI entity id of the sensor")
    demo.add_argument("--entity-type", default=DEMO_SENSOR.entity_type, help="its NGSI entity type")
    demo.add_argument("--feature", default=DEMO_SENSOR.attribute, help="its attribute to forecast")
    demo.add_argument("--epochs", type=int, default=10, help="training epochs of a new model (default 10)")
    demo.add_argument(
        "--last-n", type=int, default=10_000, help="newest readings to train on (default 10000)"
    )
    demo.add_argument("--recurring", action="store_true", help="then forecast on schedule into Orion")
    demo.add_argument("--interval", type=float, default=900, help="seconds between recurring forecasts")


FIND_MODEL = """
query DemoModel($entityId: String!, $feature: String!, $name: String!) {
  models(filter: {entityId: $entityId, feature: $feature, nameContains: $name}, first: 100) {
    edges { node { id name status epochs latestTrainingJob { id status } } }
  }
}"""
CREATE_MODEL = """
mutation DemoCreate($input: CreateModelInput!) {
  createModel(input: $input) { model { id name status epochs } errors { code message field } }
}"""
START_TRAINING = """
mutation DemoStart($modelId: ID!, $lastN: Int!) {
  startTraining(modelId: $modelId, input: {lastN: $lastN}) {
    trainingJob { id status pointsAvailable pointsRequested } errors { code message field }
  }
}"""
PROGRESS = """
subscription DemoProgress($jobId: ID!) {
  trainingProgress(jobId: $jobId) {
    status phase progress message dataPointsCollected dataPointsRequested
    epoch totalEpochs loss valLoss etaSeconds metrics { rmse mae theilU } error { code message }
  }
}"""
PREDICT = """
query DemoPredict($jobId: ID!) {
  predict(trainingJobId: $jobId) { generatedAt horizon points { step targetTimestamp value } }
}"""
RECURRING = """
mutation DemoRecurring($jobId: ID!, $interval: Float!) {
  togglePrediction(trainingJobId: $jobId, enabled: true, input: {intervalSeconds: $interval}) {
    prediction { entityId entityType intervalSeconds nextPredictionAt } errors { code message field }
  }
}"""


class DemoStop(Exception):
    """Why the demo stops, in one line, with the exit code to stop with."""

    def __init__(self, message: str, *, code: int) -> None:
        super().__init__(message)
        self.code = code


def api_url(settings: Settings) -> str:
    # A server listening on every interface is reached on loopback from here.
    host = "127.0.0.1" if settings.host in {"", "0.0.0.0", "::"} else settings.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.port}/graphql"


def _refusal(response: httpx.Response) -> DemoStop:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    said = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or response.reason_phrase
    if response.status_code == 401:
        return DemoStop(
            f"the API wants an API key ({said}): pass --key or set CHRONOS_API_KEY to an editor key "
            "(python -m app.cli keys create --name demo --role editor --tenant smart:/)",
            code=EXIT_REFUSED,
        )
    code = EXIT_UNREACHABLE if response.status_code >= 500 else EXIT_REFUSED
    return DemoStop(f"the API answered {response.status_code}: {said}", code=code)


def _graphql_errors(errors: list[dict[str, Any]]) -> DemoStop:
    said = "; ".join(
        f"{(e.get('extensions') or {}).get('code', 'ERROR')}: {e.get('message')}" for e in errors
    )
    return DemoStop(f"the API refused: {said}", code=EXIT_REFUSED)


@dataclass
class DemoApi:
    client: httpx.AsyncClient
    url: str

    async def call(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.post(self.url, json={"query": document, "variables": variables})
        except httpx.TransportError as error:
            raise self.unreachable(error) from None
        if response.status_code != 200:
            raise _refusal(response)
        try:
            body = response.json()
        except ValueError:
            not_graphql = f"{self.url} answered, but not in GraphQL: is it Chronos's /graphql?"
            raise DemoStop(not_graphql, code=EXIT_REFUSED) from None
        if body.get("errors"):
            raise _graphql_errors(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    async def events(self, document: str, variables: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """A subscription over graphql-sse (distinct connections): one POST, one event a line."""
        request = {"query": document, "variables": variables}
        try:
            async with self.client.stream(
                "POST", self.url, json=request, headers={"accept": "text/event-stream"}
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _refusal(response)
                event = None
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line.removeprefix("event:").strip()
                    elif line.startswith("data:") and event == "next":
                        body = json.loads(line.removeprefix("data:"))
                        if body.get("errors"):
                            raise _graphql_errors(body["errors"])
                        yield body["data"]
                    elif event == "complete":
                        return
        except httpx.TransportError as error:
            raise self.unreachable(error) from None

    def unreachable(self, error: httpx.TransportError) -> DemoStop:
        return DemoStop(
            f"no Chronos API answered at {self.url} ({type(error).__name__}): start it with `make run`, "
            "or pass --url",
            code=EXIT_UNREACHABLE,
        )


def _payload(data: dict[str, Any], field: str) -> dict[str, Any]:
    payload: dict[str, Any] = data[field]
    if payload["errors"]:
        said = "; ".join(
            f"{e['code']}: {e['message']}" + (f" ({'.'.join(e['field'])})" if e.get("field") else "")
            for e in payload["errors"]
        )
        raise DemoStop(f"{field} refused: {said}", code=EXIT_REFUSED)
    return payload


def demo_model_name(arguments: argparse.Namespace) -> str:
    # The settings are in the name: another run with the same ones finds this model again.
    return (
        f"demo: {arguments.entity_id[:120]} {arguments.feature[:40]} "
        f"(L{DEMO_LOOKBACK} H{DEMO_HORIZON}, {arguments.epochs} epochs)"
    )


async def demo_model(api: DemoApi, arguments: argparse.Namespace) -> dict[str, Any]:
    name = demo_model_name(arguments)
    found = await api.call(
        FIND_MODEL, {"entityId": arguments.entity_id, "feature": arguments.feature, "name": name}
    )
    for edge in found["models"]["edges"]:
        if edge["node"]["name"] == name:
            print(f"Model {edge['node']['id']} “{name}” ({edge['node']['status']}, made by an earlier run)")
            model: dict[str, Any] = edge["node"]
            return model
    model_input = {
        "name": name,
        "entityType": arguments.entity_type,
        "entityId": arguments.entity_id,
        "feature": arguments.feature,
        "lookbackWindow": DEMO_LOOKBACK,
        "forecastHorizon": DEMO_HORIZON,
        "rnnLayers": [{"units": DEMO_UNITS}],
        "epochs": arguments.epochs,
    }
    created = _payload(await api.call(CREATE_MODEL, {"input": model_input}), "createModel")["model"]
    print(f"Model {created['id']} “{name}” created")
    return dict(created)


async def demo_job(api: DemoApi, model: dict[str, Any], last_n: int) -> str:
    running = model.get("latestTrainingJob")
    if model["status"] == "TRAINING" and running:
        # An earlier run was interrupted while its job went on: follow that one.
        print(f"Training job {running['id']} is running already; following it")
        return str(running["id"])
    started = await api.call(START_TRAINING, {"modelId": model["id"], "lastN": last_n})
    job = _payload(started, "startTraining")["trainingJob"]
    print(f"Training job {job['id']} on the newest {job['pointsRequested']} readings")
    return str(job["id"])


def progress_line(event: dict[str, Any]) -> str:
    detail = ""
    if event["phase"] == "COLLECTING":
        detail = f"{event['dataPointsCollected']}/{event['dataPointsRequested']} points"
    elif event["epoch"] is not None and event["loss"] is not None:
        detail = f"epoch {event['epoch']}/{event['totalEpochs']}  loss {event['loss']:.4f}"
        if event["valLoss"] is not None:
            detail += f"  val {event['valLoss']:.4f}"
        if (event["etaSeconds"] or 0) >= 1 and event["status"] == "TRAINING":
            detail += f"  eta {event['etaSeconds']:.0f} s"
    if event["metrics"]:
        metrics = event["metrics"]
        detail = "  ".join(
            f"{label} {metrics[key]:.4g}"
            for label, key in (("RMSE", "rmse"), ("MAE", "mae"), ("Theil's U", "theilU"))
            if metrics[key] is not None
        )
        if metrics["theilU"] is not None:
            detail += " (below 1 beats “no change”)"
    if event["error"]:
        detail = f"{event['error']['code']}: {event['error']['message']}"
    return f"  {event['status']:<16}{event['progress']:>5.0%}  {detail}".rstrip()


async def follow(api: DemoApi, job_id: str) -> dict[str, Any]:
    """Print each new state of the job as it arrives; answers the last event (the terminal one)."""
    last: dict[str, Any] = {}
    shown = ""
    async for data in api.events(PROGRESS, {"jobId": job_id}):
        last = data["trainingProgress"]
        line = progress_line(last)
        if line != shown:
            print(line, flush=True)
            shown = line
    return last


async def forecast(api: DemoApi, job_id: str, arguments: argparse.Namespace) -> None:
    prediction = (await api.call(PREDICT, {"jobId": job_id}))["predict"]
    print(f"Forecast of {arguments.feature} for {arguments.entity_id}, made {prediction['generatedAt']}:")
    for point in prediction["points"]:
        print(f"  {point['targetTimestamp']}  {point['value']:10.4f}")


async def recurring(api: DemoApi, job_id: str, interval: float) -> None:
    answer = await api.call(RECURRING, {"jobId": job_id, "interval": interval})
    schedule = _payload(answer, "togglePrediction")["prediction"]
    print(
        f"Recurring forecasts on: every {schedule['intervalSeconds']:g} s into Orion entity "
        f"{schedule['entityId']} (type {schedule['entityType']}), next at {schedule['nextPredictionAt']}"
    )


async def run_demo(arguments: argparse.Namespace, *, url: str, key: str | None) -> int:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    # Reads wait long: an SSE stream is quiet between events (heartbeats every 15 s).
    timeout = httpx.Timeout(30, connect=5, read=60)
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as client:
        api = DemoApi(client, url)
        print(f"Chronos at {url}")
        job_id = await demo_job(api, await demo_model(api, arguments), arguments.last_n)
        final = (await follow(api, job_id)).get("status")
        if final not in {"COMPLETED", "FAILED", "CANCELLED"}:
            raise DemoStop(
                f"the progress stream ended before training job {job_id} did (last seen: {final}); "
                "run the same command again to follow it",
                code=EXIT_UNREACHABLE,
            )
        if final != "COMPLETED":
            print(f"error: training job {job_id} ended {final}", file=sys.stderr)
            return EXIT_JOB_FAILED
        await forecast(api, job_id, arguments)
        if arguments.recurring:
            await recurring(api, job_id, arguments.interval)
    return 0


def checked_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        usable = parts.scheme in {"http", "https"} and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad IPv6 literal or a port out of range
        usable = False
    if not usable:
        raise DemoStop(
            f"{url} is not the API's URL; e.g. --url http://127.0.0.1:8000/graphql", code=EXIT_REFUSED
        )
    return url


def main(arguments: argparse.Namespace, settings: Settings) -> int:
    key = arguments.key or os.environ.get("CHRONOS_API_KEY") or None
    try:
        url = checked_url(arguments.url or api_url(settings))
        return asyncio.run(run_demo(arguments, url=url, key=key))
    except DemoStop as stop:
        print(f"error: {stop}", file=sys.stderr)
        return stop.code
    except KeyboardInterrupt:
        print("interrupted: the job goes on; run the same command again to follow it", file=sys.stderr)
        return 130


__all__ = ["add_parser_to", "api_url", "main"]
