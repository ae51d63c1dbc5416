"""One training job from a regular series: prepare, fit, score on the test split, export.

Scoring and serving share :func:`forecast_input` and :func:`forecast_values`, so a forecast served
from the ONNX form goes through exactly the transforms the test metrics were computed with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ml.export import keras_bytes, onnx_bytes
from ml.metrics import ForecastMetrics, forecast_metrics
from ml.network import NetworkSpec
from ml.preprocess import Prepared, Scaler, prepare
from ml.series import Regular
from ml.training import CheckpointSink, FitResult, FitSettings, FitState, ProgressSink, fit
from ml.windows import SplitSizes

__all__ = [
    "DataSummary",
    "TrainingConfig",
    "TrainingOutcome",
    "forecast_input",
    "forecast_values",
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

    @property
    def cancelled(self) -> bool:
        return self.fit.cancelled


def forecast_input(
    recent: npt.ArrayLike, scaler: Scaler, *, lookback: int, delta: bool
) -> tuple[Float32Array, Float32Array]:
    """The network input for one forecast from the latest values (original units, oldest first).

    Returns ``x`` of shape ``(1, lookback, 1)`` and ``last`` of shape ``(1,)``, computed as
    :func:`ml.windows.make_windows` computes a window (differences in float64, one rounding to
    float32), so a served forecast sees the inputs the model was scored on.
    """
    values = np.asarray(recent, dtype=np.float64).ravel()
    if values.size < lookback:
        raise ValueError(f"a forecast needs the latest {lookback} values, got {values.size}")
    window = values[values.size - lookback :]
    if not np.isfinite(window).all():
        raise ValueError(f"the latest {lookback} values must all be finite")
    z = scaler.transform(window)
    last64 = z[-1]
    x = (z - last64 if delta else z).astype(np.float32).reshape(1, lookback, 1)
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
    spec = config.network
    prepared = prepare(
        regular,
        lookback=spec.lookback,
        horizon=spec.horizon,
        validation_ratio=config.validation_ratio,
        test_ratio=config.test_ratio,
        delta=config.delta,
    )
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
        return TrainingOutcome(result, None, prepared.scaler, summary, keras=None, onnx=None)

    test, scaler = prepared.test, prepared.scaler
    output = model.predict(test.x, batch_size=_PREDICT_BATCH, verbose=0)
    forecast = forecast_values(output, test.last, scaler, config.delta)
    # The targets go through the same inverse as the forecasts, so both carry identical rounding.
    truth = forecast_values(test.y, test.last, scaler, config.delta)
    metrics = forecast_metrics(truth, forecast, scaler.inverse(test.last))

    keras_archive = onnx_graph = None
    if export:
        keras_archive = keras_bytes(model)
        onnx_graph = onnx_bytes(model, lookback=spec.lookback)
    return TrainingOutcome(result, metrics, scaler, summary, keras=keras_archive, onnx=onnx_graph)
