"""Preprocessing's pure steps: chunks joined in order, the series regularised and summarised."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from app.models.enums import ModelType, TargetMode
from app.training import storage
from app.training.documents import TrainingConfig
from app.training.failures import StepFailed
from app.training.preprocessing import joined, regular_from, regularized, summary_of
from ml.series import FloatArray

CONFIG = TrainingConfig(
    model_type=ModelType.GRU, rnn_layers=[{"units": 4}], dense_layers=[], lookback_window=8,
    forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=32, epochs=2, learning_rate=0.001,
    validation_ratio=0.15, test_ratio=0.15, early_stopping_patience=0, entity_type="Sensor",
    entity_id="urn:s", feature="t", fiware_service="smart", fiware_service_path="/",
)  # fmt: skip
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def minutes(steps: npt.ArrayLike) -> FloatArray:
    """Epoch seconds of the given minutes after ``START``."""
    return START + 60.0 * np.asarray(steps, dtype=np.float64)


def test_chunks_join_in_the_order_given_and_no_chunks_make_an_empty_series() -> None:
    first = (storage.pack([1.0, 2.0]), storage.pack([10.0, 20.0]))
    timestamps, values = joined([first, (storage.pack([3.0]), storage.pack([30.0])), (None, None)])
    assert timestamps.tolist() == [1.0, 2.0, 3.0] and values.tolist() == [10.0, 20.0, 30.0]
    empty_times, empty_values = joined([])
    assert empty_times.size == 0 and empty_values.size == 0


def test_a_regular_series_is_summarised_with_its_windows() -> None:
    timestamps = minutes(np.arange(200))
    values = np.sin(np.arange(200, dtype=np.float64) / 10.0)
    regular, summary, _ = regularized(CONFIG, timestamps, values, max_gap_steps=3)
    assert summary.slots == len(regular.values) == 200
    assert summary.sampling_interval_seconds == 60.0
    assert summary.series_start.timestamp() == START
    assert summary.series_end.timestamp() == START + 60.0 * 199
    assert summary.train_windows > 0 and summary.validation_windows > 0 and summary.test_windows > 0
    assert summary_of(regular).train_windows == 0  # windows are counted by ``regularized`` alone


def test_the_summary_gives_back_the_series_it_describes() -> None:
    timestamps = minutes(np.delete(np.arange(100), [40, 41]))
    regular, summary, _ = regularized(CONFIG, timestamps, np.arange(98.0), max_gap_steps=3)
    again = regular_from(summary, regular.values)
    assert (again.start, again.interval, again.filled, again.gaps) == (
        regular.start,
        regular.interval,
        regular.filled,
        regular.gaps,
    )
    assert summary.filled == 2 and summary.missing == 0


def test_a_series_too_short_for_the_windows_fails_the_job_as_insufficient() -> None:
    with pytest.raises(StepFailed) as failed:
        regularized(CONFIG, minutes(np.arange(12)), np.arange(12.0), max_gap_steps=3)
    assert failed.value.code == "INSUFFICIENT_DATA"


def test_an_unset_lookback_is_chosen_from_the_data_and_an_explicit_one_kept() -> None:
    hours: FloatArray = START + 3600.0 * np.arange(24 * 7 * 16, dtype=np.float64)
    t = hours - START
    values: FloatArray = np.sin(2 * np.pi * t / 86_400.0) + 2.0 * (np.floor(t / 86_400.0) % 7 >= 5)
    chosen = CONFIG.model_copy(update={"lookback_window": 48, "lookback_chosen": True})
    _, summary, config = regularized(chosen, hours, values, max_gap_steps=3)
    assert config.lookback_window == 168 and config.lookback_reason and "weekly" in config.lookback_reason
    # The windows counted are those of the lookback chosen.
    assert summary.test_windows == summary.slots * 15 // 100 - 168 - 2 + 1
    _, _, kept = regularized(CONFIG, hours, values, max_gap_steps=3)
    assert kept.lookback_window == 8 and kept.lookback_reason is None
