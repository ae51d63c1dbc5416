"""Forecast metrics: fiware-chronos's reference vectors, Theil's U2 over matching steps, degenerate series."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import numpy.typing as npt
import pytest

from ml.metrics import (
    ForecastMetrics,
    _checked_inputs,
    _mape,
    _pooled,
    _r2,
    _rmse_per_step,
    _theil_u,
    finite_or_none,
    forecast_metrics,
    seasonal_naive_scale,
)

NAN = math.nan


def all_none(metrics: ForecastMetrics) -> bool:
    values = (metrics.mse, metrics.mae, metrics.rmse, metrics.mape, metrics.r2, metrics.theil_u)
    return all(v is None for v in values) and all(v is None for v in metrics.rmse_per_step)


def test_fiware_chronos_reference_vectors() -> None:
    # github.com/tcc-chronos/fiware-chronos, tests/unit/application/use_cases/
    # test_model_training_use_case.py: y=[10,12,15], ŷ=[11,11,14] → MAE% = MAPE ≈ 8.333.
    m = forecast_metrics([10, 12, 15], [11, 11, 14], last_observed=[9, 10, 12])

    assert m.mape == pytest.approx((1 / 10 + 1 / 12 + 1 / 15) / 3 * 100)
    assert m.mape == pytest.approx(8.333, abs=1e-3)
    assert m.mae == 1.0
    assert m.mse == 1.0
    assert m.rmse == 1.0
    assert m.r2 == pytest.approx(1 - 3 / (38 / 3))
    # Persistence errors are 1, 2, 3.
    assert m.theil_u == pytest.approx(1 / math.sqrt(14 / 3))
    assert m.rmse_per_step == [1.0]
    assert m.points == 3


def test_fiware_chronos_theil_vector_at_horizon_one() -> None:
    # At h = 1 fiware-chronos's formula is right (same test file): y=[1,2,3,4], ŷ=[1,2.2,2.8,4.2]
    # → 0.2, origins at y[:-1].
    m = forecast_metrics([2, 3, 4], [2.2, 2.8, 4.2], last_observed=[1, 2, 3])
    assert m.theil_u == pytest.approx(0.2)


def test_perfect_forecast_scores_zero() -> None:
    truth = [[1.0, 2.0], [4.0, 3.0]]
    m = forecast_metrics(truth, truth, last_observed=[0.0, 5.0])
    assert m.theil_u == 0.0
    assert m.rmse == 0.0
    assert m.mape == 0.0
    assert m.r2 == 1.0


def test_persistence_forecast_scores_exactly_one() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(20.0, 3.0, size=(50, 12))
    last = rng.normal(20.0, 3.0, size=50)
    persistence = np.repeat(last[:, None], 12, axis=1)
    assert forecast_metrics(truth, persistence, last).theil_u == 1.0


def test_theil_baseline_uses_the_same_horizon_steps() -> None:
    truth = [[1, 2, 3], [11, 12, 13]]
    predicted = [[1, 2, 4], [11, 12, 12]]
    m = forecast_metrics(truth, predicted, last_observed=[0, 10])

    # Model errors 0, 0, ±1 → MSE 2/6. Persistence errors 1, 2, 3 per trajectory → MSE 28/6: the
    # baseline gets harder with the step, just like the model. fiware-chronos divides a one-step model's
    # error by h-step persistence; scoring this model against step-1 persistence alone (RMSE 1) would
    # give sqrt(1/3) ≈ 0.577 instead, and neither mismatch says whether it beats "no change".
    assert m.theil_u == pytest.approx(math.sqrt(1 / 14))
    assert m.theil_u != pytest.approx(math.sqrt(1 / 3))
    assert m.rmse == pytest.approx(math.sqrt(1 / 3))
    assert m.rmse_per_step == [0.0, 0.0, 1.0]
    assert m.points == 6


def test_rmse_per_step() -> None:
    m = forecast_metrics([[1, 2], [3, 4]], [[2, 2], [3, 6]], last_observed=[0, 0])
    assert m.rmse_per_step == pytest.approx([math.sqrt(0.5), math.sqrt(2.0)])
    assert m.rmse == pytest.approx(math.sqrt(5 / 4))


def test_one_dimensional_input_is_horizon_one() -> None:
    flat = forecast_metrics([1, 2, 3], [1.5, 2, 2], [0, 1, 2])
    column = forecast_metrics([[1], [2], [3]], [[1.5], [2.0], [2.0]], [0, 1, 2])
    assert flat == column
    assert len(flat.rmse_per_step) == 1


@pytest.mark.parametrize(
    ("truth", "predicted", "last"),
    [
        pytest.param([5.0] * 4, [5.0] * 4, [5.0] * 4, id="constant-exact"),
        pytest.param([5.0] * 4, [6.0] * 4, [5.0] * 4, id="constant-offset"),
        # Mean of repeated 0.1 is not exactly 0.1 in floating point.
        pytest.param([[0.1] * 3] * 7, [[0.2] * 3] * 7, [0.1] * 7, id="constant-inexact-float"),
    ],
)
def test_constant_series(truth: list[float], predicted: list[float], last: list[float]) -> None:
    m = forecast_metrics(truth, predicted, last)
    assert m.r2 is None
    assert m.theil_u is None
    assert m.rmse is not None
    assert m.mape is not None


def test_all_zero_truth_has_no_mape() -> None:
    m = forecast_metrics([[0.0, 0.0], [0.0, 0.0]], [[0.1, 0.0], [0.0, -0.1]], [0.0, 0.0])
    assert m.mape is None
    assert m.r2 is None
    assert m.theil_u is None
    assert m.mae == pytest.approx(0.05)


def test_mape_masks_values_near_zero_relative_to_scale() -> None:
    # 1e-7 is below 1e-8 * mean|y| (≈ 5e-3 here): it would add a 1e8 % term if it were kept.
    m = forecast_metrics([1e6, 1e-7], [1.1e6, 1.0], [1e6, 0.0])
    assert m.mape == pytest.approx(10.0)


def test_non_finite_truth_or_origin_is_not_scored() -> None:
    m = forecast_metrics([[1.0, NAN], [2.0, 3.0], [4.0, 5.0]], [[2, 9], [2, 3], [4, 5]], [0, 1, NAN])
    assert m.points == 3
    assert m.mae == pytest.approx(1 / 3)
    assert m.rmse_per_step == pytest.approx([math.sqrt(1 / 2), 0.0])


@pytest.mark.parametrize(
    "predicted",
    [
        pytest.param([[NAN, 2.0], [3.0, 4.0]], id="nan"),
        pytest.param([[math.inf, 2.0], [3.0, 4.0]], id="inf"),
        pytest.param([[1e200, 2.0], [3.0, 4.0]], id="overflow"),
    ],
)
def test_non_finite_prediction_voids_the_error_metrics(predicted: list[list[float]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = forecast_metrics([[1.0, 2.0], [3.0, 5.0]], predicted, [0.0, 1.0])
    assert (m.mse, m.rmse, m.r2, m.theil_u) == (None, None, None, None)
    assert m.rmse_per_step[0] is None
    assert m.rmse_per_step[1] == pytest.approx(math.sqrt(0.5))
    assert m.points == 4


@pytest.mark.parametrize(
    ("truth", "predicted", "last"),
    [
        pytest.param([], [], [], id="empty-1d"),
        pytest.param(np.empty((0, 3)), np.empty((0, 3)), [], id="empty-2d"),
        pytest.param([[NAN, NAN]], [[1.0, 2.0]], [1.0], id="nan-truth"),
        pytest.param([[1.0, 2.0]], [[1.0, 2.0]], [NAN], id="nan-origin"),
    ],
)
def test_nothing_to_score(truth: npt.ArrayLike, predicted: npt.ArrayLike, last: npt.ArrayLike) -> None:
    m = forecast_metrics(truth, predicted, last)
    assert all_none(m)
    assert m.points == 0


@pytest.mark.parametrize(
    ("truth", "predicted", "last"),
    [
        pytest.param([5.0] * 3, [6.0] * 3, [5.0] * 3, id="constant"),
        pytest.param([0.0] * 3, [1.0] * 3, [0.0] * 3, id="all-zero"),
        pytest.param([1.0, 2.0], [NAN, math.inf], [0.0, 1.0], id="non-finite-prediction"),
        pytest.param([], [], [], id="empty"),
        pytest.param([10, 12, 15], [11, 11, 14], [9, 10, 12], id="ordinary"),
    ],
)
def test_as_dict_is_strict_json(truth: list[float], predicted: list[float], last: list[float]) -> None:
    d = forecast_metrics(truth, predicted, last).as_dict()
    decoded = json.loads(json.dumps(d, allow_nan=False))
    assert set(decoded) == {
        *("mse", "mae", "rmse", "mape", "r2", "theil_u", "smape", "mase", "rmse_per_step", "points")
    }


def test_metrics_are_hashable() -> None:
    m = forecast_metrics([1, 2], [1, 3], [0, 1])
    assert hash(m) == hash(forecast_metrics([1, 2], [1, 3], [0, 1]))


@pytest.mark.parametrize(
    ("truth", "predicted", "last"),
    [
        pytest.param([[1, 2]], [[1, 2, 3]], [0], id="prediction-shape"),
        pytest.param([[1, 2]], [[1, 2]], [0, 1], id="origin-count"),
        pytest.param(np.zeros((2, 2, 1)), np.zeros((2, 2, 1)), [0, 0], id="three-dimensional"),
    ],
)
def test_shape_mismatch_is_rejected(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, last: npt.ArrayLike
) -> None:
    with pytest.raises(ValueError, match="shape"):
        forecast_metrics(truth, predicted, last)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1.5, 1.5, id="finite"),
        pytest.param(np.float32(0.25), 0.25, id="numpy-scalar"),
        pytest.param(NAN, None, id="nan"),
        pytest.param(-math.inf, None, id="inf"),
    ],
)
def test_finite_or_none(value: float, expected: float | None) -> None:
    result = finite_or_none(value)
    assert result == expected
    assert result is None or type(result) is float


def test_checked_inputs_make_a_vector_a_one_step_horizon() -> None:
    y, p, last = _checked_inputs([1, 2], [3, 4], [0, 1])
    assert y.shape == p.shape == (2, 1) and last.shape == (2,) and y.dtype == np.float64
    with pytest.raises(ValueError, match=r"predicted has shape \(1, 3\), truth has shape \(1, 2\)"):
        _checked_inputs([[1, 2]], [[1, 2, 3]], [0])
    with pytest.raises(ValueError, match=r"last_observed must have shape \(1,\), got \(2,\)"):
        _checked_inputs([[1, 2]], [[1, 2]], [0, 1])


def test_rmse_per_step_scores_each_column_over_its_own_pairs() -> None:
    errors = np.array([[1.0, 3.0], [3.0, 100.0]])
    scored = np.array([[True, True], [True, False]])
    assert _rmse_per_step(errors, scored) == pytest.approx([math.sqrt(5.0), 3.0])
    assert _rmse_per_step(errors, np.zeros_like(scored)) == [None, None]


def test_mape_is_none_when_every_value_is_too_close_to_zero() -> None:
    assert _mape(np.array([10.0, 20.0]), np.array([1.0, -4.0])) == pytest.approx(15.0)
    assert _mape(np.array([0.0, 0.0]), np.array([1.0, 1.0])) is None
    assert _mape(np.array([1.0]), np.array([math.inf])) is None


def test_r2_is_none_for_a_constant_truth() -> None:
    assert _r2(np.array([1.0, 3.0]), np.array([1.0, -1.0])) == pytest.approx(0.0)
    assert _r2(np.array([0.1 + 0.2] * 4), np.array([1.0, 0.0, 0.0, 0.0])) is None


@pytest.mark.parametrize(
    ("rmse", "rmse_naive", "expected"),
    [
        pytest.param(1.0, 4.0, 0.25, id="ratio"),
        pytest.param(None, 4.0, None, id="no-model-rmse"),
        pytest.param(1.0, None, None, id="no-naive-rmse"),
        pytest.param(1.0, 0.0, None, id="perfect-persistence"),
        pytest.param(1e300, 1e-300, None, id="overflow"),
    ],
)
def test_theil_u(rmse: float | None, rmse_naive: float | None, expected: float | None) -> None:
    assert _theil_u(rmse, rmse_naive) == expected


def test_pooled_counts_its_pairs_and_keeps_the_per_step_rmse() -> None:
    m = _pooled(np.array([1.0, 3.0]), np.array([1.0, -1.0]), np.array([2.0, 2.0]), [0.5], 2.0)
    assert (m.mse, m.mae, m.rmse, m.theil_u, m.points, m.rmse_per_step) == (1.0, 1.0, 1.0, 0.5, 2, [0.5])
    assert m.mase == 0.5


def test_mape_skips_exact_zeros_and_is_null_when_too_few_targets_are_left() -> None:
    # A count series: zeros in the raw values are skipped, not divided by.
    truth = np.array([[0.0, 4.0], [0.0, 2.0], [5.0, 0.0]])
    predicted = np.array([[1.0, 5.0], [0.5, 1.0], [4.0, 1.0]])
    m = forecast_metrics(truth, predicted, np.array([1.0, 1.0, 1.0]))
    assert m.mape == pytest.approx((1 / 4 + 1 / 2 + 1 / 5) / 3 * 100)
    # One non-zero target in twenty: MAPE would describe that one point, so it is null.
    sparse = np.zeros((20, 1))
    sparse[3] = 2.0
    assert forecast_metrics(sparse, sparse + 1.0, np.ones(20)).mape is None


def test_smape_is_bounded_and_zero_for_exact_zero_pairs() -> None:
    truth = np.array([0.0, 0.0, 2.0, -2.0])
    predicted = np.array([0.0, 1.0, 2.0, 2.0])
    m = forecast_metrics(truth, predicted, np.zeros(4))
    # Pairs: exact zero (0), 2*1/(0+1) = 2, exact (0), 2*4/(2+2) = 2: mean 1, as a percentage.
    assert m.smape == pytest.approx(100.0)
    assert m.smape is not None and 0.0 <= m.smape <= 200.0


def test_mase_divides_by_the_in_sample_seasonal_naive_error() -> None:
    train = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 3.0])
    # Period 2: |1-1|, |2-2|, |1-1|, |3-2| -> mean 0.25.
    assert seasonal_naive_scale(train, 2) == pytest.approx(0.25)
    assert seasonal_naive_scale(train, 1) == pytest.approx(1.2)
    assert seasonal_naive_scale(np.ones(10), 1) is None  # a flat series has no scale
    assert seasonal_naive_scale(train, 6) is None  # nothing to compare at that lag
    m = forecast_metrics(np.array([1.0, 2.0]), np.array([1.5, 2.5]), np.array([1.0, 1.0]), mase_scale=0.25)
    assert m.mase == pytest.approx(2.0)
    assert forecast_metrics(np.array([1.0]), np.array([1.5]), np.array([1.0])).mase is None
