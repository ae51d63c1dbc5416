"""Reading training jobs: lists, filters, and no N+1 when models list their jobs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest
from pymongo import AsyncMongoClient, monitoring

from app.auth.principal import UNAUTHENTICATED_ADMIN
from app.db import init_documents
from app.models.documents import ModelDocument
from app.models.enums import ModelType, TargetMode
from app.settings import Settings
from app.timeutil import utcnow
from app.training.config import snapshot
from app.training.documents import TrainingJobDocument, TrainingRequest, TrainingStatus
from schema import schema
from schema.context import Context


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.commands.append((event.command_name, str(collection)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted(test_settings: Settings) -> AsyncIterator[CommandCounter]:
    """Beanie bound, in this process, to a database of its own on a client that counts commands."""
    counter = CommandCounter()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        test_settings.mongo_url, uuidRepresentation="standard", tz_aware=True, event_listeners=[counter]
    )
    name = f"t_{uuid.uuid4().hex[:12]}"
    await init_documents(client, name)
    try:
        yield counter
    finally:
        await client.drop_database(name)
        await client.close()


async def seed(models: int, jobs_each: int) -> list[ModelDocument]:
    created = []
    now = utcnow()
    for i in range(models):
        model = ModelDocument(
            name=f"m{i}", model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[],
            lookback_window=8, forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2,
            learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="Sensor",
            entity_id=f"urn:s:{i}", feature="t", fiware_service="smart", fiware_service_path="/",
            created_at=now + timedelta(seconds=i),
        )  # fmt: skip
        await model.insert()
        for j in range(jobs_each):
            await TrainingJobDocument(
                model_id=model.id,
                status=TrainingStatus.COMPLETED if j % 2 else TrainingStatus.FAILED,
                request=TrainingRequest(last_n=100),
                config=snapshot(model),
                request_fingerprint="x",
                created_at=now + timedelta(seconds=j),
            ).insert()
        created.append(model)
    return created


LIST = """
query($first: Int!) {
  models(first: $first) {
    edges { node { id latestTrainingJob { id status }
                   trainingJobs(first: 2) { totalCount edges { node { id status } } pageInfo { hasNextPage } }
                   completed: trainingJobs(first: 5, status: [COMPLETED]) { edges { node { id } } } } }
  }
}"""


async def run(query: str, **variables: Any) -> dict[str, Any]:
    context = Context(
        request=cast(Any, None), response=None, resources=cast(Any, None), principal=UNAUTHENTICATED_ADMIN
    )
    result = await schema.execute(query, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_listing_models_with_their_jobs_costs_constant_round_trips(counted: CommandCounter) -> None:
    await seed(models=5, jobs_each=3)
    counted.commands.clear()
    few = await run(LIST, first=5)
    few_queries = [c for c in counted.commands if c == ("find", "training_jobs")]
    few_counts = [c for c in counted.commands if c[0] in {"count", "aggregate"}]

    await seed(models=45, jobs_each=3)
    counted.commands.clear()
    many = await run(LIST, first=50)
    many_queries = [c for c in counted.commands if c == ("find", "training_jobs")]

    many_counts = [c for c in counted.commands if c[0] in {"count", "aggregate"}]

    assert len(many["models"]["edges"]) == 50
    # One query per distinct (first, statuses) the page asks for, however many models it shows,
    # and one count for all the models' totalCount.
    assert len(few_queries) == len(many_queries) == 3
    assert len(few_counts) == len(many_counts) == 1
    node = few["models"]["edges"][0]["node"]
    assert node["latestTrainingJob"]["status"] == "FAILED"  # the newest of its three jobs
    assert [e["node"]["status"] for e in node["trainingJobs"]["edges"]] == ["FAILED", "COMPLETED"]
    assert node["trainingJobs"]["pageInfo"]["hasNextPage"] is True
    assert node["trainingJobs"]["totalCount"] == 3
    assert len(node["completed"]["edges"]) == 1


async def test_training_jobs_filters_and_pages(counted: CommandCounter) -> None:
    models = await seed(models=2, jobs_each=5)
    query = """
    query($filter: TrainingJobFilter, $after: String) {
      trainingJobs(filter: $filter, first: 2, after: $after) {
        totalCount edges { cursor node { id modelId status model { id } } } pageInfo { hasNextPage endCursor }
      }
    }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await run(query, filter={"modelId": str(models[0].id)}, after=after))["trainingJobs"]
        assert page["totalCount"] == 5
        assert all(e["node"]["model"]["id"] == str(models[0].id) for e in page["edges"])
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 5
    failed = (await run(query, filter={"status": ["FAILED"]}))["trainingJobs"]
    assert failed["totalCount"] == 6
    missing = await run("query($id: ID!) { trainingJob(id: $id) { id } }", id=str(uuid.uuid4()))
    assert missing == {"trainingJob": None}


async def test_jobs_listing_their_models_costs_one_model_query(counted: CommandCounter) -> None:
    await seed(models=10, jobs_each=2)
    counted.commands.clear()
    page = await run("{ trainingJobs(first: 20) { edges { node { id model { id name } } } } }")
    assert len(page["trainingJobs"]["edges"]) == 20
    assert all(edge["node"]["model"] for edge in page["trainingJobs"]["edges"])
    assert [c for c in counted.commands if c[0] == "find" and c[1] == "models"] == [("find", "models")]
