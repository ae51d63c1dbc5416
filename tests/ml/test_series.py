"""Regularising raw sensor histories: ordering, cleaning, interval detection and gap handling."""

from __future__ import annotations

import numpy as np
import pytest

from ml.series import (
    InsufficientSeries,
    Regular,
    _fill_short_gaps,
    _grid_slots,
    _merge_duplicates,
    _merge_slots,
    _paired_arrays,
    _require_two_points,
    detect_interval,
    regularize,
)

T0 = 1_700_000_000.0


def account_balances(r: Regular) -> bool:
    return r.observed + r.filled + r.missing == len(r.values) and r.missing == int(np.isnan(r.values).sum())


def test_points_in_any_order_come_out_in_time_order() -> None:
    order = np.array([3, 0, 4, 1, 2])
    r = regularize(T0 + 10.0 * order, 100.0 + order)
    assert r.start == T0 and r.interval == 10.0
    np.testing.assert_array_equal(r.values, [100.0, 101.0, 102.0, 103.0, 104.0])
    assert (r.raw_points, r.dropped_non_finite, r.merged_duplicates, r.filled, r.gaps) == (5, 0, 0, 0, 0)
    np.testing.assert_array_equal(r.timestamps(), T0 + 10.0 * np.arange(5))


def test_non_finite_values_and_timestamps_are_dropped_and_counted() -> None:
    ts = T0 + np.arange(20.0)
    vs = np.arange(20.0)
    vs[[3, 8, 13]] = [np.nan, np.inf, -np.inf]
    ts[19] = np.nan
    r = regularize(ts, vs)
    assert r.dropped_non_finite == 4 and r.interval == 1.0
    # Slots 3, 8 and 13 lost their values: single-slot gaps, filled back by interpolation.
    np.testing.assert_array_equal(r.values, np.arange(19.0))
    assert r.filled == 3 and r.observed == 16 and account_balances(r)


def test_duplicate_timestamps_are_averaged_and_counted() -> None:
    ts = T0 + np.array([0.0, 5.0, 5.0, 5.0, 10.0, 15.0, 15.0])
    vs = np.array([1.0, 2.0, 4.0, 9.0, 7.0, 8.0, 10.0])
    r = regularize(ts, vs)
    np.testing.assert_array_equal(r.values, [1.0, 5.0, 7.0, 9.0])
    assert r.merged_duplicates == 3 and r.observed == 4 and r.interval == 5.0


