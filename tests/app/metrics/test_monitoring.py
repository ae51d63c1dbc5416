"""Live accuracy per model, read from a real MongoDB and rendered as the scrape renders it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from app.metrics.exposition import ClusterReading, ProcessMetrics, render
from app.metrics.monitoring import MAX_MODELS, MonitoredModel, monitored_pipeline, read_monitored
from app.models.documents import ModelDocument
from app.models.enums import ModelType, TargetMode
from app.models.policy import HISTORY_KEPT, Monitoring, RmseSample, WindowScore
from app.timeutil import utcnow
from app.training.hub import HubStats

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
DAY, WEEK = 86_400.0, 604_800.0
RETRAININGS = "chronos_model_retrainings_total"  # a per-cluster counter, not a model's series
IDLE_HUB = HubStats(connected=True, channels=0, listeners=0, dropped=0, reconnects=0)


def model_document(
    *, evaluated_at: datetime | None, windows: list[WindowScore] | None = None, **monitoring: Any
) -> ModelDocument:
    """A model as the live-accuracy tick leaves it (``evaluated_at`` None: never evaluated)."""
    return ModelDocument(
        name=f"buoy {uuid4().hex[:6]}", model_type=ModelType.GRU, rnn_layers=[{"units": 4}], dense_layers=[],
        lookback_window=8, forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2,
        learning_rate=0.001, validation_ratio=0.15, test_ratio=0.15, entity_type="WaterQualityObserved",
        entity_id=f"urn:ngsi-ld:WaterQualityObserved:{uuid4().hex[:8]}", feature="temperature",
        fiware_service="smart", fiware_service_path="/buoys", champion_job_id=uuid4(),
        monitoring=Monitoring(evaluated_at=evaluated_at, job_id=uuid4(), windows=windows or [], **monitoring),
    )  # fmt: skip


def full_windows() -> list[WindowScore]:
    return [
        WindowScore(window_seconds=DAY, forecasts=24, pairs=96, mae=0.4, rmse=0.5, u2=0.8, coverage=0.9),
        WindowScore(window_seconds=WEEK, forecasts=168, pairs=672, mae=0.6, rmse=0.7, u2=0.9, coverage=0.85),
    ]  # fmt: skip


def scraped(models: list[MonitoredModel]) -> tuple[Samples, str]:
    reading = ClusterReading(jobs_by_status={}, tasks=[], forecasts={}, hub=IDLE_HUB, models=models)
    text = render(ProcessMetrics(), reading).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, text


def values(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (found, labels), value in samples.items() if found == name}


async def test_only_the_newest_evaluated_models_are_exported_up_to_the_cap(beanie_db: str) -> None:
    start = utcnow() - timedelta(days=1)
    evaluated = [model_document(evaluated_at=start + timedelta(seconds=n)) for n in range(MAX_MODELS + 1)]
    never = model_document(evaluated_at=None)
    await ModelDocument.insert_many([*evaluated, never])
    models = await read_monitored()
    assert len(models) == MAX_MODELS
    assert [m.id for m in models[:2]] == [evaluated[-1].id, evaluated[-2].id], "newest evaluation first"
    read = {m.id for m in models}
    assert evaluated[0].id not in read, "the oldest evaluation is the one past the cap"
    assert never.id not in read, "a model never evaluated has no series"
    samples, text = scraped(models)
    assert len(values(samples, "chronos_model_info")) == MAX_MODELS
    assert len(values(samples, "chronos_model_drifting")) == MAX_MODELS
    assert "Only the 2,000 most recently evaluated models are exported." in text


async def test_scores_become_series_by_model_and_window(beanie_db: str) -> None:
    at = utcnow().replace(microsecond=0)
    model = model_document(evaluated_at=at, windows=full_windows(), reference_rmse=0.25, drifting=True)
    await model.insert()
    (read,) = await read_monitored()
    samples, _ = scraped([read])
    key = str(model.id)
    for name, day, week in (("rmse", 0.5, 0.7), ("mae", 0.4, 0.6), ("u2", 0.8, 0.9), ("coverage", 0.9, 0.85)):
        assert values(samples, f"chronos_model_live_{name}") == {
            frozenset({("model", key), ("window", "86400")}): day,
            frozenset({("model", key), ("window", "604800")}): week,
        }
    assert values(samples, "chronos_model_live_pairs")[frozenset({("model", key), ("window", "86400")})] == 96
    assert values(samples, "chronos_model_reference_rmse") == {frozenset({("model", key)}): 0.25}
    assert values(samples, "chronos_model_drifting") == {frozenset({("model", key)}): 1}
    evaluated = values(samples, "chronos_model_last_evaluation_timestamp_seconds")
    assert evaluated == {frozenset({("model", key)}): at.timestamp()}
    (info,) = values(samples, "chronos_model_info").items()
    assert dict(info[0]) == {
        "model": key,
        "name": model.name,
        "entity_type": "WaterQualityObserved",
        "entity_id": model.entity_id,
        "attribute": "temperature",
        "service": "smart",
        "service_path": "/buoys",
        "champion_job": str(model.champion_job_id),
    }
    assert info[1] == 1
    # Names and entities live on the info series alone.
    for name, labels in samples:
        if name.startswith("chronos_model_") and name not in ("chronos_model_info", RETRAININGS):
            assert {label for label, _ in labels} <= {"model", "window"}, name


async def test_a_score_not_computed_is_no_sample_never_nan(beanie_db: str) -> None:
    windows = [
        WindowScore(window_seconds=DAY, forecasts=3, pairs=5, mae=0.4, rmse=0.5),  # no interval, no U2
        WindowScore(window_seconds=WEEK),  # no pair yet
        WindowScore(window_seconds=WEEK + 0.2, pairs=9, rmse=9.0),  # the same whole seconds: once
    ]
    model = model_document(evaluated_at=utcnow(), windows=windows)
    await model.insert()
    samples, text = scraped(await read_monitored())
    key = str(model.id)
    assert set(values(samples, "chronos_model_live_rmse")) == {
        frozenset({("model", key), ("window", "86400")})
    }
    assert (
        values(samples, "chronos_model_live_u2") == {}
        and values(samples, "chronos_model_live_coverage") == {}
    )
    assert values(samples, "chronos_model_live_pairs")[frozenset({("model", key), ("window", "604800")})] == 0
    assert values(samples, "chronos_model_reference_rmse") == {}
    assert values(samples, "chronos_model_drifting") == {frozenset({("model", key)}): 0}
    assert "NaN" not in text
    assert "# TYPE chronos_model_live_u2 gauge" in text, "the family is declared even without a sample"


async def test_a_nan_stored_and_an_unreadable_document_cost_only_their_own_series(
    beanie_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    good = model_document(evaluated_at=utcnow(), windows=full_windows())
    await good.insert()
    models = mongo[beanie_db]["models"]
    await models.update_one({"_id": good.id}, {"$set": {"monitoring.windows.0.rmse": math.nan}})
    odd = model_document(evaluated_at=utcnow())
    await odd.insert()
    await models.update_one({"_id": odd.id}, {"$set": {"monitoring.windows": "not a list"}})
    read = await read_monitored()
    assert [m.id for m in read] == [good.id]
    samples, text = scraped(read)
    rmse = values(samples, "chronos_model_live_rmse")
    assert rmse == {frozenset({("model", str(good.id)), ("window", "604800")}): 0.7}
    assert "NaN" not in text


async def test_the_query_leaves_the_evaluation_history_out(beanie_db: str) -> None:
    history = [RmseSample(at=utcnow(), rmse=1.0)] * HISTORY_KEPT
    model = model_document(evaluated_at=utcnow(), windows=full_windows(), history=history)
    await model.insert()
    stored = await ModelDocument.aggregate([{"$project": {"monitoring.history": 1}}]).to_list()
    assert len(stored[0]["monitoring"]["history"]) == HISTORY_KEPT
    (raw,) = await ModelDocument.aggregate(monitored_pipeline(MAX_MODELS)).to_list()
    assert set(raw["monitoring"]) == {"evaluated_at", "reference_rmse", "windows", "drifting"}
    assert "retraining" not in raw and "lookback_window" not in raw
    assert isinstance(raw["_id"], UUID) and raw["_id"] == model.id
