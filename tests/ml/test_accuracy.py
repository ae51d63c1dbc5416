"""Live accuracy: published forecasts joined with later readings, rolling windows, drift."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import numpy.typing as npt
import pytest

from ml.accuracy import (
    LiveAccuracy,
    PublishedForecast,
    StepAccuracy,
    actuals_at,
    drift_since,
    live_accuracy,
)
from ml.metrics import forecast_metrics

NAN = math.nan
MINUTE = 60.0


def forecast(
    origin: float,
    origin_value: float,
    values: list[float],
    lower: list[float] | None = None,
    upper: list[float] | None = None,
    *,
    interval: float = MINUTE,
) -> PublishedForecast:
    targets = origin + interval * np.arange(1, len(values) + 1, dtype=np.float64)
    return PublishedForecast(
        origin=origin,
        origin_value=origin_value,
        targets=targets,
        values=np.asarray(values, dtype=np.float64),
        lower=None if lower is None else np.asarray(lower, dtype=np.float64),
        upper=None if upper is None else np.asarray(upper, dtype=np.float64),
    )


def hand_case() -> LiveAccuracy:
    # Readings 12, 14, 13 at 60, 120, 180 (the one at 240 is NaN: not a reading).
    # A, origin 0 (reading 10): forecasts 11, 13, 15 within [10,12], [11,13.5], [12,16].
    # B, origin 60 (reading 12): forecasts 12, 16, no bounds.
    # C, origin 180: all four targets after now, so it only lengthens ``steps`` to 4.
    forecasts = [
        forecast(0.0, 10.0, [11.0, 13.0, 15.0], [10.0, 11.0, 12.0], [12.0, 13.5, 16.0]),
        forecast(60.0, 12.0, [12.0, 16.0]),
        forecast(180.0, 13.0, [1.0, 2.0, 3.0, 4.0]),
    ]
    return live_accuracy(
        forecasts,
        [180.0, 60.0, 120.0, 240.0],
        [13.0, 12.0, 14.0, NAN],
        interval=MINUTE,
        now=180.0,
        window_seconds=180.0,
    )


def test_offline_hand_computation() -> None:
    # Pairs (forecast - reading; persistence - reading):
    #   A1: 11-12 = -1; 10-12 = -2; 12 in [10, 12]      B1: 12-14 = -2; 12-14 = -2
    #   A2: 13-14 = -1; 10-14 = -4; 14 not in [11, 13.5] B2: 16-13 = +3; 12-13 = -1
    #   A3: 15-13 = +2; 10-13 = -3; 13 in [12, 16]
    acc = hand_case()

    assert (acc.window_seconds, acc.start, acc.end) == (180.0, 0.0, 180.0)
    assert (acc.forecasts, acc.pairs) == (2, 5)
    assert acc.mae == pytest.approx((1 + 1 + 2 + 2 + 3) / 5)
    assert acc.rmse == pytest.approx(math.sqrt((1 + 1 + 4 + 4 + 9) / 5))
    assert acc.u2 == pytest.approx(math.sqrt((1 + 1 + 4 + 4 + 9) / (4 + 16 + 9 + 4 + 1)))
    assert acc.coverage == pytest.approx(2 / 3)  # B has no bounds: only A's three pairs count
    assert acc.bias == pytest.approx((-1 - 1 + 2 - 2 + 3) / 5)

    step1, step2, step3, step4 = acc.steps
    # (step, pairs, mae, rmse, u2, coverage, bias)
    assert dataclasses.astuple(step1) == pytest.approx(
        (1, 2, 1.5, math.sqrt(2.5), math.sqrt(2.5) / 2, 1.0, -1.5)
    )
    assert dataclasses.astuple(step2) == pytest.approx(
        (2, 2, 2.0, math.sqrt(5), math.sqrt(10 / 17), 0.0, 1.0)
    )
    assert dataclasses.astuple(step3) == pytest.approx((3, 1, 2.0, 2.0, 2 / 3, 1.0, 2.0))
    assert step4 == StepAccuracy(4, 0, None, None, None, None, None)


def test_the_result_is_json_safe() -> None:
    text = json.dumps(dataclasses.asdict(hand_case()), allow_nan=False)
    assert '"pairs": 0, "mae": null' in text


def test_window_excludes_its_start_and_includes_its_end() -> None:
    # Targets at 100 (= now - window: out) and 200 (= now: in).
    fc = PublishedForecast(origin=0.0, origin_value=0.0, targets=np.array([100.0, 200.0]), values=np.ones(2))
    acc = live_accuracy([fc], [100.0, 200.0], [3.0, 5.0], interval=100.0, now=200.0, window_seconds=100.0)
    assert acc.pairs == 1
    assert acc.steps[0].pairs == 0 and acc.steps[0].mae is None
    assert acc.steps[1].pairs == 1 and acc.steps[1].mae == 4.0

    later = live_accuracy([fc], [100.0, 200.0], [3.0, 5.0], interval=100.0, now=199.0, window_seconds=100.0)
    assert (later.pairs, later.steps[0].mae) == (1, 2.0)


@pytest.mark.parametrize(
    ("offset", "counts"),
    [(0.4, True), (-0.4, True), (0.6, False), (-0.6, False), (-0.5, True), (0.5, False)],
)
def test_a_reading_counts_within_half_an_interval(offset: float, counts: bool) -> None:
    # Half-open, so a reading exactly between two grid slots belongs to one of them only.
    actual = actuals_at([6000.0], [6000.0 + offset * MINUTE], [7.0], interval=MINUTE)
    assert actual.shape == (1,)
    assert actual[0] == 7.0 if counts else math.isnan(actual[0])


def test_duplicates_are_averaged_and_bad_readings_ignored() -> None:
    times = [130.0, 60.0, 120.0, 120.0, 125.0, 120.0, NAN]
    values = [9.0, 5.0, 1.0, 2.0, 6.0, NAN, 100.0]
    actual = actuals_at(np.array([[60.0, 120.0], [180.0, NAN]]), times, values, interval=MINUTE)
    assert actual.shape == (2, 2)
    # 120 gathers 1, 2, 6 and 9 (130 is within 30 s); 180 has nothing.
    np.testing.assert_array_equal(actual, [[5.0, 4.5], [NAN, NAN]])


def test_actuals_match_a_brute_force_join() -> None:
    rng = np.random.default_rng(11)
    interval = 10.0
    times = np.round(rng.uniform(0, 1000, 400), 1)
    times[1::7] = times[::7][: times[1::7].size]  # exact duplicates
    values = rng.normal(size=times.size)
    targets = rng.uniform(-20, 1020, 300)  # off any grid: their windows overlap
    expected = []
    for target in targets:
        near = (times >= target - interval / 2) & (times < target + interval / 2)
        expected.append(values[near].mean() if near.any() else NAN)
    np.testing.assert_allclose(actuals_at(targets, times, values, interval=interval), expected, rtol=1e-12)


def test_agrees_with_the_test_split_metrics_on_a_full_grid() -> None:
    rng = np.random.default_rng(3)
    n, horizon = 40, 6
    series = 20.0 + np.cumsum(rng.normal(size=n + horizon))
    times = 1.7e9 + 3600.0 * np.arange(series.size, dtype=np.float64)
    truth = series[np.arange(n)[:, None] + np.arange(1, horizon + 1)]
    predicted = truth + rng.normal(size=(n, horizon))
    forecasts = [
        PublishedForecast(
            origin=times[i],
            origin_value=series[i],
            targets=times[i + 1 : i + 1 + horizon],
            values=predicted[i],
        )
        for i in range(n)
    ]
    jittered = times + rng.uniform(-1000, 1000, times.size)
    acc = live_accuracy(
        forecasts, jittered, series, interval=3600.0, now=times[-1], window_seconds=times[-1] - times[0]
    )
    expected = forecast_metrics(truth, predicted, series[:n])

    assert acc.pairs == expected.points == n * horizon
    assert acc.mae == pytest.approx(expected.mae)
    assert acc.rmse == pytest.approx(expected.rmse)
    assert acc.u2 == pytest.approx(expected.theil_u)
    assert [s.rmse for s in acc.steps] == pytest.approx(expected.rmse_per_step)


def test_perfect_persistence_leaves_u2_undefined() -> None:
    fc = forecast(0.0, 5.0, [6.0, 4.0])
    acc = live_accuracy([fc], [60.0, 120.0], [5.0, 5.0], interval=MINUTE, now=120.0, window_seconds=600.0)
    assert acc.rmse == 1.0
    assert acc.u2 is None
    assert all(step.u2 is None and step.rmse == 1.0 for step in acc.steps)


def test_pairs_need_a_reading_a_value_and_a_persistence_value() -> None:
    forecasts = [
        forecast(0.0, 5.0, [NAN, 7.0, 9.0], [4.0, NAN, 8.0], [6.0, 8.0, 10.0]),  # step 3: no reading yet
        forecast(0.0, NAN, [1.0, 1.0]),
    ]
    acc = live_accuracy(
        forecasts, [60.0, 120.0], [5.0, 7.5], interval=MINUTE, now=180.0, window_seconds=600.0
    )
    assert (acc.forecasts, acc.pairs) == (1, 1)
    assert [s.pairs for s in acc.steps] == [0, 1, 0]
    # The only pair has a NaN lower bound: it counts for the error, not for coverage.
    assert (acc.mae, acc.coverage) == (0.5, None)


def test_no_forecasts_or_no_readings() -> None:
    empty = live_accuracy([], [], [], interval=MINUTE, now=0.0, window_seconds=MINUTE)
    assert (empty.forecasts, empty.pairs, empty.rmse, empty.steps) == (0, 0, None, ())
    unread = live_accuracy(
        [forecast(0.0, 1.0, [1.0])], [], [], interval=MINUTE, now=60.0, window_seconds=MINUTE
    )
    assert (unread.pairs, unread.steps[0].pairs, unread.mae) == (0, 0, None)


def test_overflowing_errors_become_none_without_warnings() -> None:
    fc = forecast(0.0, 0.0, [1e200, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acc = live_accuracy([fc], [60.0, 120.0], [0.0, 0.0], interval=MINUTE, now=120.0, window_seconds=600.0)
    assert acc.rmse is None and acc.u2 is None
    assert acc.mae == pytest.approx(5e199)
    assert acc.steps[1].rmse == 1.0


HOUR = 3600.0


def test_sustained_exceedance_is_drift_from_its_first_evaluation() -> None:
    history: list[tuple[float, float | None]] = [(0.0, 1.0), (HOUR, 2.5), (2 * HOUR, 2.6), (3 * HOUR, 3.0)]
    assert drift_since(history, reference_rmse=1.0, factor=2.0, sustain_seconds=2 * HOUR) == HOUR
    assert drift_since(history, reference_rmse=1.0, factor=2.0, sustain_seconds=2 * HOUR + 1) is None
    # Equal to the threshold is not above it.
    assert drift_since(history, reference_rmse=1.25, factor=2.0, sustain_seconds=0.0) == 2 * HOUR


def test_a_dip_below_the_threshold_breaks_the_run() -> None:
    history: list[tuple[float, float | None]] = [(0.0, 2.5), (HOUR, 1.5), (2 * HOUR, 2.5), (3 * HOUR, 2.5)]
    assert drift_since(history, reference_rmse=1.0, factor=2.0, sustain_seconds=HOUR) == 2 * HOUR
    assert drift_since(history, reference_rmse=1.0, factor=2.0, sustain_seconds=2 * HOUR) is None
    recovered = [*history, (4 * HOUR, 1.0)]
    assert drift_since(recovered, reference_rmse=1.0, factor=2.0, sustain_seconds=0.0) is None


def test_evaluations_without_pairs_neither_start_break_nor_lengthen_a_run() -> None:
    bridged: list[tuple[float, float | None]] = [
        (0.0, 1.0),
        (HOUR, None),
        (2 * HOUR, 2.5),
        (3 * HOUR, None),
        (4 * HOUR, 2.5),
    ]
    assert drift_since(bridged, reference_rmse=1.0, factor=2.0, sustain_seconds=2 * HOUR) == 2 * HOUR
    leading: list[tuple[float, float | None]] = [(0.0, None), (HOUR, 2.5)]
    assert drift_since(leading, reference_rmse=1.0, factor=2.0, sustain_seconds=0.0) == HOUR
    trailing: list[tuple[float, float | None]] = [(0.0, 2.5), (HOUR, None), (2 * HOUR, NAN)]
    assert drift_since(trailing, reference_rmse=1.0, factor=2.0, sustain_seconds=HOUR) is None
    assert drift_since([(0.0, None)], reference_rmse=1.0, factor=2.0, sustain_seconds=0.0) is None
    assert drift_since([], reference_rmse=1.0, factor=2.0, sustain_seconds=0.0) is None


def test_an_infinite_rmse_exceeds() -> None:
    history: list[tuple[float, float | None]] = [(0.0, math.inf), (HOUR, math.inf)]
    assert drift_since(history, reference_rmse=1.0, factor=2.0, sustain_seconds=HOUR) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0.0}, "interval must be"),
        ({"interval": -60.0}, "interval must be"),
        ({"interval": NAN}, "interval must be"),
        ({"window_seconds": 0.0}, "window_seconds must be"),
        ({"window_seconds": math.inf}, "window_seconds must be"),
        ({"now": NAN}, "now must be finite"),
        ({"reading_values": [1.0]}, "reading_times has shape"),
    ],
)
def test_live_accuracy_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "reading_times": [60.0, 120.0],
        "reading_values": [1.0, 2.0],
        "interval": MINUTE,
        "now": 120.0,
        "window_seconds": 600.0,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        live_accuracy([forecast(0.0, 1.0, [1.0, 2.0])], **arguments)  # type: ignore[arg-type]


def test_actuals_at_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="interval must be"):
        actuals_at([0.0], [0.0], [1.0], interval=0.0)
    with pytest.raises(ValueError, match="reading_times has shape"):
        actuals_at([0.0], [0.0, 1.0], [1.0], interval=1.0)


def array(values: list[float]) -> npt.NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": array([1.0])}, "values has 1 values, targets has 2"),
        ({"targets": array([120.0, 60.0])}, "strictly increasing"),
        ({"targets": array([60.0, 60.0])}, "strictly increasing"),
        ({"targets": array([60.0, NAN])}, "strictly increasing"),
        ({"targets": np.ones((2, 1))}, "one-dimensional"),
        ({"lower": array([0.0, 0.0])}, "together"),
        ({"lower": array([0.0]), "upper": array([2.0, 2.0])}, "lower has 1 values"),
    ],
)
def test_published_forecast_rejects_bad_shapes(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "origin": 0.0,
        "origin_value": 1.0,
        "targets": array([60.0, 120.0]),
        "values": array([1.0, 2.0]),
    } | kwargs
    with pytest.raises(ValueError, match=message):
        PublishedForecast(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"factor": 0.0}, "factor must be"),
        ({"reference_rmse": -1.0}, "reference_rmse must be"),
        ({"reference_rmse": NAN}, "reference_rmse must be"),
        ({"sustain_seconds": -1.0}, "sustain_seconds must be"),
        ({"history": [(HOUR, 1.0), (0.0, 1.0)]}, "time order"),
    ],
)
def test_drift_since_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "history": [(0.0, 1.0)],
        "reference_rmse": 1.0,
        "factor": 2.0,
        "sustain_seconds": 0.0,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        drift_since(**arguments)  # type: ignore[arg-type]
