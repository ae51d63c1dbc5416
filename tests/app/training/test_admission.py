"""Admission's pure steps: request validation, fingerprints and idempotency keys, point checks."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from app.errors import InsufficientData, ValidationFailed
from app.models.enums import ModelType, TargetMode
from app.training.admission import (
    DEFAULT_LAST_N,
    MAX_LAST_N,
    StartRequest,
    check_last_n,
    fingerprint_of,
    idempotency_key,
    points_to_request,
    validate_request,
)
from app.training.config import required_points
from app.training.documents import TrainingConfig, TrainingRequest

CONFIG = TrainingConfig(
    model_type=ModelType.LSTM, rnn_layers=[{"units": 4}], dense_layers=[], lookback_window=8,
    forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2, learning_rate=0.001,
    validation_ratio=0.15, test_ratio=0.15, early_stopping_patience=0, entity_type="Sensor",
    entity_id="urn:s", feature="temperature", fiware_service="smart", fiware_service_path="/",
)  # fmt: skip
NEEDED = required_points(CONFIG)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def problems(request: StartRequest) -> list[tuple[tuple[str, ...] | None, str]]:
    with pytest.raises(ValidationFailed) as refused:
        validate_request(request)
    return [(error.field, error.message) for error in refused.value.errors]


def test_a_request_without_a_window_asks_for_the_default_newest_points() -> None:
    assert validate_request(StartRequest()) == TrainingRequest(last_n=DEFAULT_LAST_N)
    assert validate_request(StartRequest(last_n=5)) == TrainingRequest(last_n=5)


def test_a_window_is_kept_as_given() -> None:
    wanted = validate_request(StartRequest(date_from=JAN, date_to=FEB))
    assert wanted == TrainingRequest(date_from=JAN, date_to=FEB)


def test_every_problem_of_a_request_is_reported_at_its_field() -> None:
    found = problems(
        StartRequest(last_n=0, date_from=FEB, date_to=JAN.replace(tzinfo=None), idempotency_key="")
    )
    assert [field for field, _ in found] == [
        ("input", "lastN"),
        ("input", "lastN"),
        ("input", "dateTo"),
        ("input", "idempotencyKey"),
    ]
    assert "either lastN or a dateFrom/dateTo window" in found[0][1]
    assert f"between 1 and {MAX_LAST_N:,}" in found[1][1]
    assert "time zone offset" in found[2][1]


def test_a_window_must_run_forwards() -> None:
    assert problems(StartRequest(date_from=FEB, date_to=JAN)) == [
        (("input", "dateTo"), "dateFrom must be before dateTo")
    ]


def test_an_idempotency_key_must_be_short_and_printable() -> None:
    assert problems(StartRequest(idempotency_key="x" * 201))[0][0] == ("input", "idempotencyKey")
    assert problems(StartRequest(idempotency_key="a\nb"))[0][0] == ("input", "idempotencyKey")
    assert validate_request(StartRequest(idempotency_key="k" * 200)).last_n == DEFAULT_LAST_N


def test_fingerprints_tell_models_and_requests_apart_and_nothing_else() -> None:
    model = uuid4()
    one = fingerprint_of(model, TrainingRequest(last_n=100))
    assert one == fingerprint_of(model, TrainingRequest(last_n=100))
    assert one != fingerprint_of(model, TrainingRequest(last_n=101))
    assert one != fingerprint_of(uuid4(), TrainingRequest(last_n=100))
    assert len(one) == 64


def test_idempotency_keys_count_per_model() -> None:
    model = uuid4()
    assert idempotency_key(model, None) is None
    assert idempotency_key(model, "k") == f"{model}:k"


def test_a_last_n_below_what_the_windows_need_is_refused_before_sth_is_asked() -> None:
    check_last_n(TrainingRequest(last_n=NEEDED), CONFIG)
    check_last_n(TrainingRequest(date_from=JAN, date_to=FEB), CONFIG)
    with pytest.raises(InsufficientData) as refused:
        check_last_n(TrainingRequest(last_n=NEEDED - 1), CONFIG)
    assert refused.value.field == ("input", "lastN")


def test_the_points_requested_are_the_newest_asked_for_or_the_whole_window() -> None:
    assert points_to_request(NEEDED + 50, TrainingRequest(last_n=NEEDED + 10), CONFIG) == NEEDED + 10
    assert points_to_request(NEEDED + 5, TrainingRequest(last_n=NEEDED + 10), CONFIG) == NEEDED + 5
    assert points_to_request(NEEDED + 50, TrainingRequest(date_from=JAN, date_to=FEB), CONFIG) == NEEDED + 50


def test_too_few_points_or_too_wide_a_window_is_refused() -> None:
    with pytest.raises(InsufficientData) as short:
        points_to_request(NEEDED - 1, TrainingRequest(date_from=JAN, date_to=FEB), CONFIG)
    assert "in that window" in short.value.message and short.value.field == ("input",)
    with pytest.raises(InsufficientData) as few:
        points_to_request(NEEDED - 1, TrainingRequest(last_n=NEEDED), CONFIG)
    assert "in total" in few.value.message
    with pytest.raises(ValidationFailed) as wide:
        points_to_request(MAX_LAST_N + 1, TrainingRequest(date_from=JAN, date_to=FEB), CONFIG)
    assert wide.value.field == ("input", "dateFrom")
