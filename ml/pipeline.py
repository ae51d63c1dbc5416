"""One training job from a regular series: prepare, fit, score on the test split, export.

Scoring and serving share :func:`forecast_input` and :func:`forecast_values`, so a forecast served
from the ONNX form goes through exactly the transforms the test metrics were computed with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ml.baselines import (
    PERSISTENCE,
    Baseline,
    persistence_forecasts,
    score_baselines,
    seasonal_naive_forecasts,
    targets_at,
)
from ml.calendar import calendar_features
from ml.ets import ETS, EtsModel, ets_forecasts, fit_ets
from ml.export import keras_bytes, onnx_bytes
from ml.intervals import DEFAULT_LEVELS, Interval, calibrate_online
from ml.metrics import ForecastMetrics, forecast_metrics, seasonal_naive_scale
from ml.network import NetworkSpec
from ml.preprocess import Prepared, Scaler, prepare
from ml.seasonality import Season, calendar_periods, detect_seasons
from ml.selection import NETWORK, Candidate, Served, choose
from ml.series import Regular
from ml.training import CheckpointSink, FitResult, FitSettings, FitState, ProgressSink, fit
from ml.windows import SplitSizes, window_starts

__all__ = [
    "DataSummary",
    "TrainingConfig",
    "TrainingOutcome",
    "forecast_input",
    "forecast_values",
    "origins_of",
    "train_regular",
]

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

# Large enough that a test split of a few thousand windows is one or two calls, not one per window:
# each ``predict`` call costs ~45 ms of set-up however few windows it holds (one window of an LSTM-32
# took 45 ms through ``predict`` and 1.4 ms through ``predict_on_batch``, TF 2.21 CPU).
_PREDICT_BATCH = 1024


@dataclass(frozen=True)
class TrainingConfig:
    network: NetworkSpec
    delta: bool = True
    fit: FitSettings = field(default_factory=FitSettings)
    validation_ratio: float = 0.15
    test_ratio: float = 0.15
    interval_levels: tuple[float, ...] = DEFAULT_LEVELS
    calendar: bool = True
    """Feed the network the calendar channels the interval allows (see :mod:`ml.calendar`)."""


@dataclass(frozen=True)
class DataSummary:
    """What the job trained on, and what cleaning did to get there."""

    points: int
    """Slots in the regular series."""
    observed: int
    filled: int
    gaps: int
    missing: int
    raw_points: int
    dropped_non_finite: int
    merged_duplicates: int
    interval_seconds: float
    start: float
    """Epoch seconds of the first slot."""
    end: float
    """Epoch seconds of the last slot."""
    split_points: SplitSizes
    windows: SplitSizes

    @classmethod
    def of(cls, prepared: Prepared) -> DataSummary:
        regular = prepared.regular
        points = len(regular.values)
        return cls(
            points=points,
            observed=regular.observed,
            filled=regular.filled,
            gaps=regular.gaps,
            missing=regular.missing,
            raw_points=regular.raw_points,
            dropped_non_finite=regular.dropped_non_finite,
            merged_duplicates=regular.merged_duplicates,
            interval_seconds=regular.interval,
            start=regular.start,
            end=regular.start + regular.interval * (points - 1),
            split_points=prepared.split,
            windows=prepared.windows,
        )

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-safe values: every field is a finite number or a dict of counts."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, eq=False)
class TrainingOutcome:
    fit: FitResult
    metrics: ForecastMetrics | None
    """Test-split metrics in original units; ``None`` when cancelled."""
    scaler: Scaler
    summary: DataSummary
    keras: bytes | None
    """The ``.keras`` archive; ``None`` when cancelled or not exported."""
    onnx: bytes | None
    """The ONNX graph; ``None`` when cancelled or not exported."""
    baselines: tuple[Baseline, ...] = ()
    """Persistence and seasonal naive forecasts on the same test pairs; empty when cancelled."""
    seasons: tuple[Season, ...] = ()
    """Seasonal periods the series before the test split confirms, strongest first."""
    intervals: tuple[Interval, ...] = ()
    """Conformal intervals of the served forecaster, as serving will use them (calibrated online on
    the newest errors through the test split), with the coverage they reached there."""
    served: Served | None = None
    """The forecaster that serves the job, chosen on the validation split; ``None`` when cancelled."""
    channels: tuple[str, ...] = ()
    """Calendar channels the network reads after the value, in order; serving must feed the same."""
    ets: EtsModel | None = None
    """The statistical baseline as fitted on the training split; ``None`` when cancelled or when no
    form could be fitted."""

    @property
    def cancelled(self) -> bool:
        return self.fit.cancelled


def forecast_input(
    recent: npt.ArrayLike,
    scaler: Scaler,
    *,
    lookback: int,
    delta: bool,
    timestamps: npt.ArrayLike | None = None,
    channels: tuple[str, ...] = (),
) -> tuple[Float32Array, Float32Array]:
    """The network input for one forecast from the latest values (original units, oldest first).

    Returns ``x`` of shape ``(1, lookback, 1 + len(channels))`` and ``last`` of shape ``(1,)``,
    computed as :func:`ml.windows.make_windows` computes a window (differences in float64, one
    rounding to float32), so a served forecast sees the inputs the model was scored on. With
    ``channels``, ``timestamps`` (epoch seconds, aligned with ``recent``) place each step in the
    calendar.
    """
    values = np.asarray(recent, dtype=np.float64).ravel()
    if values.size < lookback:
        raise ValueError(f"a forecast needs the latest {lookback} values, got {values.size}")
    window = values[values.size - lookback :]
    if not np.isfinite(window).all():
        raise ValueError(f"the latest {lookback} values must all be finite")
    z = scaler.transform(window)
    last64 = z[-1]
    x = np.empty((1, lookback, 1 + len(channels)), dtype=np.float32)
    x[0, :, 0] = z - last64 if delta else z
    if channels:
        if timestamps is None:
            raise ValueError(f"a network with calendar channels {channels} needs the window's timestamps")
        times = np.asarray(timestamps, dtype=np.float64).ravel()
        if times.size != values.size:
            raise ValueError(f"got {times.size} timestamps for {values.size} values")
        x[0, :, 1:] = calendar_features(times[times.size - lookback :], channels)
    return x, np.array([last64], dtype=np.float32)


def forecast_values(
    raw_output: npt.ArrayLike, last: npt.ArrayLike, scaler: Scaler, delta: bool
) -> FloatArray:
    """Network output (Keras or ONNX, ``(n, horizon)``) to forecasts in original units.

    ``last`` is the scaled value at the last input step of each window, ``(n,)``. With delta targets
    the network predicts changes from it, so it is added back before unscaling.
    """
    scaled = np.asarray(raw_output, dtype=np.float64)
    if delta:
        scaled = scaled + np.expand_dims(np.asarray(last, dtype=np.float64), -1)
    return scaler.inverse(scaled)


def train_regular(
    regular: Regular,
    config: TrainingConfig,
    *,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint: CheckpointSink | None = None,
    resume: FitState | None = None,
    export: bool = True,
) -> TrainingOutcome:
    """Train ``config.network`` on ``regular`` and score it on the newest ``test_ratio`` of the series.

    Raises :class:`ml.series.InsufficientSeries` when a split holds no window. A cancelled fit is
    neither scored nor exported. ``resume`` must come from a fit of the same series and config
    (preparing is deterministic, so the windows are the ones it was trained on).
    """
    prepared = prepare(
        regular,
        lookback=config.network.lookback,
        horizon=config.network.horizon,
        validation_ratio=config.validation_ratio,
        test_ratio=config.test_ratio,
        delta=config.delta,
        calendar=config.calendar,
    )
    spec = dataclasses.replace(config.network, channels=1 + len(prepared.channels))
    summary = DataSummary.of(prepared)
    model, result = fit(
        spec,
        (prepared.train.x, prepared.train.y),
        (prepared.validation.x, prepared.validation.y),
        settings=config.fit,
        progress=progress,
        should_stop=should_stop,
        checkpoint=checkpoint,
        resume=resume,
    )
    if result.cancelled:
        return TrainingOutcome(
            result, None, prepared.scaler, summary, keras=None, onnx=None, channels=prepared.channels
        )

    scores = _scores(prepared, _held_out_forecasts(model, prepared), config.interval_levels)
    keras_archive = onnx_graph = None
    if export:
        keras_archive = keras_bytes(model)
        onnx_graph = onnx_bytes(model, lookback=spec.lookback, channels=spec.channels)
    # Every field of the scores is a field of the outcome, under the same name.
    return TrainingOutcome(
        fit=result,
        scaler=prepared.scaler,
        summary=summary,
        keras=keras_archive,
        onnx=onnx_graph,
        channels=prepared.channels,
        **vars(scores),
    )


def _held_out_forecasts(model: Any, prepared: Prepared) -> dict[str, FloatArray]:
    """The network's forecasts, in original units, for every window of the splits it did not fit."""
    return {
        split: forecast_values(
            model.predict(windows.x, batch_size=_PREDICT_BATCH, verbose=0),
            windows.last,
            prepared.scaler,
            prepared.delta,
        )
        for split, windows in (("validation", prepared.validation), ("test", prepared.test))
    }


