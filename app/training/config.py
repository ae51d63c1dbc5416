"""What a job was admitted with: the snapshot of its model's configuration, and what that implies
for every later step (the series and tenant to read, the fewest points the windows need)."""

from __future__ import annotations

from app.models.documents import ModelDocument
from app.models.spec import effective_patience
from app.training.documents import TrainingConfig
from fiware.http import Tenant
from fiware.sth import Series
from ml.windows import minimum_points


def snapshot(model: ModelDocument) -> TrainingConfig:
    return TrainingConfig(
        model_type=model.model_type,
        rnn_layers=model.rnn_layers,
        dense_layers=model.dense_layers,
        lookback_window=model.lookback_window,
        forecast_horizon=model.forecast_horizon,
        target_mode=model.target_mode,
        batch_size=model.batch_size,
        epochs=model.epochs,
        learning_rate=model.learning_rate,
        validation_ratio=model.validation_ratio,
        test_ratio=model.test_ratio,
        early_stopping_patience=effective_patience(model.early_stopping_patience, model.epochs),
        entity_type=model.entity_type,
        entity_id=model.entity_id,
        feature=model.feature,
        fiware_service=model.fiware_service,
        fiware_service_path=model.fiware_service_path,
    )


def required_points(config: TrainingConfig) -> int:
    return minimum_points(
        config.lookback_window, config.forecast_horizon, config.validation_ratio, config.test_ratio
    )


def series_of(config: TrainingConfig) -> tuple[Series, Tenant]:
    return (
        Series(entity_type=config.entity_type, entity_id=config.entity_id, attribute=config.feature),
        Tenant(service=config.fiware_service, service_path=config.fiware_service_path),
    )


__all__ = ["required_points", "series_of", "snapshot"]
