"""AutoETS: the statistical baseline, fitted by statsmodels, served by one numpy filter.

:func:`fit_ets` fits additive-error exponential smoothing state space models (Hyndman et al.) with
statsmodels' ``ETSModel`` on the newest ``max_points`` values of the training data it is given:
ETS(A,N,N) and ETS(A,Ad,N), and with a ``period`` that the data covers at least
``MIN_SEASONS`` times, ETS(A,N,A) and ETS(A,Ad,A). The lowest AICc wins; a form whose fit fails
or does not converge is left out, so the choice falls back to the simpler forms. Gaps (NaN) are
interpolated linearly for the fit only.

Forecasts never come from statsmodels: :func:`ets_forecasts` (scoring, every origin at once) and
:func:`ets_forecast` (serving, one forecast) run the same filter, so a served forecast is computed
exactly as the scored ones were. For each origin the filter warm-starts on the newest
``model.warmup`` values up to it: the level from the first of them minus its seasonal component,
the trend from the end of the fit, the seasons from the fitted profile; then the additive-error
recursions, with ``e = y - (l + φb + s)``::

    l ← l + φb + αe        b ← φb + βe        s ← s + γe

and a gap (NaN) skips the correction (``e = 0``: the state just propagates). The forecast of step
``h`` is ``l + (φ + … + φ^h) b + s`` with ``s`` the newest seasonal state of that slot.

The warmup is chosen at fit time, on the training data: the fitted profile is out of date for an
origin long after the fit, and a model that smooths its seasons slowly needs many values to forget
it (Seattle's hourly temperatures, ETS(A,N,A) with period 24: test RMSE at H=1 of 1.90 with a
warmup of 48 values, 0.067 with 1000 or more, against 0.21 for the seasonal naive forecast).

Seasonal slots. A slot is an index modulo ``period`` in the series given to :func:`fit_ets`
(index 0 is slot 0). ``phase_of_index0`` / ``phase_of_first`` say which slot the first value a
forecast reads sits in; the caller knows its timestamps, so with ``t0`` the time of the first
value passed to :func:`fit_ets` it is ``round((t - t0) / interval) % period``. Scoring on the
series the model was fitted on (or one that extends it) passes 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MAX_POINTS",
    "ETS",
    "MAX_STATE_CELLS",
    "MAX_WARMUP",
    "MIN_FIT_POINTS",
    "MIN_SEASONS",
    "EtsModel",
    "ets_forecast",
    "ets_forecasts",
    "ets_state",
    "fit_ets",
    "forecast_from_state",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# One fit_ets of 20,000 values took 0.3-1.5 s on 2 cores (periods none, 24, 48, 168, 336; a seasonal
# fit reads at most MAX_STATE_CELLS), so a training job spends seconds on its baseline; past a couple of
# years of hourly values older data says little about today's smoothing anyway.
DEFAULT_MAX_POINTS = 20_000
# L-BFGS iterations of one form's fit (they took under 30 here); a fit that needs more is left out as
# not converged, which bounds the time of a pathological series.
MAX_ITERATIONS = 200
# Below this many values statsmodels' heuristic start (a line through the first 10) is guesswork.
MIN_FIT_POINTS = 20
# The heuristic seasonal start averages whole seasons: two are its minimum, a third leaves data to
# estimate the smoothing parameters on.
MIN_SEASONS = 3
# The warm start reads at least two seasons (each seasonal state corrected twice) and this many values,
# and twice, four times ... as many while that brings the one-step RMSE on the fitted data, at this many
# probe origins, within this share of the best (then twice that); at most MAX_WARMUP values: a served
# forecast costs ~7 µs a warmup value (0.4 ms for 48, 2.5 ms for 336, 15 ms for 2,048 on 2 cores).
MIN_WARMUP = 48
WARMUP_TOLERANCE = 0.01
PROBE_ORIGINS = 256
MAX_WARMUP = 2_048
# statsmodels keeps every state of every fitted step: a seasonal fit reads at most this many states
# (n × (period + 2), 32 MB a likelihood evaluation), which bounds its memory and time (period 336: the
# newest 11,834 values; period 1008: 3,960; period 2016 cannot hold 3 seasons and fits no season).
MAX_STATE_CELLS = 4_000_000
# Origins are filtered in chunks whose warmup values, their gap mask and seasonal states hold at most
# this many floats (32 MB).
_CHUNK_CELLS = 4_000_000

_FORMS: tuple[tuple[str, bool, bool], ...] = (
    # (name, damped trend, seasonal): simplest first, the order of the fallback.
    ("ETS(A,N,N)", False, False),
    ("ETS(A,Ad,N)", True, False),
    ("ETS(A,N,A)", False, True),
    ("ETS(A,Ad,A)", True, True),
)


@dataclass(frozen=True)
class EtsModel:
    """A fitted additive-error ETS model: what the filter needs, nothing of statsmodels."""

    form: str
    """``"ETS(A,N,N)"``, ``"ETS(A,Ad,N)"``, ``"ETS(A,N,A)"`` or ``"ETS(A,Ad,A)"``."""
    alpha: float
    beta: float | None
    """Trend smoothing; ``None`` without a trend (as are ``phi`` and a zero ``trend``)."""
    gamma: float | None
    """Seasonal smoothing; ``None`` without a season (as are ``period`` and an empty ``profile``)."""
    phi: float | None
    period: int | None
    profile: tuple[float, ...]
    """The newest ``period`` seasonal states of the fit, oldest first."""
    anchor: int
    """Slot of ``profile[0]``: profile[j] belongs to slot ``(anchor + j) % period``; 0 without a season."""
    trend: float
    """The trend state at the end of the fit; every warm start begins from it."""
    warmup: int
    """How many of the newest values (up to and including the origin) one forecast reads."""
    aicc: float
    points: int
    """How many values the fit used (the newest of those given, gaps interpolated)."""

    def __post_init__(self) -> None:
        numbers = (self.alpha, self.trend, self.aicc, *self.profile)
        optional = (self.beta, self.gamma, self.phi)
        if not all(math.isfinite(x) for x in numbers + tuple(x for x in optional if x is not None)):
            raise ValueError(f"an ETS model holds finite numbers only: {self}")
        shape = {name: (damped, seasonal) for name, damped, seasonal in _FORMS}.get(self.form)
        if shape is None:
            raise ValueError(f"unknown ETS form {self.form!r}")
        trend = (self.beta is not None, self.phi is not None)
        season = (self.gamma is not None, self.period is not None)
        if trend != (shape[0], shape[0]) or season != (shape[1], shape[1]):
            raise ValueError(
                f"{self.form}: beta and phi come with a damped trend, gamma and period with a season"
            )
        if len(self.profile) != (self.period or 0) or not 0 <= self.anchor < (self.period or 1):
            raise ValueError(f"{self.form}: the profile needs one state per slot and an anchor among them")
        if self.warmup < 1 or self.points < 1:
            raise ValueError(f"warmup and points are positive, got {self.warmup} and {self.points}")

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-safe values (numbers, ``None``, a list of floats and the form's name)."""
        data = asdict(self)
        data["profile"] = list(self.profile)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EtsModel:
        """The inverse of :meth:`as_dict`; a missing or extra key is a ``ValueError``."""
        expected = set(cls.__dataclass_fields__)
        if set(data) != expected:
            raise ValueError(f"an ETS model needs exactly the keys {sorted(expected)}, got {sorted(data)}")

        def number(key: str) -> float | None:
            return None if data[key] is None else float(data[key])

        period = data["period"]
        return cls(
            form=str(data["form"]),
            alpha=float(data["alpha"]),
            beta=number("beta"),
            gamma=number("gamma"),
            phi=number("phi"),
            period=None if period is None else int(period),
            profile=tuple(float(x) for x in data["profile"]),
            anchor=int(data["anchor"]),
            trend=float(data["trend"]),
            warmup=int(data["warmup"]),
            aicc=float(data["aicc"]),
            points=int(data["points"]),
        )