@dataclass(frozen=True)
class _Scores:
    metrics: ForecastMetrics
    baselines: tuple[Baseline, ...]
    seasons: tuple[Season, ...]
    intervals: tuple[Interval, ...]
    served: Served
    ets: EtsModel | None


def origins_of(prepared: Prepared, split: Literal["validation", "test"]) -> npt.NDArray[np.int64]:
    """Index in the series of the last input of each window of ``split``, in the windows' order."""
    sizes = prepared.split
    first = sizes.train if split == "validation" else sizes.train + sizes.validation
    end = first + (sizes.validation if split == "validation" else sizes.test)
    part = prepared.regular.values[first:end]
    return first + window_starts(part, prepared.lookback, prepared.horizon) + prepared.lookback - 1


def _scores(prepared: Prepared, forecasts: dict[str, FloatArray], levels: tuple[float, ...]) -> _Scores:
    """The network and the baselines on the same test pairs, against the raw values (a zero must
    stay zero for MAPE, not come back from the scaling as 1e-6); seasons from the data before them;
    the forecaster to serve chosen on the validation pairs, and its intervals calibrated online from
    there through the test pairs (each test pair scored with the widths known at its origin)."""
    values, split, horizon = prepared.regular.values, prepared.split, prepared.horizon
    seasons = tuple(detect_seasons(values[: split.train + split.validation], prepared.regular.interval))
    # MASE's scale is the dominant season's naive error on the training split (the previous value's
    # when no season shows), so a MASE below 1 beats the forecast a season-aware person would make.
    scale = seasonal_naive_scale(values[: split.train], seasons[0].period if seasons else 1)
    validation, test = origins_of(prepared, "validation"), origins_of(prepared, "test")
    truth = targets_at(values, test, horizon)
    metrics = forecast_metrics(truth, forecasts["test"], values[test], mase_scale=scale)
    calendar = [
        (f"seasonal_naive_{name}", period) for name, period in calendar_periods(prepared.regular.interval)
    ]
    baselines = score_baselines(values, test, horizon, calendar, mase_scale=scale)
    candidates = _candidates(values, (validation, test), horizon, calendar, forecasts)
    ets = _ets(values, split.train, seasons, (validation, test), horizon)
    if ets is not None:
        candidates.append(ets[1])
        ets_metrics = forecast_metrics(truth, ets[1].test, values[test], mase_scale=scale)
        baselines.append(Baseline(ETS, ets[0].period, ets_metrics))
    calibration = targets_at(values, validation, horizon)
    served, chosen = choose(candidates, calibration)
    intervals = calibrate_online(
        np.vstack([calibration, truth]),
        np.vstack([chosen.validation, chosen.test]),
        np.concatenate([validation, test]),
        len(validation),
        levels,
    )
    return _Scores(metrics, tuple(baselines), seasons, tuple(intervals), served, ets[0] if ets else None)


