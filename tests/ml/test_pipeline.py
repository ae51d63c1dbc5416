"""One training job end to end on tiny networks: scores, exports, summary, cancellation, progress."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ml.baselines import targets_at
from ml.calendar import calendar_channels, calendar_features
from ml.ets import ets_forecasts
from ml.metrics import forecast_metrics
from ml.network import Cell, NetworkSpec, RecurrentLayer
from ml.pipeline import TrainingConfig, forecast_input, forecast_values, origins_of, train_regular
from ml.preprocess import Prepared, Scaler, prepare
from ml.series import Regular, regularize
from ml.training import FitSettings, ProgressEvent
from ml.windows import make_windows, windows_per_split

T0 = 1_700_000_000.0
LOOKBACK, HORIZON, POINTS = 12, 3, 300
QUICK = FitSettings(batch_size=32, epochs=2, patience=0, jit_compile=False, learning_rate=0.01)


def noisy_sine(points: int = POINTS, *, seed: int = 0) -> Regular:
    rng = np.random.default_rng(seed)
    values = 15.0 + 3.0 * np.sin(np.arange(points) / 6.0) + rng.normal(0.0, 0.2, points)
    return regularize(T0 + 600.0 * np.arange(points), values)


def config(cell: Cell = "LSTM", *, delta: bool = True) -> TrainingConfig:
    spec = NetworkSpec(cell=cell, lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(4),))
    return TrainingConfig(network=spec, delta=delta, fit=QUICK)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_a_tiny_network_trains_scores_and_exports(cell: Cell, tmp_path: Path) -> None:
    import keras

    regular = noisy_sine()
    events: list[ProgressEvent] = []
    outcome = train_regular(regular, config(cell), progress=events.append)

    assert not outcome.cancelled and outcome.fit.epochs_run == 2
    assert [e.epoch for e in events if e.kind == "epoch"] == [1, 2]
    metrics = outcome.metrics
    assert metrics is not None and len(metrics.rmse_per_step) == HORIZON
    scores = [metrics.mse, metrics.mae, metrics.rmse, metrics.r2, metrics.theil_u, *metrics.rmse_per_step]
    assert all(value is not None and math.isfinite(value) for value in scores)

    summary = outcome.summary
    expected = windows_per_split(POINTS, LOOKBACK, HORIZON, 0.15, 0.15)
    assert summary.windows == expected and metrics.points == expected.test * HORIZON
    split = summary.split_points
    assert (split.train, split.validation, split.test) == (210, 45, 45)
    assert (summary.points, summary.observed, summary.raw_points) == (POINTS, POINTS, POINTS)
    assert (summary.filled, summary.gaps, summary.missing) == (0, 0, 0)
    assert summary.interval_seconds == 600.0
    assert (summary.start, summary.end) == (T0, T0 + 600.0 * (POINTS - 1))
    stored = json.loads(json.dumps(summary.as_dict(), allow_nan=False))
    assert stored["windows"] == {
        "train": expected.train,
        "validation": expected.validation,
        "test": expected.test,
    }
    assert outcome.scaler == Scaler.fit(regular.values[:210])

    assert outcome.keras and outcome.onnx
    archive = tmp_path / "model.keras"
    archive.write_bytes(outcome.keras)
    model = keras.saving.load_model(archive)
    # 35 hours of training data hold no three days: no calendar channel (tests/ml/test_serving.py
    # compares Keras and ONNX with them).
    assert outcome.channels == ()
    test = prepare(
        regular,
        lookback=LOOKBACK,
        horizon=HORIZON,
        validation_ratio=0.15,
        test_ratio=0.15,
        delta=True,
    ).test
    session = ort.InferenceSession(outcome.onnx, providers=["CPUExecutionProvider"])
    [onnx_out] = session.run(None, {session.get_inputs()[0].name: test.x})
    keras_out = model.predict(test.x, verbose=0)
    assert onnx_out.shape == (expected.test, HORIZON)
    np.testing.assert_allclose(onnx_out, keras_out, rtol=1e-5, atol=1e-6)

    # Served forecasts go through the same inverse as the scored ones: the metrics come back.
    served = forecast_values(onnx_out, test.last, outcome.scaler, delta=True)
    truth = forecast_values(test.y, test.last, outcome.scaler, delta=True)
    rescored = forecast_metrics(truth, served, outcome.scaler.inverse(test.last))
    assert rescored.rmse == pytest.approx(metrics.rmse, rel=1e-4)
    assert rescored.theil_u == pytest.approx(metrics.theil_u, rel=1e-4)


def test_a_cancelled_job_is_neither_scored_nor_exported() -> None:
    outcome = train_regular(noisy_sine(), config(), should_stop=lambda: True)
    assert outcome.cancelled and outcome.fit.epochs_run == 1
    assert outcome.metrics is None and outcome.keras is None and outcome.onnx is None
    assert outcome.summary.windows.test > 0


def test_a_constant_series_scores_undefined_ratios_as_none() -> None:
    regular = regularize(T0 + 60.0 * np.arange(150), np.full(150, 7.25))
    outcome = train_regular(regular, config(delta=False), export=False)
    metrics = outcome.metrics
    assert metrics is not None and outcome.keras is None and outcome.onnx is None
    assert metrics.theil_u is None and metrics.r2 is None
    assert metrics.rmse is not None and math.isfinite(metrics.rmse)
    json.dumps(metrics.as_dict(), allow_nan=False)


def test_forecast_input_matches_the_last_window_of_the_series() -> None:
    values = 20.0 + np.sin(np.arange(40) / 3.0)
    scaler = Scaler.fit(values)
    for delta in (True, False):
        x, last = forecast_input(values, scaler, lookback=LOOKBACK, delta=delta)
        wx, _, wlast = make_windows(scaler.transform(values[-LOOKBACK - 1 :]), LOOKBACK, 1, delta=delta)
        # make_windows needs a target after the window, so the window one step back is compared.
        x_back, last_back = forecast_input(values[:-1], scaler, lookback=LOOKBACK, delta=delta)
        np.testing.assert_array_equal(x_back, wx[-1:])
        np.testing.assert_array_equal(last_back, wlast[-1:])
        assert x.shape == (1, LOOKBACK, 1) and x.dtype == last.dtype == np.float32
    with pytest.raises(ValueError, match="latest 12 values"):
        forecast_input(values[:5], scaler, lookback=LOOKBACK, delta=True)
    with pytest.raises(ValueError, match="finite"):
        forecast_input(np.append(values, np.nan), scaler, lookback=LOOKBACK, delta=True)


def test_forecast_input_places_calendar_channels_as_the_training_windows_do() -> None:
    values = 20.0 + np.sin(np.arange(40) / 3.0)
    times = T0 + 1800.0 * np.arange(40)
    channels = calendar_channels(1800.0)
    scaler = Scaler.fit(values)
    features = calendar_features(times, channels)
    wx, _, _ = make_windows(scaler.transform(values), LOOKBACK, 1, delta=True, covariates=features)
    x, _ = forecast_input(
        values[:-1], scaler, lookback=LOOKBACK, delta=True, timestamps=times[:-1], channels=channels
    )
    np.testing.assert_array_equal(x, wx[-1:])
    with pytest.raises(ValueError, match="timestamps"):
        forecast_input(values, scaler, lookback=LOOKBACK, delta=True, channels=channels)


def test_forecast_values_adds_the_last_value_back_only_for_delta_targets() -> None:
    scaler = Scaler(mean=10.0, scale=2.0)
    raw = np.array([[0.5, 1.0], [-1.0, 0.0]], dtype=np.float32)
    last = np.array([1.0, -2.0], dtype=np.float32)
    np.testing.assert_allclose(forecast_values(raw, last, scaler, delta=True), [[13.0, 14.0], [4.0, 6.0]])
    np.testing.assert_allclose(forecast_values(raw, last, scaler, delta=False), [[11.0, 12.0], [8.0, 10.0]])


def prepare_like(regular: Regular) -> Prepared:
    return prepare(
        regular, lookback=LOOKBACK, horizon=HORIZON, validation_ratio=0.15, test_ratio=0.15, delta=True
    )


def test_baselines_are_scored_on_the_networks_own_test_pairs_against_raw_values() -> None:
    # Two weeks of hourly counts with a daily cycle and exact zeros every night.
    hours = np.arange(24 * 14)
    noise = np.random.default_rng(5).normal(0.0, 0.7, hours.size)
    counts = np.maximum(0.0, np.round(8 * np.sin(2 * np.pi * (hours % 24) / 24) + noise))
    regular = regularize(T0 + 3600.0 * hours, counts)
    outcome = train_regular(regular, config(), export=False)
    metrics = outcome.metrics
    assert metrics is not None
    assert [s.name for s in outcome.seasons] == ["daily"] and outcome.seasons[0].period == 24
    names = [b.name for b in outcome.baselines]
    # Weekly is scored too: the history before the test split holds a week, though no weekly season.
    # AutoETS last, fitted on the training split with the daily period.
    assert names == ["persistence", "seasonal_naive_daily", "seasonal_naive_weekly", "ets"]
    persistence, daily, _, ets = outcome.baselines
    assert persistence.metrics.points == daily.metrics.points == ets.metrics.points == metrics.points
    assert outcome.ets is not None and ets.period == outcome.ets.period == 24
    # Its reported scores are those of its own filter on the same origins.
    test = origins_of(prepare_like(regular), "test")
    rescored = forecast_metrics(
        targets_at(regular.values, test, HORIZON),
        ets_forecasts(outcome.ets, regular.values, test, HORIZON),
        regular.values[test],
    )
    assert rescored.rmse == pytest.approx(ets.metrics.rmse, rel=1e-12)
    # Theil's U2 is the network's RMSE over the persistence baseline's, on the same pairs.
    assert metrics.rmse is not None and persistence.metrics.rmse is not None
    assert metrics.theil_u == pytest.approx(metrics.rmse / persistence.metrics.rmse)
    # The cycle repeats: a day back beats the last value, and MASE is defined.
    assert daily.metrics.rmse is not None and daily.metrics.rmse < persistence.metrics.rmse
    assert metrics.mase is not None and daily.metrics.mase is not None
    # Zeros are zeros (not 1e-6 after scaling), so MAPE stays a percentage of the non-zero counts.
    assert metrics.mape is not None and metrics.mape < 1_000
    assert metrics.smape is not None and 0 <= metrics.smape <= 200
    # Intervals calibrated online from the validation split on, each with its test coverage.
    assert [i.level for i in outcome.intervals] == [0.8, 0.95]
    for interval in outcome.intervals:
        assert len(interval.half_widths) == HORIZON and all(w >= 0 for w in interval.half_widths)
        assert interval.coverage is not None and 0.0 <= interval.coverage <= 1.0


def test_a_baseline_that_beats_the_network_on_validation_serves_with_its_own_intervals() -> None:
    # An exact daily cycle: a day back is perfect (a week back too: the tie goes to the earlier, the
    # day), which a two-epoch network cannot match.
    hours = np.arange(24 * 30)
    day = np.round(10.0 + 5.0 * np.sin(2 * np.pi * np.arange(24) / 24), 2)
    regular = regularize(T0 + 3600.0 * hours, np.tile(day, 30))
    outcome = train_regular(regular, config(), export=False)
    served = outcome.served
    assert served is not None and (served.name, served.period) == ("seasonal_naive_daily", 24)
    assert served.validation_rmse == 0.0
    assert served.reason.startswith("lowest validation RMSE") and "network" in served.reason
    # The intervals are the served forecaster's: it never errs, so they have no width.
    assert outcome.intervals and all(
        w == pytest.approx(0.0, abs=1e-9) for i in outcome.intervals for w in i.half_widths
    )


def test_calendar_channels_stay_off_where_the_grid_or_the_data_cannot_carry_them() -> None:
    rng = np.random.default_rng(0)
    # Readings at random moments (exponential gaps, mean 10 min): the grid found (476 s) divides
    # neither a day nor a week, so the job trains on the value alone.
    times = T0 + np.cumsum(rng.exponential(600.0, 400))
    irregular = regularize(times, np.sin(times / 5000.0) + rng.normal(0.0, 0.1, 400))
    assert train_regular(irregular, config(), export=False).channels == ()
    # Half-hours over 2.5 days: a day is a whole number of steps, but the training split spans
    # fewer than three, so the time of day would be a clock the network extrapolates.
    short = regularize(T0 + 1800.0 * np.arange(120), np.sin(np.arange(120) / 8.0))
    outcome = train_regular(short, config(), export=False)
    assert outcome.channels == () and outcome.seasons == ()
    # A week is longer than the data: no weekly seasonal-naive baseline; a day back is still scored.
    assert [b.name for b in outcome.baselines if b.name.startswith("seasonal")] == ["seasonal_naive_daily"]
