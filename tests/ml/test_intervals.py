from __future__ import annotations

import math

import numpy as np
import pytest

from ml.intervals import GAMMA, WINDOW, Interval, calibrate, calibrate_online, coverage, half_widths


def test_the_half_width_is_the_finite_sample_corrected_quantile_of_each_steps_errors() -> None:
    # Step 1 errs by 1..9, step 2 by twice that: at 80 %, rank ceil(10 * 0.8) = 8 of 9.
    errors = np.column_stack([np.arange(1.0, 10.0), -2 * np.arange(1.0, 10.0)])
    assert half_widths(errors, 0.8) == (8.0, 16.0)
    # 95 % needs at least 19 errors: 9 cannot calibrate it.
    assert half_widths(errors, 0.95) is None
    with pytest.raises(ValueError, match="above 0 and below 1"):
        half_widths(errors, 1.0)


def test_coverage_counts_the_pairs_inside_their_steps_interval() -> None:
    truth = np.array([[1.0, 1.0], [2.0, 5.0]])
    forecast = np.array([[1.5, 0.0], [2.0, 2.0]])
    assert coverage(truth, forecast, [0.5, 2.0]) == pytest.approx(0.75)
    assert coverage(np.full((1, 2), np.nan), forecast[:1], [1.0, 1.0]) is None


def test_calibrated_intervals_reach_their_level_on_fresh_errors_and_widen_with_the_step() -> None:
    rng = np.random.default_rng(11)
    scale = np.array([1.0, 2.0, 3.0])  # errors grow with the horizon step

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        forecast = rng.normal(size=(n, 3))
        return forecast + rng.normal(size=(n, 3)) * scale, forecast

    intervals = calibrate(split(2000), split(4000), levels=[0.95, 0.8, 0.8])
    assert [i.level for i in intervals] == [0.8, 0.95]
    for interval in intervals:
        widths = interval.half_widths
        assert widths[0] < widths[1] < widths[2]
        assert interval.coverage is not None and abs(interval.coverage - interval.level) < 0.02
    # A calibration split too small for a level leaves that level out.
    assert [i.level for i in calibrate(split(10), split(100), levels=[0.8, 0.95])] == [0.8]


# --- online conformal -------------------------------------------------------------------------


