"""Chronological splits, a train-only scaler and per-split windows, and the minimum they imply."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.preprocess import Prepared, Scaler, prepare
from ml.series import InsufficientSeries, Regular, regularize
from ml.windows import make_windows, minimum_points, windows_per_split

T0 = 1_700_000_000.0


def regular_of(values: npt.ArrayLike, interval: float = 60.0) -> Regular:
    vs = np.asarray(values, dtype=np.float64)
    return regularize(T0 + interval * np.arange(vs.size), vs)


@settings(max_examples=50, deadline=None)
@given(
    lookback=st.integers(1, 60),
    horizon=st.integers(1, 24),
    validation_ratio=st.floats(0.05, 0.4),
    test_ratio=st.floats(0.05, 0.4),
)
def test_the_admission_minimum_is_exactly_what_preparation_needs(
    lookback: int, horizon: int, validation_ratio: float, test_ratio: float
) -> None:
    needed = minimum_points(lookback, horizon, validation_ratio, test_ratio)

    def prepared_from(values: npt.NDArray[np.float64]) -> Prepared:
        return prepare(
            regular_of(values),
            lookback=lookback,
            horizon=horizon,
            validation_ratio=validation_ratio,
            test_ratio=test_ratio,
            delta=True,
        )

    series = np.sin(np.arange(needed) / 5.0)
    prepared = prepared_from(series)
    assert prepared.windows == windows_per_split(needed, lookback, horizon, validation_ratio, test_ratio)
    assert min(prepared.windows.train, prepared.windows.validation, prepared.windows.test) >= 1
    with pytest.raises(InsufficientSeries, match=f"at least {needed} points"):
        prepared_from(series[:-1])


def test_splits_are_chronological_and_windows_stay_inside_them() -> None:
    values = np.arange(100.0)
    prepared = prepare(
        regular_of(values), lookback=4, horizon=2, validation_ratio=0.2, test_ratio=0.2, delta=False
    )
    assert (prepared.split.train, prepared.split.validation, prepared.split.test) == (60, 20, 20)
    assert (prepared.train.origins, prepared.validation.origins, prepared.test.origins) == (55, 15, 15)
    scaler = prepared.scaler
    # Level windows: unscaling recovers the original points, so the window positions can be read off.
    first_test = scaler.inverse(prepared.test.x[0, :, 0])
    last_train = scaler.inverse(prepared.train.y[-1])
    np.testing.assert_allclose(first_test, [80, 81, 82, 83], atol=1e-4)
    np.testing.assert_allclose(last_train, [58, 59], atol=1e-4)
    np.testing.assert_allclose(scaler.inverse(prepared.validation.y[-1]), [78, 79], atol=1e-4)


def test_the_scaler_is_fitted_on_the_train_split_only() -> None:
    train_part = np.sin(np.arange(140) / 3.0)
    calm = np.concatenate([train_part, np.zeros(60)])
    wild = np.concatenate([train_part, np.full(60, 1e6)])
    calm_scaler, wild_scaler = (
        prepare(
            regular_of(values), lookback=5, horizon=2, validation_ratio=0.15, test_ratio=0.15, delta=True
        ).scaler
        for values in (calm, wild)
    )
    assert wild_scaler == calm_scaler == Scaler.fit(train_part)
    assert abs(calm_scaler.mean - float(np.mean(train_part))) < 1e-12


def test_delta_windows_are_the_level_windows_minus_the_last_input() -> None:
    values = 10.0 + np.cumsum(np.cos(np.arange(200) / 7.0))
    delta, level = (
        prepare(
            regular_of(values), lookback=8, horizon=3, validation_ratio=0.15, test_ratio=0.15, delta=is_delta
        )
        for is_delta in (True, False)
    )
    assert delta.scaler == level.scaler
    for d, lv in ((delta.train, level.train), (delta.test, level.test)):
        np.testing.assert_array_equal(d.last, lv.last)
        np.testing.assert_array_equal(d.last, lv.x[:, -1, 0])
        np.testing.assert_allclose(d.y + d.last[:, None], lv.y, atol=1e-5)
        np.testing.assert_allclose(d.x[:, :, 0] + d.last[:, None], lv.x[:, :, 0], atol=1e-5)
        assert np.all(d.x[:, -1, 0] == 0)


def test_windows_match_make_windows_on_the_scaled_split() -> None:
    values = np.sin(np.arange(120) / 4.0) * 3 + 20
    prepared = prepare(
        regular_of(values), lookback=6, horizon=2, validation_ratio=0.2, test_ratio=0.2, delta=True
    )
    z = prepared.scaler.transform(values)
    x, y, last = make_windows(z[96:], 6, 2, delta=True)
    np.testing.assert_array_equal(prepared.test.x, x)
    np.testing.assert_array_equal(prepared.test.y, y)
    np.testing.assert_array_equal(prepared.test.last, last)


def test_a_long_gap_breaks_windows_and_the_error_says_so() -> None:
    ts = T0 + 60.0 * np.arange(200)
    values = np.sin(np.arange(200) / 5.0)
    # Drop most of the validation split: a gap far longer than the fill limit.
    keep = (np.arange(200) < 142) | (np.arange(200) > 168)
    regular = regularize(ts[keep], values[keep])
    assert regular.gaps == 1
    with pytest.raises(InsufficientSeries) as caught:
        prepare(regular, lookback=12, horizon=3, validation_ratio=0.15, test_ratio=0.15, delta=True)
    message = str(caught.value)
    assert "140 / 30 / 30" in message and "/ 0 /" in message and "1 such gaps" in message
    assert f"at least {minimum_points(12, 3, 0.15, 0.15)} points" in message


def test_a_train_split_without_finite_values_is_insufficient_not_a_crash() -> None:
    # regularize always starts on a value, so only a hand-built series has an all-NaN train split.
    values = np.sin(np.arange(100) / 5.0)
    values[:70] = np.nan
    regular = Regular(
        start=T0,
        interval=60.0,
        values=values,
        raw_points=30,
        dropped_non_finite=0,
        merged_duplicates=0,
        filled=0,
        gaps=1,
    )
    with pytest.raises(InsufficientSeries, match="yield 0 / 12 / 12 windows"):
        prepare(regular, lookback=3, horizon=1, validation_ratio=0.15, test_ratio=0.15, delta=True)


def test_zero_ratios_are_refused() -> None:
    with pytest.raises(ValueError, match="> 0"):
        prepare(
            regular_of(np.arange(100.0)),
            lookback=3,
            horizon=1,
            validation_ratio=0.0,
            test_ratio=0.2,
            delta=True,
        )


@pytest.mark.parametrize("level", [0.0, 0.1, 21.3, -1e6 + 0.7])
def test_a_constant_series_scales_to_exactly_zero(level: float) -> None:
    prepared = prepare(
        regular_of(np.full(100, level)),
        lookback=4,
        horizon=2,
        validation_ratio=0.15,
        test_ratio=0.15,
        delta=True,
    )
    assert prepared.scaler == Scaler(mean=level, scale=1.0)
    for windows in (prepared.train, prepared.validation, prepared.test):
        assert not windows.x.any() and not windows.y.any() and not windows.last.any()


def test_scaler_transform_and_inverse_round_trip() -> None:
    scaler = Scaler.fit([1.0, 2.0, 3.0, np.nan, 4.0, np.inf])
    assert scaler.mean == 2.5 and scaler.scale == pytest.approx(np.std([1.0, 2.0, 3.0, 4.0]))
    values = np.array([-3.0, 0.0, 2.5, 1e3])
    np.testing.assert_allclose(scaler.inverse(scaler.transform(values)), values, atol=1e-12)
    np.testing.assert_allclose(scaler.transform([2.5]), [0.0])


def test_scaler_json_round_trip() -> None:
    scaler = Scaler.fit(np.linspace(-4.0, 17.0, 33))
    stored = json.loads(json.dumps(scaler.to_json()))
    assert stored["kind"] == "standard"
    assert Scaler.from_json(stored) == scaler


@pytest.mark.parametrize(
    "stored",
    [
        {"kind": "minmax", "mean": 0.0, "scale": 1.0},
        {"mean": 0.0, "scale": 1.0},
        {"kind": "standard", "mean": "0", "scale": 1.0},
        {"kind": "standard", "mean": True, "scale": 1.0},
        {"kind": "standard", "mean": 0.0},
        {"kind": "standard", "mean": 0.0, "scale": 0.0},
        {"kind": "standard", "mean": 0.0, "scale": -2.0},
        {"kind": "standard", "mean": float("nan"), "scale": 1.0},
        {"kind": "standard", "mean": 0.0, "scale": float("inf")},
    ],
)
def test_scaler_from_json_refuses_anything_else(stored: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Scaler.from_json(stored)


def test_scaler_fit_without_finite_values_is_insufficient() -> None:
    with pytest.raises(InsufficientSeries):
        Scaler.fit([np.nan, np.inf])


def test_importing_preprocess_and_pipeline_does_not_import_tensorflow() -> None:
    code = "import sys, ml.preprocess, ml.pipeline; assert 'tensorflow' not in sys.modules, 'loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