def test_off_grid_points_go_to_the_nearest_slot_and_share_it_by_averaging() -> None:
    ts = T0 + np.array([0.0, 60.0, 120.0, 170.0, 190.0, 240.0, 300.0, 360.0])
    vs = np.array([0.0, 1.0, 2.0, 2.0, 4.0, 4.0, 5.0, 6.0])
    r = regularize(ts, vs)
    assert r.interval == 60.0
    # 170 s and 190 s both round to slot 3 (180 s): one point is merged into the other.
    np.testing.assert_array_equal(r.values, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert r.merged_duplicates == 1 and r.filled == 0


@pytest.mark.parametrize(
    ("timestamps", "expected"),
    [
        pytest.param(T0 + 60.0 * np.arange(100), 60.0, id="minute"),
        pytest.param(T0 + 0.25 * np.arange(1000), 0.25, id="sub-second"),
        pytest.param(T0 + 0.001 * np.arange(500), 0.001, id="millisecond"),
        pytest.param((T0 + 1800.0 * np.arange(50))[::-1], 1800.0, id="reversed"),
        pytest.param(
            T0 + 30.0 * np.concatenate([np.arange(40), np.arange(40), np.arange(60, 100)]),
            30.0,
            id="duplicates-and-an-outage",
        ),
        pytest.param(
            np.sort(np.concatenate([T0 + 60.0 * np.arange(200), T0 + 60.0 * np.arange(0, 200, 20) + 17.0])),
            60.0,
            id="stray-off-grid-points",
        ),
        pytest.param(
            T0 + np.concatenate([60.0 * np.arange(100), 5940.0 + 30.0 * np.arange(1, 31)]),
            60.0,
            id="a-faster-tail-does-not-vote",
        ),
    ],
)
def test_interval_is_detected_exactly(timestamps: np.ndarray, expected: float) -> None:
    assert detect_interval(timestamps) == expected


def test_jittered_clock_keeps_every_point_in_its_own_slot() -> None:
    n = 5000
    jitter = np.random.default_rng(7).uniform(-5.0, 5.0, n)
    ts = T0 + 60.0 * np.arange(n) + jitter
    # The plain median of jittered steps is off by a fraction of the jitter: enough to drift the
    # grid by several slots over 5,000 points, which the refinement must not.
    assert abs(float(np.median(np.diff(ts))) - 60.0) > 0.02
    interval = detect_interval(ts)
    assert interval == pytest.approx(60.0, abs=2e-3)
    r = regularize(ts, np.arange(n, dtype=np.float64))
    assert len(r.values) == n and r.merged_duplicates == 0 and r.filled == 0
    np.testing.assert_array_equal(r.values, np.arange(n))


def test_a_round_cadence_read_through_clock_jitter_is_the_round_value() -> None:
    # A 5-minute sensor whose steps average 299.997173 s: the grid and forecast times say 300 s.
    n = 4000
    ts = T0 + 299.997173 * np.arange(n) + np.random.default_rng(3).uniform(-0.5, 0.5, n)
    assert detect_interval(ts) == 300.0
    r = regularize(ts, np.arange(n, dtype=np.float64))
    assert r.interval == 300.0 and len(r.values) == n and r.merged_duplicates == 0
    # Sub-second cadences snap to the millisecond.
    assert detect_interval(T0 + 0.2500004 * np.arange(1000)) == 0.25


def test_a_cadence_that_is_not_round_is_kept_when_the_round_grid_would_drift() -> None:
    # 299.7 s over 4,000 steps: a 300 s grid would drift by 1,200 s, four slots; the data's own stays.
    ts = T0 + 299.7 * np.arange(4000)
    assert detect_interval(ts) == pytest.approx(299.7, abs=1e-6)
    # Few points tolerate more: 299.97 s over 100 steps drifts 3 s, a hundredth of a step.
    assert detect_interval(T0 + 299.97 * np.arange(101)) == 300.0


def test_short_gaps_are_interpolated_linearly() -> None:
    # Slots 0..10 observed except 2 (a 1-slot gap) and 5, 6, 7 (a 3-slot gap, the default limit).
    slots = np.array([0, 1, 3, 4, 8, 9, 10])
    vs = np.array([0.0, 10.0, 30.0, 40.0, 0.0, 1.0, 2.0])
    r = regularize(T0 + 0.5 * slots, vs)
    np.testing.assert_array_equal(r.values, [0.0, 10.0, 20.0, 30.0, 40.0, 30.0, 20.0, 10.0, 0.0, 1.0, 2.0])
    assert (r.filled, r.gaps, r.missing) == (4, 0, 0)


def test_long_gaps_stay_nan_and_are_counted() -> None:
    # A 4-slot gap (over the limit of 3), a 2-slot gap (filled) and a 7-slot gap.
    slots = np.array([0, 1, 6, 7, 10, 18, 19])
    r = regularize(T0 + 10.0 * slots, slots.astype(np.float64), max_gap_steps=3)
    expected = np.arange(20, dtype=np.float64)
    expected[[2, 3, 4, 5, *range(11, 18)]] = np.nan
    np.testing.assert_array_equal(r.values, expected)
    assert (r.filled, r.gaps, r.missing) == (2, 2, 11)
    assert account_balances(r)


def test_max_gap_steps_zero_fills_nothing() -> None:
    r = regularize(T0 + np.array([0.0, 1.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 5.0]), max_gap_steps=0)
    np.testing.assert_array_equal(r.values, [1.0, 2.0, np.nan, 4.0, 5.0])
    assert (r.filled, r.gaps) == (0, 1)


@pytest.mark.parametrize(
    ("timestamps", "values", "usable"),
    [
        pytest.param([], [], 0, id="empty"),
        pytest.param([T0], [1.0], 1, id="one-point"),
        pytest.param([T0, T0 + 1, T0 + 2], [np.nan, np.inf, np.nan], 0, id="all-non-finite"),
        pytest.param([T0, T0, T0], [1.0, 2.0, 3.0], 1, id="one-timestamp"),
    ],
)
def test_fewer_than_two_usable_points_is_refused_clearly(
    timestamps: list[float], values: list[float], usable: int
) -> None:
    with pytest.raises(InsufficientSeries, match=rf"at least 2 points .* got {usable} \("):
        regularize(np.array(timestamps), np.array(values))


def test_insufficient_series_is_a_value_error() -> None:
    assert issubclass(InsufficientSeries, ValueError)
    with pytest.raises(ValueError, match="distinct finite timestamps"):
        detect_interval(np.array([T0, T0]))


def test_malformed_input_is_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        regularize(np.arange(3.0), np.arange(4.0))
    with pytest.raises(ValueError, match="max_gap_steps"):
        regularize(np.arange(3.0), np.arange(3.0), max_gap_steps=-1)


def test_a_corrupt_timestamp_is_refused_before_allocating_a_huge_grid() -> None:
    ts = np.concatenate([[0.0], T0 + np.arange(100.0)])
    with pytest.raises(ValueError, match="probably corrupt"):
        regularize(ts, np.ones(101))


def test_paired_arrays_are_float_vectors_of_one_length() -> None:
    ts, vs = _paired_arrays([1, 2, 3], [4, 5, 6], max_gap_steps=0)
    assert ts.dtype == vs.dtype == np.float64 and ts.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"got shapes \(2, 1\) and \(2,\)"):
        _paired_arrays(np.zeros((2, 1)), np.zeros(2), max_gap_steps=0)
    # The gap limit is checked first: it is wrong whatever the data.
    with pytest.raises(ValueError, match="max_gap_steps must be >= 0, got -2"):
        _paired_arrays(np.zeros(2), np.zeros(3), max_gap_steps=-2)


