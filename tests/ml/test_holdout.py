"""ml.holdout: two forecasters scored on exactly the same origins and pairs after a start time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.holdout import holdout_origins, score_holdout


def series(n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    times = 1_000.0 + 60.0 * np.arange(n, dtype=np.float64)
    return times, np.sin(np.arange(n) / 5.0)


def test_origins_start_one_slot_before_the_holdout_and_need_a_whole_context() -> None:
    times, values = series()
    start = times[79]  # targets from slot 80 on
    origins = holdout_origins(times, values, start=start, context=10, max_origins=1000)
    assert origins[0] == 79 and origins[-1] == 98
    values[85] = np.nan  # a gap in the context of origins 85-94
    kept = holdout_origins(times, values, start=start, context=10, max_origins=1000)
    assert not set(range(85, 95)) & set(kept.tolist()) and 95 in kept


def test_origins_are_thinned_evenly_keeping_the_newest() -> None:
    times, values = series(1000)
    origins = holdout_origins(times, values, start=times[0], context=5, max_origins=10)
    assert origins.size == 10 and origins[-1] == 998 and np.all(np.diff(origins) > 0)


def test_a_perfect_forecaster_scores_zero_and_persistence_its_own_rmse() -> None:
    times, values = series()
    horizon = 3

    def oracle(context: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        index = round(float(stamps[-1] - times[0]) / 60.0)
        return values[index + 1 : index + 1 + horizon]

    def persistence(context: np.ndarray, _stamps: np.ndarray) -> np.ndarray:
        assert context.size == 1
        return np.repeat(context[-1], horizon)

    start = times[69]
    score = score_holdout([oracle, persistence], times, values, start=start, horizon=horizon, contexts=[4, 1])
    errors = [values[o + k] - values[o] for o in range(69, 99) for k in range(1, 4) if o + k < 100]
    assert score.origins == 30 and score.pairs == len(errors)
    assert score.rmse[0] == pytest.approx(0.0, abs=1e-12)
    assert score.rmse[1] == pytest.approx(math.sqrt(np.mean(np.square(errors))))


def test_a_forecaster_answering_nan_has_no_score_and_no_holdout_no_pairs() -> None:
    times, values = series()

    def broken(_c: np.ndarray, _t: np.ndarray) -> np.ndarray:
        return np.array([np.nan, 1.0])

    score = score_holdout([broken], times, values, start=times[90], horizon=2, contexts=[3])
    assert score.rmse == (None,) and score.pairs > 0
    empty = score_holdout([broken], times, values, start=times[-1], horizon=2, contexts=[3])
    assert empty.pairs == 0 and empty.rmse == (None,)
