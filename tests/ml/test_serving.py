"""Serving: the recent window on the job's grid, and ONNX forecasts equal to Keras ones."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ml.network import NetworkSpec, RecurrentLayer
from ml.pipeline import TrainingConfig, forecast_input, forecast_values, train_regular
from ml.series import InsufficientSeries, regularize
from ml.serving import OnnxForecaster, recent_window
from ml.training import FitSettings


def test_a_regular_series_maps_slot_for_slot() -> None:
    ts = 1_000.0 + 60.0 * np.arange(20)
    window = recent_window(ts, np.arange(20.0), interval=60.0, lookback=5, max_gap_steps=2)
    assert window.values.tolist() == [15.0, 16.0, 17.0, 18.0, 19.0]
    assert window.timestamps.tolist() == ts[-5:].tolist() and window.filled == 0


def test_jitter_and_short_gaps_are_absorbed_like_in_training() -> None:
    ts = 1_000.0 + 60.0 * np.arange(20) + np.random.default_rng(1).uniform(-5, 5, 20)
    keep = np.ones(20, bool)
    keep[[16, 17]] = False  # two missing readings inside the window
    window = recent_window(ts[keep], np.arange(20.0)[keep], interval=60.0, lookback=6, max_gap_steps=2)
    assert window.filled == 2
    np.testing.assert_allclose(window.values, [14, 15, 16, 17, 18, 19], atol=1e-9)


@pytest.mark.parametrize("missing", [[15, 16, 17], [14]], ids=["gap-too-long", "oldest-slot"])
def test_gaps_that_training_would_not_fill_are_refused(missing: list[int]) -> None:
    ts = 1_000.0 + 60.0 * np.arange(20)
    keep = np.ones(20, bool)
    keep[missing] = False
    with pytest.raises(InsufficientSeries, match="too few recent points"):
        recent_window(ts[keep], np.arange(20.0)[keep], interval=60.0, lookback=6, max_gap_steps=2)


def test_serving_imports_no_tensorflow() -> None:
    import subprocess

    check = "import sys, ml.serving; assert 'tensorflow' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", check], timeout=60).returncode == 0


def test_the_onnx_forecast_equals_the_keras_forecast_on_the_same_window() -> None:
    import keras

    rng = np.random.default_rng(0)
    n = 300
    values = 20 + 3 * np.sin(np.arange(n) / 9) + rng.normal(0, 0.1, n)
    regular = regularize(1800.0 * np.arange(n), values)
    config = TrainingConfig(
        network=NetworkSpec("LSTM", lookback=12, horizon=4, recurrent=(RecurrentLayer(6),)),
        fit=FitSettings(batch_size=32, epochs=2, patience=0, jit_compile=False),
    )
    outcome = train_regular(regular, config)
    assert outcome.keras is not None and outcome.onnx is not None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(outcome.keras)
        model = keras.saving.load_model(path)
    # Four days of half-hours to train on: the network reads the time of day beside the value, and
    # Keras and ONNX are given the same three-channel window and must agree.
    assert outcome.channels == ("time_of_day_sin", "time_of_day_cos")
    recent, times = values[-12:], 1800.0 * np.arange(n)[-12:]
    x, last = forecast_input(
        recent, outcome.scaler, lookback=12, delta=True, timestamps=times, channels=outcome.channels
    )
    assert x.shape == (1, 12, 3)
    expected = forecast_values(model.predict(x, verbose=0), last, outcome.scaler, True)[0]
    forecaster = OnnxForecaster(
        outcome.onnx, outcome.scaler, lookback=12, delta=True, channels=outcome.channels
    )
    served = forecaster.forecast(recent, times)
    assert served.shape == (4,)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)
    # The calendar moves the forecast: the same values half a day later are another input.
    assert not np.allclose(forecaster.forecast(recent, times + 43_200.0), served, atol=1e-7)
    with pytest.raises(ValueError, match="timestamps"):
        forecaster.forecast(recent)


def test_a_batched_forecast_equals_each_window_forecast_alone() -> None:
    rng = np.random.default_rng(3)
    n = 300
    values = 20 + 3 * np.sin(np.arange(n) / 9) + rng.normal(0, 0.1, n)
    times = 1800.0 * np.arange(n)
    config = TrainingConfig(
        network=NetworkSpec("LSTM", lookback=8, horizon=3, recurrent=(RecurrentLayer(4),)),
        fit=FitSettings(batch_size=32, epochs=1, patience=0, jit_compile=False),
    )
    outcome = train_regular(regularize(times, values), config)
    assert outcome.onnx is not None and outcome.channels
    forecaster = OnnxForecaster(
        outcome.onnx, outcome.scaler, lookback=8, delta=True, channels=outcome.channels
    )
    # Windows of other series and other times of day: one network, many entities.
    windows = [
        (values[end - 8 : end] + shift, times[end - 8 : end] + 600.0 * k)
        for k, (end, shift) in enumerate([(50, 0.0), (120, -4.5), (300, 2.25), (77, 11.0), (200, 0.0)])
    ]
    batched = forecaster.forecast_batch(windows)
    assert batched.shape == (5, 3)
    alone = np.stack([forecaster.forecast(recent, stamps) for recent, stamps in windows])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="at least one window"):
        forecaster.forecast_batch([])