def _ets(
    values: FloatArray,
    train: int,
    seasons: tuple[Season, ...],
    origins: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    horizon: int,
) -> tuple[EtsModel, Candidate] | None:
    """AutoETS fitted on the training split with the strongest season's period, with its validation
    and test forecasts; ``None`` when no form fits (too few values): the other baselines still stand."""
    try:
        model = fit_ets(values[:train], period=seasons[0].period if seasons else None)
        forecasts = [ets_forecasts(model, values, at, horizon) for at in origins]
    except ValueError:
        return None
    return model, Candidate(ETS, model.period, *forecasts)


def _candidates(
    values: FloatArray,
    origins: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    horizon: int,
    calendar: list[tuple[str, int]],
    network: dict[str, FloatArray],
) -> list[Candidate]:
    """The network, then each baseline whose history covers the first validation origin."""
    validation, test = origins
    candidates = [
        Candidate(NETWORK, None, network["validation"], network["test"]),
        Candidate(
            PERSISTENCE,
            None,
            persistence_forecasts(values, validation, horizon),
            persistence_forecasts(values, test, horizon),
        ),
    ]
    first = int(validation.min())
    for name, period in calendar:
        if period <= first + 1:
            forecasts = (seasonal_naive_forecasts(values, at, horizon, period) for at in (validation, test))
            candidates.append(Candidate(name, period, *forecasts))
    return candidates
