"""AutoETS: the form it picks, its rolling forecasts, the warm-start filter, gaps, phases, storage."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace

import numpy as np
import pytest

from ml.baselines import persistence_forecasts, targets_at
from ml.ets import EtsModel, FloatArray, ets_forecast, ets_forecasts, fit_ets

TRAIN, TEST, DAY = 1200, 240, 24


def rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


@pytest.fixture(scope="module")
def daily() -> tuple[FloatArray, FloatArray]:
    """An hourly daily cycle on a slowly wandering level (the signal), and it with noise of sd 0.3."""
    rng = np.random.default_rng(0)
    t = np.arange(TRAIN + TEST)
    signal = 20 + 4 * np.sin(2 * np.pi * t / DAY) + np.cumsum(rng.normal(0, 0.05, t.size))
    return signal, signal + rng.normal(0, 0.3, t.size)


@pytest.fixture(scope="module")
def daily_model(daily: tuple[FloatArray, FloatArray]) -> EtsModel:
    return fit_ets(daily[1][:TRAIN], period=DAY)


def test_a_seasonal_series_gets_a_seasonal_form_that_beats_persistence_and_tracks_the_signal(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel
) -> None:
    signal, values = daily
    assert daily_model.form in {"ETS(A,N,A)", "ETS(A,Ad,A)"}
    assert daily_model.period == DAY and len(daily_model.profile) == DAY
    origins = np.arange(TRAIN, TRAIN + TEST - 6)
    forecasts = ets_forecasts(daily_model, values, origins, 6)
    truth = targets_at(values, origins, 6)
    ets_error = rms(forecasts - truth)
    assert ets_error < 0.2 * rms(persistence_forecasts(values, origins, 6) - truth)
    # The noise alone costs 0.3: the forecast is much nearer the signal than the readings are.
    assert ets_error < 0.4
    assert rms(forecasts - targets_at(signal, origins, 6)) < 0.2


def test_the_fitted_profile_is_the_daily_cycle_in_the_slots_of_the_fitted_series(
    daily_model: EtsModel,
) -> None:
    # profile[j] belongs to slot (anchor + j) % period, slot k = index k of the series given to fit.
    slots = (daily_model.anchor + np.arange(DAY)) % DAY
    expected = 4 * np.sin(2 * np.pi * slots / DAY)
    profile = np.asarray(daily_model.profile)
    assert rms(profile - profile.mean() - expected) < 0.3


def test_a_random_walk_gets_a_form_without_season_that_forecasts_like_persistence() -> None:
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(0, 1, TRAIN + TEST))
    model = fit_ets(walk[:TRAIN], period=DAY)
    assert model.form in {"ETS(A,N,N)", "ETS(A,Ad,N)"}
    assert model.period is None and model.profile == () and model.gamma is None
    origins = np.arange(TRAIN, TRAIN + TEST - 6)
    truth = targets_at(walk, origins, 6)
    ratio = rms(ets_forecasts(model, walk, origins, 6) - truth) / rms(
        persistence_forecasts(walk, origins, 6) - truth
    )
    assert ratio == pytest.approx(1.0, abs=0.03)


def test_without_a_period_only_forms_without_season_are_fitted(daily: tuple[FloatArray, FloatArray]) -> None:
    model = fit_ets(daily[1][:TRAIN], period=None)
    assert model.form in {"ETS(A,N,N)", "ETS(A,Ad,N)"}


def test_a_period_the_data_covers_fewer_than_three_times_fits_no_season(
    daily: tuple[FloatArray, FloatArray],
) -> None:
    model = fit_ets(daily[1][: 2 * DAY + 10], period=DAY)
    assert model.period is None


def test_gaps_in_the_fitted_data_and_in_the_warmup_leave_every_forecast_finite(
    daily: tuple[FloatArray, FloatArray],
) -> None:
    values = daily[1].copy()
    values[300:340] = np.nan  # an outage in the training data, interpolated for the fit
    values[[500, 777]] = np.nan
    model = fit_ets(values[:TRAIN], period=DAY)
    assert model.form in {"ETS(A,N,A)", "ETS(A,Ad,A)"}
    origins = np.arange(TRAIN, TRAIN + 100)
    values[TRAIN - model.warmup : TRAIN - model.warmup + 30] = np.nan  # the oldest values some origins read
    values[TRAIN + 20 : TRAIN + 26] = np.nan
    values[TRAIN + 50] = np.inf  # a broken reading counts as a gap
    forecasts = ets_forecasts(model, values, origins, 12)
    assert np.isfinite(forecasts).all()
    # The state propagates over a gap: forecasts made across gaps are nearly as good as without them.
    signal = targets_at(daily[0], origins, 12)
    clean = ets_forecasts(model, daily[1], origins, 12)
    assert rms(forecasts - signal) < 1.25 * rms(clean - signal)


def test_a_window_of_gaps_only_gives_nan_rows_and_ets_forecast_refuses_it(daily_model: EtsModel) -> None:
    values = np.full(daily_model.warmup + 5, np.nan)
    values[-3:] = 20.0
    rows = ets_forecasts(daily_model, values, np.array([daily_model.warmup - 1, values.size - 1]), 3)
    assert np.isnan(rows[0]).all() and np.isfinite(rows[1]).all()
    with pytest.raises(ValueError, match="no finite value"):
        ets_forecast(daily_model, values[: daily_model.warmup], 3, phase_of_first=0)


def test_ets_forecast_is_the_matching_row_of_ets_forecasts(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel
) -> None:
    values = daily[1]
    origins = np.arange(TRAIN, TRAIN + 30)
    rows = ets_forecasts(daily_model, values, origins, 12)
    for row, origin in zip(rows, origins, strict=True):
        first = origin - daily_model.warmup - 7  # a few values more than the warmup reads
        single = ets_forecast(daily_model, values[first : origin + 1], 12, phase_of_first=int(first % DAY))
        np.testing.assert_array_equal(single, row)


def test_the_phase_says_which_slot_the_first_value_sits_in(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel
) -> None:
    values = daily[1]
    origins = np.arange(TRAIN, TRAIN + 20)
    whole = ets_forecasts(daily_model, values, origins, 6)
    cut = 1000
    tail = ets_forecasts(daily_model, values[cut:], origins - cut, 6, phase_of_index0=cut)
    np.testing.assert_array_equal(tail, whole)
    # Any integer names a slot modulo the period; the wrong slot is a worse forecast.
    shifted = ets_forecasts(daily_model, values[cut:], origins - cut, 6, phase_of_index0=cut - 5 * DAY)
    np.testing.assert_array_equal(shifted, whole)
    wrong = ets_forecasts(daily_model, values[cut:], origins - cut, 6, phase_of_index0=cut + DAY // 2)
    truth = targets_at(values, origins, 6)
    assert rms(wrong - truth) > 2 * rms(whole - truth)


def test_a_json_round_trip_gives_the_same_model_and_forecasts(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel
) -> None:
    stored = json.loads(json.dumps(daily_model.as_dict(), allow_nan=False))
    restored = EtsModel.from_dict(stored)
    assert restored == daily_model
    origins = np.arange(TRAIN, TRAIN + 50)
    np.testing.assert_array_equal(
        ets_forecasts(restored, daily[1], origins, 12), ets_forecasts(daily_model, daily[1], origins, 12)
    )
    with pytest.raises(ValueError, match="exactly the keys"):
        EtsModel.from_dict({**stored, "extra": 1})


def test_an_inconsistent_model_is_refused(daily_model: EtsModel) -> None:
    with pytest.raises(ValueError, match="one state per slot"):
        replace(daily_model, profile=daily_model.profile[:-1])
    with pytest.raises(ValueError, match="gamma and period"):
        replace(daily_model, gamma=None)
    with pytest.raises(ValueError, match="finite"):
        replace(daily_model, alpha=math.nan)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.arange(10.0), "at least 20 finite values"),
        (np.full(100, np.nan), "got none"),
        (np.r_[np.full(200, np.nan), np.arange(15.0)], "at least 20 finite values"),
    ],
)
def test_a_series_too_short_to_fit_is_a_clear_value_error(values: FloatArray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_ets(values, period=None)


def test_origins_without_a_whole_warmup_before_them_are_refused(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel
) -> None:
    with pytest.raises(ValueError, match="origins must lie in"):
        ets_forecasts(daily_model, daily[1], np.array([daily_model.warmup - 2]), 3)
    with pytest.raises(ValueError, match="newest"):
        ets_forecast(daily_model, daily[1][: daily_model.warmup - 1], 3, phase_of_first=0)


def one_origin(model: EtsModel, values: FloatArray, origin: int, horizon: int, phase: int) -> FloatArray:
    """The documented filter, written plainly: one origin, scalars, seasons kept by slot."""
    m = model.period or 1
    seasons = dict.fromkeys(range(m), 0.0)
    for j, state in enumerate(model.profile):
        seasons[(model.anchor + j) % m] = state
    beta, gamma = model.beta or 0.0, model.gamma or 0.0
    phi = 1.0 if model.phi is None else model.phi
    first = origin - model.warmup + 1
    level, trend = values[first] - seasons[(phase + first) % m], model.trend
    for index in range(first + 1, origin + 1):
        slot, y = (phase + index) % m, values[index]
        if math.isnan(level):
            trend = phi * trend
            level = y - seasons[slot]  # NaN again while the gap goes on
            continue
        error = 0.0 if math.isnan(y) else y - (level + phi * trend + seasons[slot])
        level, trend = level + phi * trend + model.alpha * error, phi * trend + beta * error
        seasons[slot] += gamma * error
    damping = np.cumsum(phi ** np.arange(1, horizon + 1))
    ahead = [seasons[(phase + origin + h) % m] for h in range(1, horizon + 1)]
    forecast: FloatArray = level + damping * trend + np.array(ahead)
    return forecast


DAMPED_WEEK = EtsModel(
    "ETS(A,Ad,A)", 0.3, 0.05, 0.2, 0.9, 7, (1.0, -2, 0.5, 3, 0, -1, -1.5), 3, 0.1, 30, 0.0, 500
)


@pytest.mark.parametrize(
    "model",
    [
        DAMPED_WEEK,
        EtsModel("ETS(A,N,N)", 0.6, None, None, None, None, (), 0, 0.0, 12, 0.0, 500),
    ],
)
def test_the_vectorised_filter_is_the_one_origin_loop(model: EtsModel) -> None:
    rng = np.random.default_rng(2)
    values = 5 + np.cumsum(rng.normal(0, 1, 300))
    values[[40, 41, 42, 100, 171]] = np.nan  # gaps mid-warmup and as some origins' first value
    origins = np.arange(model.warmup - 1, 300)
    got = ets_forecasts(model, values, origins, 9, phase_of_index0=4)
    expected = np.array([one_origin(model, values, int(o), 9, 4) for o in origins])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fitted", [True, False])
def test_the_filter_runs_statsmodels_own_recursions_from_the_same_start(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel, fitted: bool
) -> None:
    """statsmodels, started from the state the warm start builds from its first value, smooths the
    rest of the warmup and forecasts exactly as the filter does: same equations, same parameters."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = daily_model if fitted else DAMPED_WEEK
    values, origin, phase = daily[1], TRAIN + 17, 5
    m, first = model.period or 1, origin - model.warmup + 1
    by_slot = np.roll(np.asarray(model.profile), model.anchor)
    # Chronological seasons for the steps first-m+1 .. first, as statsmodels takes them.
    seasons = by_slot[(phase + np.arange(first - m + 1, first + 1)) % m]
    damped = model.phi is not None
    ets = ETSModel(
        values[first + 1 : origin + 1],
        error="add",
        trend="add" if damped else None,
        damped_trend=damped,
        seasonal="add",
        seasonal_periods=m,
        initialization_method="known",
        initial_level=values[first] - seasons[-1],
        initial_trend=model.trend if damped else None,
        initial_seasonal=seasons,
    )
    # statsmodels orders them alpha, beta, gamma, phi, leaving out what the form has not.
    params = np.array([p for p in (model.alpha, model.beta, model.gamma, model.phi) if p is not None])
    expected = np.asarray(ets.smooth(params).forecast(12))
    got = ets_forecasts(model, values, np.array([origin]), 12, phase_of_index0=phase)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_origins_in_several_chunks_get_the_forecasts_of_one_chunk(
    daily: tuple[FloatArray, FloatArray], daily_model: EtsModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    origins = np.arange(TRAIN, TRAIN + 40)
    whole = ets_forecasts(daily_model, daily[1], origins, 6)
    # Room for 3 origins a chunk: 14 chunks, the last one short.
    monkeypatch.setattr("ml.ets._CHUNK_CELLS", 3 * (DAY + 2 * daily_model.warmup))
    np.testing.assert_array_equal(ets_forecasts(daily_model, daily[1], origins, 6), whole)


def test_a_form_that_does_not_converge_is_left_out_and_none_left_is_a_value_error(
    daily: tuple[FloatArray, FloatArray], monkeypatch: pytest.MonkeyPatch
) -> None:
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    fit = ETSModel.fit
    failing: set[bool] = {True}  # which `has_seasonal` values fail to converge

    def flaky(self: ETSModel, *args: object, **kwargs: object) -> object:
        if self.has_seasonal in failing:
            warnings.warn(
                "Maximum Likelihood optimization failed to converge.", ConvergenceWarning, stacklevel=2
            )
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(ETSModel, "fit", flaky)
    # The daily series gets a seasonal form when every form converges (see above).
    assert fit_ets(daily[1][:TRAIN], period=DAY).form in {"ETS(A,N,N)", "ETS(A,Ad,N)"}
    failing.add(False)
    with pytest.raises(ValueError, match="no ETS form could be fitted to the newest 1200 values"):
        fit_ets(daily[1][:TRAIN], period=DAY)