def fit_ets(values: npt.ArrayLike, *, period: int | None, max_points: int = DEFAULT_MAX_POINTS) -> EtsModel:
    """AutoETS on the newest values of ``values`` (training data only, oldest first).

    The fit reads at most ``max_points`` values, and with a season at most ``MAX_STATE_CELLS //
    (period + 2)`` (statsmodels keeps every seasonal state of every step), when that still holds
    ``MIN_SEASONS`` seasons; otherwise the seasonal forms are left out. Index 0 of ``values`` is
    seasonal slot 0 (see the module's docstring). The chosen form's ``warmup`` is then settled on the
    same values (see :func:`_settled_warmup`), at most half of them, so every origin after them can
    be forecast. Raises ``ValueError`` for a bad argument, for fewer than ``MIN_FIT_POINTS`` finite
    values among those read, and when no form could be fitted.
    """
    if period is not None and period < 2:
        raise ValueError(f"a season is at least 2 steps, got {period}")
    if max_points < MIN_FIT_POINTS:
        raise ValueError(f"max_points must be at least {MIN_FIT_POINTS}, got {max_points}")
    cells = MAX_STATE_CELLS // (period + 2) if period is not None else 0
    seasonal_ok = period is not None and MIN_SEASONS * period <= min(max_points, cells)
    start, data = _fit_data(
        np.asarray(values, dtype=np.float64), min(max_points, cells) if seasonal_ok else max_points
    )
    seasonal_ok = seasonal_ok and period is not None and data.size >= MIN_SEASONS * period
    fitted: list[EtsModel] = []
    for name, damped, seasonal in _FORMS:
        if seasonal and not seasonal_ok:
            continue
        form = _fit_form(data, name, damped=damped, period=period if seasonal else None, start=start)
        if form is not None:
            fitted.append(form)
    if not fitted:
        raise ValueError(f"no ETS form could be fitted to the newest {data.size} values")
    model = min(fitted, key=lambda candidate: candidate.aicc)
    return replace(model, warmup=_settled_warmup(model, data, start=start))


