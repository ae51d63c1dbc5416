"""Chronological splits, supervised windows and the admission minimum that both imply."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest

from ml.windows import SplitSizes, make_windows, minimum_points, split_sizes, windows_per_split

Z = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])


def test_level_windows_of_a_hand_made_series() -> None:
    x, y, last = make_windows(Z, lookback=2, horizon=2, delta=False)
    np.testing.assert_array_equal(x[:, :, 0], [[0, 1], [1, 3], [3, 6]])
    np.testing.assert_array_equal(y, [[3, 6], [6, 10], [10, 15]])
    np.testing.assert_array_equal(last, [1, 3, 6])


def test_delta_windows_are_relative_to_the_last_input() -> None:
    x, y, last = make_windows(Z, lookback=2, horizon=2, delta=True)
    np.testing.assert_array_equal(x[:, :, 0], [[-1, 0], [-2, 0], [-3, 0]])
    np.testing.assert_array_equal(y, [[2, 5], [3, 7], [4, 9]])
    np.testing.assert_array_equal(last, [1, 3, 6])
    # The forecast adds ``last`` back: the level targets are recovered.
    level_x, level_y, _ = make_windows(Z, lookback=2, horizon=2, delta=False)
    np.testing.assert_array_equal(y + last[:, None], level_y)
    np.testing.assert_array_equal(x[:, :, 0] + last[:, None], level_x[:, :, 0])


@pytest.mark.parametrize("delta", [pytest.param(False, id="level"), pytest.param(True, id="delta")])
def test_shapes_and_dtypes(delta: bool) -> None:
    x, y, last = make_windows(np.linspace(0.0, 1.0, 100), lookback=48, horizon=12, delta=delta)
    assert x.shape == (41, 48, 1) and y.shape == (41, 12) and last.shape == (41,)
    assert x.dtype == y.dtype == last.dtype == np.float32
    assert x.flags.writeable and y.flags.writeable


@pytest.mark.parametrize(
    "length", [pytest.param(0, id="empty"), pytest.param(4, id="one-short"), pytest.param(5, id="exact")]
)
def test_a_split_shorter_than_a_window_yields_empty_arrays_of_the_right_shape(length: int) -> None:
    x, y, last = make_windows(np.arange(float(length)), lookback=3, horizon=2, delta=True)
    expected = max(0, length - 4)
    assert x.shape == (expected, 3, 1) and y.shape == (expected, 2) and last.shape == (expected,)


@pytest.mark.parametrize("bad", [pytest.param(np.nan, id="nan"), pytest.param(np.inf, id="inf")])
def test_no_window_spans_a_gap(bad: float) -> None:
    z = np.arange(10.0)
    z[4] = bad
    x, y, last = make_windows(z, lookback=2, horizon=1, delta=False)
    # Windows of 3 starting at 2, 3 and 4 hold index 4; those starting at 0, 1, 5, 6 and 7 do not.
    np.testing.assert_array_equal(last, [1, 2, 6, 7, 8])
    np.testing.assert_array_equal(y[:, 0], [2, 3, 7, 8, 9])
    assert np.isfinite(x).all() and np.isfinite(y).all()


def reference_windows(
    z: npt.NDArray[np.float64], lookback: int, horizon: int, delta: bool
) -> tuple[list[list[float]], list[list[float]], list[float]]:
    xs, ys, lasts = [], [], []
    for t in range(lookback - 1, len(z) - horizon):
        span = z[t - lookback + 1 : t + horizon + 1]
        if np.isnan(span).any():
            continue
        base = z[t] if delta else 0.0
        xs.append([float(v - base) for v in z[t - lookback + 1 : t + 1]])
        ys.append([float(v - base) for v in z[t + 1 : t + 1 + horizon]])
        lasts.append(float(z[t]))
    return xs, ys, lasts


@pytest.mark.parametrize(("lookback", "horizon"), [(1, 1), (3, 2), (7, 5), (12, 1)])
@pytest.mark.parametrize("delta", [pytest.param(False, id="level"), pytest.param(True, id="delta")])
def test_matches_a_loop_over_a_gapped_random_series(lookback: int, horizon: int, delta: bool) -> None:
    rng = np.random.default_rng(lookback * 100 + horizon)
    z = rng.normal(size=300)
    z[rng.choice(300, size=12, replace=False)] = np.nan
    x, y, last = make_windows(z, lookback, horizon, delta=delta)
    xs, ys, lasts = reference_windows(z, lookback, horizon, delta)
    assert len(last) == len(lasts) > 0
    np.testing.assert_array_equal(x[:, :, 0], np.array(xs, dtype=np.float32))
    np.testing.assert_array_equal(y, np.array(ys, dtype=np.float32))
    np.testing.assert_array_equal(last, np.array(lasts, dtype=np.float32))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="1-D"):
        make_windows(np.zeros((10, 1)), 2, 1, delta=True)
    with pytest.raises(ValueError, match=">= 1"):
        make_windows(np.zeros(10), 0, 1, delta=True)
    with pytest.raises(ValueError, match="sum < 1"):
        split_sizes(100, 0.5, 0.5)
    with pytest.raises(ValueError, match="> 0"):
        minimum_points(24, 1, 0.0, 0.15)


@pytest.mark.parametrize(
    ("n", "validation", "test", "expected"),
    [
        pytest.param(1000, 0.15, 0.15, SplitSizes(700, 150, 150), id="1000-defaults"),
        pytest.param(167, 0.15, 0.15, SplitSizes(117, 25, 25), id="167-defaults"),
        pytest.param(166, 0.15, 0.15, SplitSizes(118, 24, 24), id="166-defaults"),
        # 0.29 * 100 is 28.999999999999996 in binary floating point: still 29 points.
        pytest.param(100, 0.29, 0.1, SplitSizes(61, 29, 10), id="float-product-below-integer"),
        pytest.param(0, 0.15, 0.15, SplitSizes(0, 0, 0), id="empty"),
        pytest.param(10, 0.0, 0.2, SplitSizes(8, 0, 2), id="no-validation"),
    ],
)
def test_split_sizes(n: int, validation: float, test: float, expected: SplitSizes) -> None:
    assert split_sizes(n, validation, test) == expected


def test_windows_per_split_of_fiware_chronos_example() -> None:
    # fiware-chronos (github.com/tcc-chronos/fiware-chronos, data_preprocessing_use_case.py) reports
    # 676/126/126 sequences for its single-step model on 1000 points (L=24, 0.15/0.15): a window of
    # 24 + 1 points, built within each split, yields the same counts.
    assert windows_per_split(1000, 24, 1, 0.15, 0.15) == SplitSizes(676, 126, 126)
    assert windows_per_split(1000, 48, 12, 0.15, 0.15) == SplitSizes(641, 91, 91)


def test_minimum_for_fiware_chronos_defaults_is_167_not_39() -> None:
    # A window is 24 + 1 = 25 points and validation and test hold floor(0.15 n) each, so they need
    # 0.15 n >= 25, i.e. n >= 166.7: 167 (split 117/25/25). fiware-chronos admits
    # ceil((24 + 1 + 2) / 0.7) = 39 (training_management_use_case.py).
    assert minimum_points(24, 1, 0.15, 0.15) == 167
    assert windows_per_split(167, 24, 1, 0.15, 0.15) == SplitSizes(93, 1, 1)
    assert windows_per_split(166, 24, 1, 0.15, 0.15) == SplitSizes(94, 0, 0)
    assert windows_per_split(39, 24, 1, 0.15, 0.15) == SplitSizes(5, 0, 0)


def test_minimum_for_our_defaults_is_400() -> None:
    # L=48, H=12: windows of 60 points, so floor(0.15 n) >= 60 needs n >= 400 (split 280/60/60).
    assert minimum_points(48, 12, 0.15, 0.15) == 400
    assert windows_per_split(400, 48, 12, 0.15, 0.15) == SplitSizes(221, 1, 1)
    assert windows_per_split(399, 48, 12, 0.15, 0.15) == SplitSizes(222, 0, 0)


def test_minimum_holds_for_every_larger_n_when_the_train_split_shrinks() -> None:
    # Ratios 0.34/0.56 leave train 2, 2, then 1 point at n = 7, 8, 9 (both floors step up at 9):
    # 7 is the first n that works, but admitting it would let a job of 9 points fail later.
    assert [split_sizes(n, 0.34, 0.56).train for n in (7, 8, 9, 10)] == [2, 2, 1, 2]
    assert minimum_points(1, 1, 0.34, 0.56) == 10


def exact_splits(
    n: npt.NDArray[np.int64], validation: float, test: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Split sizes in exact decimal arithmetic, independent of the module's float nudge."""
    v, t = Fraction(str(validation)), Fraction(str(test))
    val = n * v.numerator // v.denominator
    tst = n * t.numerator // t.denominator
    return n - val - tst, val, tst