def _noisy(scale: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecasts, truths erring by ``scale`` ``(rows, steps)`` standard normals, contiguous origins."""
    rng = np.random.default_rng(seed)
    forecast = rng.normal(size=scale.shape)
    return forecast + rng.normal(size=scale.shape) * scale, forecast, np.arange(scale.shape[0])


def _split(truth: np.ndarray, forecast: np.ndarray, n_validation: int) -> list[Interval]:
    return calibrate(
        (truth[:n_validation], forecast[:n_validation]), (truth[n_validation:], forecast[n_validation:])
    )


def test_online_intervals_follow_a_volatility_change_that_split_conformal_misses() -> None:
    # Validation rows 0-1499 err with sd 1 (2 at step 2); from row 1800, in the test split, three
    # times as much: split conformal keeps its calm widths, the online ones widen within the window.
    rows, n_validation = 3000, 1500
    calm = np.where(np.arange(rows) < 1800, 1.0, 3.0)[:, None] * np.array([1.0, 2.0])
    truth, forecast, origins = _noisy(calm, seed=3)
    split = _split(truth, forecast, n_validation)
    online = calibrate_online(truth, forecast, origins, n_validation)
    assert [i.level for i in online] == [0.8, 0.95]
    for old, new in zip(split, online, strict=True):
        assert old.coverage is not None and old.coverage < new.level - 0.2
        assert new.coverage is not None and abs(new.coverage - new.level) < 0.03
        # Served widths are the final state: the sd-3 regime's, about three times the calm ones.
        assert all(w > 2.2 * o for w, o in zip(new.half_widths, old.half_widths, strict=True))
        assert new.half_widths[0] < new.half_widths[1]


def test_online_and_split_intervals_agree_on_stationary_errors() -> None:
    truth, forecast, origins = _noisy(np.tile([1.0, 2.0, 3.0], (3000, 1)), seed=5)
    split = _split(truth, forecast, 1500)
    online = calibrate_online(truth, forecast, origins, 1500, levels=[0.95, 0.8, 0.8])
    assert [i.level for i in online] == [0.8, 0.95]
    for old, new in zip(split, online, strict=True):
        assert old.coverage is not None and abs(old.coverage - old.level) < 0.03
        assert new.coverage is not None and abs(new.coverage - new.level) < 0.03
        widths = new.half_widths
        assert widths[0] < widths[1] < widths[2]
        assert all(abs(w / o - 1) < 0.3 for w, o in zip(widths, old.half_widths, strict=True))


@pytest.mark.parametrize(("test_origin", "expected"), [(10, 2 / 3), (12, 1.0)])
def test_an_error_calibrates_only_once_its_target_has_been_observed(
    test_origin: int, expected: float
) -> None:
    # Ten validation rows at origins 0-9 err by 1, except step 3 of the last two (targets 11 and
    # 12), which errs by 100. The one test row errs by 0.5, 0.5 and 50. At origin 10 neither 100 is
    # known: the step-3 width is 1 and 50 misses (were they used early, the 80 % rank 9 of 10 would
    # be 100). At origin 12 both are known and the width is 100.
    truth = np.ones((11, 3))
    truth[8:10, 2] = 100.0
    truth[10] = [0.5, 0.5, 50.0]
    origins = np.append(np.arange(10), test_origin)
    (interval,) = calibrate_online(truth, np.zeros((11, 3)), origins, 10, levels=[0.8])
    assert interval.coverage == pytest.approx(expected)
    # Once every error is known, serving's step-3 width has taken them in.
    assert interval.half_widths[2] == 100.0


def _reference(
    errors: np.ndarray, origins: np.ndarray, n_validation: int, level: float
) -> tuple[float, list[float]]:
    """calibrate_online spelled out pair by pair: at each origin, the step's newest WINDOW known
    errors (o + h <= origin) at the level nominal alpha + GAMMA alpha * sum(alpha - known misses)."""
    alpha, rate = 1 - level, GAMMA * (1 - level)
    inside: list[bool] = []
    widths = []
    for step in range(errors.shape[1]):
        missed: dict[int, bool] = {}

        def width(newest: list[float], known: list[int]) -> float:
            adapted = alpha + rate * sum(alpha - missed[i] for i in known if i in missed)  # noqa: B023
            rank = min(max(math.ceil((len(newest) + 1) * (1 - adapted)), 1), len(newest))
            return sorted(newest)[rank - 1]

        for row, origin in enumerate(origins):
            known = [i for i in range(row) if origins[i] + step + 1 <= origin]
            newest = [e for e in errors[known, step] if np.isfinite(e)][-WINDOW:]
            if math.ceil((len(newest) + 1) * level) > len(newest) or not np.isfinite(errors[row, step]):
                continue
            missed[row] = bool(errors[row, step] > width(newest, known))
            if row >= n_validation:
                inside.append(not missed[row])
        finite = [e for e in errors[:, step] if np.isfinite(e)][-WINDOW:]
        widths.append(width(finite, list(range(len(origins)))))
    return float(np.mean(inside)), widths


def test_online_intervals_match_the_pair_by_pair_definition() -> None:
    # Heavy tails, a volatility change, ties (rounded), gaps in the truths and jumps in the origins.
    rng = np.random.default_rng(8)
    rows = 500
    forecast = rng.normal(size=(rows, 3))
    scale = np.where(np.arange(rows) < 320, 1.0, 2.5)[:, None] * np.array([1.0, 1.5, 2.0])
    truth = np.round(forecast + rng.standard_t(4, size=(rows, 3)) * scale, 1)
    truth[rng.random((rows, 3)) < 0.05] = np.nan
    origins = np.cumsum(rng.integers(1, 4, size=rows))
    intervals = calibrate_online(truth, forecast, origins, 250)
    assert [i.level for i in intervals] == [0.8, 0.95]
    for interval in intervals:
        share, widths = _reference(np.abs(truth - forecast), origins, 250, interval.level)
        assert interval.coverage == pytest.approx(share, abs=1e-12)
        assert interval.half_widths == pytest.approx(widths)


def test_gaps_are_neither_calibration_errors_nor_scored_pairs() -> None:
    truth, forecast, _ = _noisy(np.tile([1.0, 2.0], (600, 1)), seed=9)
    observed = calibrate_online(truth, forecast, np.arange(0, 1200, 2), 300)
    # The same rows with a row at every odd origin in between whose errors are all gaps: a NaN
    # truth, or (every other one, at step 1) a truth with a NaN forecast.
    gappy_truth = np.full((1200, 2), np.nan)
    gappy_truth[::2] = truth
    gappy_truth[1::4, 0] = 5.0
    gappy_forecast = np.zeros((1200, 2))
    gappy_forecast[::2] = forecast
    gappy_forecast[1::4, 0] = np.nan
    gappy = calibrate_online(gappy_truth, gappy_forecast, np.arange(1200), 600)
    assert gappy == observed
    # A test split of gaps only scores nothing.
    blind = calibrate_online(
        np.vstack([truth[:300], np.full((300, 2), np.nan)]), forecast, np.arange(600), 300
    )
    assert [i.coverage for i in blind] == [None, None]


def test_a_level_too_few_known_errors_calibrate_is_left_out() -> None:
    truth, forecast, origins = _noisy(np.ones((200, 2)), seed=1)
    # At the first test origin step 2 knows 9 errors: enough for 80 % (4), not for 95 % (19).
    assert [i.level for i in calibrate_online(truth, forecast, origins, 10)] == [0.8]
    assert calibrate_online(truth, forecast, origins, 0) == []
    assert calibrate_online(truth, forecast, origins, 200, levels=[]) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"levels": [0.8, 1.0]}, "above 0 and below 1"),
        ({"levels": [0.0]}, "above 0 and below 1"),
        ({"forecasts": np.zeros((20, 3))}, "one shape"),
        ({"origins": np.arange(20)[::-1]}, "strictly increasing"),
        ({"origins": np.arange(20) + 0.5}, "integer index"),
        ({"n_validation": 21}, "between 0 and"),
    ],
)
def test_online_calibration_refuses_invalid_arguments(arguments: dict[str, object], message: str) -> None:
    call: dict[str, object] = {
        "truth": np.ones((20, 2)),
        "forecasts": np.zeros((20, 2)),
        "origins": np.arange(20),
        "n_validation": 10,
        **arguments,
    }
    with pytest.raises(ValueError, match=message):
        calibrate_online(**call)  # type: ignore[arg-type]