def _fit_data(series: FloatArray, max_points: int) -> tuple[int, FloatArray]:
    """Index of the first value fitted and the newest ``max_points`` values from the first to the
    last finite one, gaps interpolated linearly."""
    if series.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {series.shape}")
    finite = np.flatnonzero(np.isfinite(series))
    if finite.size == 0:
        raise ValueError(f"an ETS fit needs at least {MIN_FIT_POINTS} finite values, got none")
    end = int(finite[-1]) + 1
    start = max(int(finite[0]), end - max_points)
    data = series[start:end].copy()
    observed = np.isfinite(data)
    if int(observed.sum()) < MIN_FIT_POINTS:
        raise ValueError(
            f"an ETS fit needs at least {MIN_FIT_POINTS} finite values among the newest {max_points}, "
            f"got {int(observed.sum())}"
        )
    positions = np.arange(data.size)
    data[~observed] = np.interp(positions[~observed], positions[observed], data[observed])
    return start, data


def _fit_form(
    data: FloatArray, name: str, *, damped: bool, period: int | None, start: int
) -> EtsModel | None:
    """One form fitted by maximum likelihood (its warmup not yet chosen), or ``None`` when statsmodels
    fails or does not converge."""
    from statsmodels.tools.eval_measures import aicc
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # The heuristic start (from the first seasons) keeps the likelihood over 1-4 parameters:
            # estimating one start per slot too (53 parameters for ETS(A,Ad,A), period 48) took 5 s
            # on 5,000 values, against 0.04 s.
            ets = ETSModel(
                data,
                error="add",
                trend="add" if damped else None,
                damped_trend=damped,
                seasonal="add" if period else None,
                seasonal_periods=period,
                initialization_method="heuristic",
            )
            # Parameters only: a full results object also computes a numerical Hessian we never read
            # (half the time of a seasonal fit).
            params = np.asarray(
                ets.fit(disp=False, maxiter=MAX_ITERATIONS, return_params=True), dtype=np.float64
            )
            llf = float(ets.loglike(params))
            states = np.asarray(ets.smooth(params, return_raw=True)[1], dtype=np.float64)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        return None
    fitted = dict(zip(ets.param_names, params.tolist(), strict=True))
    # Degrees of freedom as statsmodels counts them: the free parameters and the error variance.
    criterion = float(aicc(llf, data.size, params.size + 1))
    return _model_of(fitted, states, name, period=period, start=start, aicc=criterion)