def test_merge_duplicates_sorts_and_averages_each_timestamp() -> None:
    unique_ts, merged = _merge_duplicates(np.array([5.0, 1.0, 5.0, 3.0]), np.array([2.0, 7.0, 4.0, 1.0]))
    assert unique_ts.tolist() == [1.0, 3.0, 5.0] and merged.tolist() == [7.0, 1.0, 3.0]
    empty_ts, empty_vs = _merge_duplicates(np.array([]), np.array([]))
    assert empty_ts.size == empty_vs.size == 0


def test_require_two_points_accounts_for_every_point() -> None:
    _require_two_points(2, raw_points=2, dropped=0, usable=2)
    expected = r"got 1 \(6 received, 2 non-finite dropped, 3 duplicate timestamps merged\)"
    with pytest.raises(InsufficientSeries, match=expected):
        _require_two_points(1, raw_points=6, dropped=2, usable=4)


def test_grid_slots_round_to_the_nearest_slot_within_the_limit() -> None:
    slots = _grid_slots(T0 + np.array([0.0, 9.0, 26.0, 30.0]), interval=10.0, max_slots=4)
    assert slots.dtype == np.int64 and slots.tolist() == [0, 1, 3, 3]
    with pytest.raises(ValueError, match=r"spans 4 slots of 10.0 s .* more than the 3 allowed"):
        _grid_slots(T0 + np.array([0.0, 30.0]), interval=10.0, max_slots=3)


def test_merge_slots_averages_the_values_sharing_a_slot() -> None:
    slots, values = _merge_slots(np.array([0, 1, 1, 4]), np.array([1.0, 2.0, 6.0, 8.0]))
    assert slots.tolist() == [0, 1, 4] and values.tolist() == [1.0, 4.0, 8.0]


def test_fill_short_gaps_interpolates_only_runs_within_the_limit() -> None:
    # A 2-slot run (filled) and a 3-slot run (over the limit of 2).
    grid, filled, gaps = _fill_short_gaps(
        np.array([0, 3, 7]), np.array([0.0, 3.0, 7.0]), n_slots=8, max_gap_steps=2
    )
    np.testing.assert_array_equal(grid, [0.0, 1.0, 2.0, 3.0, np.nan, np.nan, np.nan, 7.0])
    assert (filled, gaps) == (2, 1)