RATIOS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.34, 0.4, 0.45, 0.56)
GRID = [
    (lookback, horizon, validation, test)
    for lookback, horizon in itertools.product((1, 2, 5, 24, 48, 168), (1, 2, 12, 24))
    for validation, test in itertools.product(RATIOS, RATIOS)
    if validation + test < 0.95
]


def test_minimum_points_is_exactly_the_admission_boundary_over_a_grid() -> None:
    # hypothesis is not installed: a deterministic grid of 2,000+ combinations stands in for it.
    assert len(GRID) > 2000
    for lookback, horizon, validation, test in GRID:
        span = lookback + horizon
        # Beyond this bound every split exceeds its share of span: only smaller n can fail.
        bound = math.ceil(span / min(validation, test, 1 - validation - test)) + 3
        n = np.arange(bound, dtype=np.int64)
        train, val, tst = exact_splits(n, validation, test)
        works = np.minimum(np.minimum(train, val), tst) >= span
        expected = int(np.flatnonzero(~works)[-1]) + 1
        case = (lookback, horizon, validation, test)
        assert minimum_points(lookback, horizon, validation, test) == expected, case
        at, below = (windows_per_split(m, *case) for m in (expected, expected - 1))
        assert min(at.train, at.validation, at.test) >= 1, case
        assert min(below.train, below.validation, below.test) == 0, case


@pytest.mark.parametrize(("validation", "test"), [(0.15, 0.15), (0.29, 0.1), (0.1, 0.2), (0.33, 0.33)])
def test_split_sizes_match_exact_decimal_arithmetic(validation: float, test: float) -> None:
    n = np.arange(5000, dtype=np.int64)
    train, val, tst = exact_splits(n, validation, test)
    got = np.array([tuple(vars(split_sizes(int(k), validation, test)).values()) for k in n])
    np.testing.assert_array_equal(got, np.stack([train, val, tst], axis=1))