def _model_of(
    fitted: dict[str, float], states: FloatArray, name: str, *, period: int | None, start: int, aicc: float
) -> EtsModel | None:
    """The fitted parameters and end states as an :class:`EtsModel`; ``None`` if any is not finite.

    ``states`` holds, for each fitted step, the level, then the trend (damped forms), then the
    season of that step (seasonal forms).
    """
    points = states.shape[0]
    profile: tuple[float, ...] = ()
    if period is not None:
        profile = tuple(states[-period:, -1].tolist())
    damped = "damping_trend" in fitted
    try:
        return EtsModel(
            form=name,
            alpha=fitted["smoothing_level"],
            beta=fitted["smoothing_trend"] if damped else None,
            gamma=fitted["smoothing_seasonal"] if period is not None else None,
            phi=fitted["damping_trend"] if damped else None,
            period=period,
            profile=profile,
            # profile[0] is the season of the fitted step ``points - period``, index start + that.
            anchor=(start + points - period) % period if period is not None else 0,
            trend=float(states[-1, 1]) if damped else 0.0,
            warmup=1,
            aicc=aicc,
            points=points,
        )
    except ValueError:
        return None


def _settled_warmup(model: EtsModel, data: FloatArray, *, start: int) -> int:
    """Twice the shortest warmup whose one-step RMSE on ``data`` is within ``WARMUP_TOLERANCE`` of the
    best of two seasons or ``MIN_WARMUP`` values, doubled up to ``MAX_WARMUP`` or half the fitted values.

    A warm start begins from the seasonal profile at the end of the fit, which is out of date for
    origins long after it, and a model with slow seasonal smoothing needs many values to forget it.
    So the probe origins lie in the older half of the fitted data, where that profile is the most
    out of date, as it is for origins after the training data.
    """
    cap = max(1, min(MAX_WARMUP, data.size // 2))
    ladder = [min(max(2 * (model.period or 0), MIN_WARMUP), cap)]
    while ladder[-1] < cap:
        ladder.append(min(2 * ladder[-1], cap))
    origins = np.unique(np.linspace(cap - 1, (cap + data.size) // 2 - 1, PROBE_ORIGINS).astype(np.int64))
    errors = [
        _rms(
            ets_forecasts(replace(model, warmup=w), data, origins, 1, phase_of_index0=start)[:, 0]
            - data[origins + 1]
        )
        for w in ladder
    ]
    best = min(errors)
    settled = next(i for i, error in enumerate(errors) if error <= (1 + WARMUP_TOLERANCE) * best)
    # One rung more: origins after the training data can lie further from the fit's end than the probes.
    return ladder[min(settled + 1, len(ladder) - 1)]


def _rms(x: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def ets_forecasts(
    model: EtsModel,
    values: npt.ArrayLike,
    origins: npt.ArrayLike,
    horizon: int,
    *,
    phase_of_index0: int = 0,
) -> FloatArray:
    """The forecasts of steps 1..``horizon`` after each origin, ``(n_origins, horizon)``.

    Each origin reads ``values[origin - warmup + 1 : origin + 1]``; an origin before
    ``model.warmup - 1`` or past the end is a ``ValueError``. A row whose values are all gaps is NaN.
    ``phase_of_index0`` is the seasonal slot of ``values[0]`` (any integer, taken modulo the period).
    """
    series = np.asarray(values, dtype=np.float64)
    at = np.asarray(origins, dtype=np.int64).ravel()
    if series.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {series.shape}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if at.size and (at.min() < model.warmup - 1 or at.max() >= series.size):
        raise ValueError(
            f"every origin needs its newest {model.warmup} values inside the series: origins must lie in "
            f"[{model.warmup - 1}, {series.size - 1}], got [{at.min()}, {at.max()}]"
        )
    chunk = max(1, _CHUNK_CELLS // ((model.period or 1) + 2 * model.warmup))
    out = np.empty((at.size, horizon), dtype=np.float64)
    for first in range(0, at.size, chunk):
        part = at[first : first + chunk]
        out[first : first + chunk] = _filtered(model, series, part, horizon, phase_of_index0)
    return out


def _filtered(model: EtsModel, series: FloatArray, origins: IntArray, horizon: int, phase: int) -> FloatArray:
    """The warm-started filter over all ``origins`` at once: one numpy step per warmup value."""
    alpha, beta, gamma = model.alpha, model.beta or 0.0, model.gamma or 0.0
    phi = 1.0 if model.phi is None else model.phi
    slots, warmup = model.period or 1, model.warmup
    first = origins - (warmup - 1)
    # steps[t] holds every origin's t-th warmup value, a gap as 0 with seen[t] = 0 (no correction).
    steps = series[first + np.arange(warmup)[:, None]]
    seen = np.isfinite(steps).astype(np.float64)
    steps = np.where(seen > 0, steps, 0.0)
    # Each origin's seasons are rotated so that column t % slots is the slot of its t-th value: one
    # column per step serves all origins.
    seasons = _slot_profile(model)[(phase + first[:, None] + np.arange(slots)) % slots]
    level = np.where(seen[0] > 0, steps[0] - seasons[:, 0], np.nan)
    trend = np.full(origins.size, model.trend)
    unset = bool(np.isnan(level).any())
    # The filter is most of a served forecast's time: each step is as few numpy calls as the form allows.
    trended, seasonal = model.phi is not None, model.period is not None
    for t in range(1, warmup):
        season = seasons[:, t % slots]
        predicted = level + phi * trend if trended else level
        error = steps[t] - predicted
        if seasonal:
            error -= season
        error *= seen[t]
        if unset:  # a level not yet set (leading gaps) corrects nothing until a value sets it
            error[np.isnan(error)] = 0.0
        level = predicted + alpha * error
        if trended:
            trend = phi * trend + beta * error
        if seasonal:
            season += gamma * error
        if unset:
            level = np.where(np.isnan(level) & (seen[t] > 0), steps[t] - season, level)
            unset = bool(np.isnan(level).any())
    ahead = np.arange(1, horizon + 1)
    damping = np.cumsum(phi**ahead)
    forecasts: FloatArray = (
        level[:, None] + damping * trend[:, None] + seasons[:, (warmup - 1 + ahead) % slots]
    )
    return forecasts


def _slot_profile(model: EtsModel) -> FloatArray:
    """The fitted seasonal state of each slot 0..period-1 (a single zero without a season)."""
    if model.period is None:
        return np.zeros(1)
    return np.roll(np.asarray(model.profile, dtype=np.float64), model.anchor)


def ets_forecast(model: EtsModel, recent: npt.ArrayLike, horizon: int, *, phase_of_first: int) -> FloatArray:
    """One forecast of steps 1..``horizon`` from the newest values (oldest first), through
    :func:`ets_forecasts`. ``recent`` holds at least ``model.warmup`` values and ``phase_of_first``
    is the slot of ``recent[0]``; ``ValueError`` when too few values or none of the read ones is finite.
    """
    values = np.asarray(recent, dtype=np.float64).ravel()
    if values.size < model.warmup:
        raise ValueError(f"an ETS forecast needs the newest {model.warmup} values, got {values.size}")
    forecast: FloatArray = ets_forecasts(
        model, values, np.array([values.size - 1]), horizon, phase_of_index0=phase_of_first
    )[0]
    if not np.isfinite(forecast).all():
        raise ValueError(f"the newest {model.warmup} values hold no finite value to forecast from")
    return forecast


ETS = "ets"
"""The name the statistical baseline goes by among the baselines and the served forecasters."""


def ets_state(model: EtsModel, *, start: float, interval: float) -> dict[str, object]:
    """What serving needs, JSON-safe: the model, and the epoch seconds of the first value it was fitted
    on (slot 0) with the sampling interval, so a context window's timestamps give its slot."""
    return {"model": model.as_dict(), "start": float(start), "interval": float(interval)}


def forecast_from_state(
    state: Mapping[str, Any], timestamps: npt.ArrayLike, values: npt.ArrayLike, horizon: int
) -> FloatArray:
    """One forecast from a stored :func:`ets_state` and the newest values with their timestamps
    (oldest first, on the model's grid); ``ValueError`` when too few values or a bad state."""
    model = EtsModel.from_dict(state["model"])
    times = np.asarray(timestamps, dtype=np.float64).ravel()
    recent = np.asarray(values, dtype=np.float64).ravel()
    if times.size != recent.size or recent.size < model.warmup:
        raise ValueError(
            f"an ETS forecast needs the newest {model.warmup} values with their timestamps, "
            f"got {recent.size} values and {times.size} timestamps"
        )
    first = float(times[times.size - model.warmup])
    steps = round((first - float(state["start"])) / float(state["interval"]))
    phase = steps % model.period if model.period else 0
    return ets_forecast(model, recent[recent.size - model.warmup :], horizon, phase_of_first=phase)
