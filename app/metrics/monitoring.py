"""Live accuracy per model for ``/metrics``: the newest evaluations, read in one projection query.

Each monitored model is several series (five per window, three of its own and one info series), so
the set is capped at :data:`MAX_MODELS` models, the most recently evaluated first: a fleet of
10,000 models cannot make one scrape hundreds of thousands of series. Names, entities and tenants
sit only on ``chronos_model_info`` (value 1), never on the value series: a rename changes one
series, and dashboards join the names on with ``* on(model) group_left(name) chronos_model_info``.

A score the evaluation could not compute (no pair in a window yet, no interval to cover) is None
in MongoDB and no sample here, never NaN: an absent series is what PromQL handles well.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from pydantic import BaseModel, Field, ValidationError

from app.models.documents import ModelDocument
from app.models.policy import WindowScore

log = structlog.get_logger(__name__)

MAX_MODELS: Final = 2_000
_CAPPED: Final = f"Only the {MAX_MODELS:,} most recently evaluated models are exported."
# What one scrape reads of a model: never the evaluation history (up to 500 samples a model).
PROJECTION: Final[Mapping[str, int]] = {
    "name": 1,
    "entity_type": 1,
    "entity_id": 1,
    "feature": 1,
    "fiware_service": 1,
    "fiware_service_path": 1,
    "champion_job_id": 1,
    "monitoring.evaluated_at": 1,
    "monitoring.reference_rmse": 1,
    "monitoring.windows": 1,
    "monitoring.drifting": 1,
}
# The window scores exported, each as chronos_model_live_<name>{model,window}.
WINDOW_SCORES: Final[Mapping[str, str]] = {
    "rmse": "Live RMSE of the model's published forecasts against the readings that arrived since",
    "mae": "Live MAE of the model's published forecasts against the readings that arrived since",
    "u2": "Live Theil's U2 of the model's published forecasts (below 1: better than persistence)",
    "coverage": "Share of the readings inside the forecasts' prediction intervals",
    "pairs": "Forecast and reading pairs the live scores are computed from",
}


class MonitoringView(BaseModel):
    """The part of a model's ``monitoring`` the exposition reads."""

    evaluated_at: datetime
    reference_rmse: float | None = None
    windows: list[WindowScore] = Field(default_factory=list)
    drifting: bool = False


class MonitoredModel(BaseModel):
    """A model with at least one live-accuracy evaluation, as the projection reads it."""

    id: UUID = Field(alias="_id")
    name: str = ""
    entity_type: str = ""
    entity_id: str = ""
    feature: str = ""
    fiware_service: str = ""
    fiware_service_path: str = ""
    champion_job_id: UUID | None = None
    monitoring: MonitoringView


def monitored_pipeline(limit: int) -> list[dict[str, Any]]:
    """The one query: models evaluated at least once, newest evaluation first, only what is exported."""
    return [
        {"$match": {"monitoring.evaluated_at": {"$type": "date"}}},
        # _id breaks ties, so which models make the cut does not change from scrape to scrape.
        {"$sort": {"monitoring.evaluated_at": -1, "_id": -1}},
        {"$limit": limit},
        {"$project": dict(PROJECTION)},
    ]


async def read_monitored(*, limit: int = MAX_MODELS) -> list[MonitoredModel]:
    """The ``limit`` most recently evaluated models, newest first."""
    models: list[MonitoredModel] = []
    unreadable = 0
    async for raw in ModelDocument.aggregate(monitored_pipeline(limit)):
        try:
            models.append(MonitoredModel.model_validate(raw))
        except ValidationError:
            # One odd document (an older writer's) costs its own series, never the scrape.
            unreadable += 1
    if unreadable:
        log.warning("metrics.monitoring_unreadable", models=unreadable)
    return models


def _value(number: float | None) -> float | None:
    return number if number is not None and math.isfinite(number) else None


def _timestamp(moment: datetime) -> float:
    # MongoDB hands back naive UTC unless the client is tz-aware.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _windows(model: MonitoredModel) -> Iterator[tuple[str, WindowScore]]:
    """Each window once, labelled by its whole seconds."""
    seen: set[str] = set()
    for window in model.monitoring.windows:
        if not math.isfinite(window.window_seconds):
            continue
        label = str(round(window.window_seconds))
        if label not in seen:
            seen.add(label)
            yield label, window


def _gauge(name: str, text: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, f"{text}. {_CAPPED}", labels=list(labels))


def model_families(models: Sequence[MonitoredModel]) -> Iterator[Metric]:
    """Every per-model family, each present (HELP and TYPE) even with no model."""
    scores = {
        score: _gauge(
            f"chronos_model_live_{score}", text + ", by rolling window (seconds)", ["model", "window"]
        )
        for score, text in WINDOW_SCORES.items()
    }
    reference = _gauge(
        "chronos_model_reference_rmse",
        "Test RMSE of the version the live scores judge, the drift rule's reference",
        ["model"],
    )
    drifting = _gauge(
        "chronos_model_drifting",
        "1 while the model is drifting (live RMSE over its drift factor times the reference RMSE "
        "for the sustain time), else 0",
        ["model"],
    )
    evaluated = _gauge(
        "chronos_model_last_evaluation_timestamp_seconds", "When live accuracy was last evaluated", ["model"]
    )
    info = _gauge(
        "chronos_model_info",
        "1 for each model, with its name, source entity and tenant: join on model",
        ["model", "name", "entity_type", "entity_id", "attribute", "service", "service_path", "champion_job"],
    )
    for model in models:
        key = str(model.id)
        for label, window in _windows(model):
            for score, family in scores.items():
                value = _value(getattr(window, score))
                if value is not None:
                    family.add_metric([key, label], value)
        monitoring = model.monitoring
        if (rmse := _value(monitoring.reference_rmse)) is not None:
            reference.add_metric([key], rmse)
        drifting.add_metric([key], 1.0 if monitoring.drifting else 0.0)
        evaluated.add_metric([key], _timestamp(monitoring.evaluated_at))
        champion = str(model.champion_job_id) if model.champion_job_id else ""
        entity = [model.entity_type, model.entity_id, model.feature]
        info.add_metric(
            [key, model.name, *entity, model.fiware_service, model.fiware_service_path, champion], 1
        )
    yield from scores.values()
    yield from (reference, drifting, evaluated, info)


__all__ = [
    "MAX_MODELS",
    "PROJECTION",
    "MonitoredModel",
    "MonitoringView",
    "model_families",
    "monitored_pipeline",
    "read_monitored",
]
