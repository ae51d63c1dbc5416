"""What a job was admitted with: the snapshot of its model's configuration, and what that implies
for every later step (the series and tenant to read, the fewest points the windows need)."""

from __future__ import annotations

from app.models.config import ModelConfig
from app.models.documents import ModelDocument
from app.training.documents import TrainingConfig
from fiware.history import Series
from fiware.http import Tenant
from ml.lookback import BASE_LOOKBACK
from ml.windows import minimum_points


def snapshot(model: ModelDocument) -> TrainingConfig:
    """Every configuration field of ``model``, with the patience it would train with; an unset
    lookback is admitted at the base value and chosen from the data in preprocessing."""
    fields = model.model_dump(include=set(TrainingConfig.model_fields))
    chosen = model.lookback_window is None
    return TrainingConfig.model_validate(
        {
            **fields,
            "early_stopping_patience": model.effective_patience,
            "lookback_window": BASE_LOOKBACK if chosen else model.lookback_window,
            "lookback_chosen": chosen,
        }
    )


def required_points(config: TrainingConfig) -> int:
    return minimum_points(
        config.lookback_window, config.forecast_horizon, config.validation_ratio, config.test_ratio
    )


def series_of(config: ModelConfig) -> tuple[Series, Tenant]:
    return (
        Series(
            entity_type=config.entity_type,
            entity_id=config.entity_id,
            attribute=config.feature,
            store=config.history_store,
        ),
        Tenant(service=config.fiware_service, service_path=config.fiware_service_path),
    )


__all__ = ["required_points", "series_of", "snapshot"]
