"""From a regular series to scaled, split, windowed training data.

The series is split chronologically (oldest points train), the scaler is fitted on the train split
alone so nothing of the validation or test period leaks into training, and windows are built
within each split so none straddles two splits or a NaN gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml.calendar import calendar_channels, calendar_features
from ml.series import InsufficientSeries, Regular
from ml.windows import SplitSizes, make_windows, minimum_points, split_sizes

__all__ = ["Prepared", "Scaler", "Windows", "check_windows", "prepare"]

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

_SCALER_KIND = "standard"


@dataclass(frozen=True)
class Scaler:
    """Standard scaling, ``(value - mean) / scale``, stored as plain JSON (never pickled)."""

    mean: float
    scale: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"a scaler needs a finite mean and a finite scale > 0, got {self!r}")

    @classmethod
    def fit(cls, values: npt.ArrayLike) -> Scaler:
        """Fit on the finite entries of ``values`` (the train split only: later splits must not leak)."""
        data = np.asarray(values, dtype=np.float64).ravel()
        data = data[np.isfinite(data)]
        if data.size == 0:
            raise InsufficientSeries("cannot fit a scaler: no finite values")
        # Constancy is tested on the values: the float mean of a constant series is often off by an
        # ulp, and dividing that ulp by a std of ~1e-17 would move the series to about ±1, not 0.
        if np.all(data == data[0]):
            return cls(mean=float(data[0]), scale=1.0)
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(np.mean(data))
            std = float(np.std(data))
        if not math.isfinite(mean):
            raise ValueError("cannot fit a scaler: the mean of the values overflows float64")
        # A spread that overflows float64 must not become a division by infinity.
        scale = std if math.isfinite(std) and std > 0 else 1.0
        return cls(mean=mean, scale=scale)

    def transform(self, values: npt.ArrayLike) -> FloatArray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.scale

    def inverse(self, values: npt.ArrayLike) -> FloatArray:
        return np.asarray(values, dtype=np.float64) * self.scale + self.mean

    def to_json(self) -> dict[str, object]:
        return {"kind": _SCALER_KIND, "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_json(cls, data: object) -> Scaler:
        """Rebuild a scaler stored by :meth:`to_json`; ``ValueError`` for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a scaler must be a JSON object, got {type(data).__name__}")
        if data.get("kind") != _SCALER_KIND:
            raise ValueError(f"unknown scaler kind {data.get('kind')!r}, expected {_SCALER_KIND!r}")
        numbers: dict[str, float] = {}
        for key in ("mean", "scale"):
            value = data.get(key)
            # bool is an int subclass, and True is no mean.
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"scaler {key} must be a number, got {value!r}")
            numbers[key] = float(value)
        return cls(mean=numbers["mean"], scale=numbers["scale"])


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarray fields element-wise has no truth value.
class Windows:
    """Supervised windows of one split, as :func:`ml.windows.make_windows` returns them."""

    x: Float32Array
    """``(n, lookback, channels)`` inputs: the value, then each calendar channel."""
    y: Float32Array
    """``(n, horizon)`` targets (relative to ``last`` with delta targets)."""
    last: Float32Array
    """``(n,)`` scaled value at the last input step of each window."""

    @property
    def origins(self) -> int:
        """Forecast origins (windows) in this split."""
        return int(self.last.shape[0])


@dataclass(frozen=True, eq=False)
class Prepared:
    """A series ready for training: its scaler and the windows of each chronological split."""

    regular: Regular
    scaler: Scaler
    train: Windows
    validation: Windows
    test: Windows
    lookback: int
    horizon: int
    delta: bool
    split: SplitSizes
    """Points (grid slots) per split."""
    channels: tuple[str, ...] = ()
    """Calendar channels after the value in every input step (see :mod:`ml.calendar`)."""

    @property
    def windows(self) -> SplitSizes:
        """Windows per split."""
        return SplitSizes(self.train.origins, self.validation.origins, self.test.origins)


def _finite_windows(part: npt.NDArray[np.float64], span: int) -> int:
    if part.size < span:
        return 0
    bad = np.concatenate(([0], np.cumsum(~np.isfinite(part))))
    return int(((bad[span:] - bad[:-span]) == 0).sum())


def check_windows(
    regular: Regular, *, lookback: int, horizon: int, validation_ratio: float, test_ratio: float
) -> SplitSizes:
    """Windows each split of ``regular`` yields, counted without building them.

    Raises :class:`InsufficientSeries` when a split yields none, saying why; preprocessing calls it
    before training starts so a job fails early, and :func:`prepare` calls it so both agree.
    """
    # Validates lookback, horizon and both ratios before any work, with the admission arithmetic.
    needed = minimum_points(lookback, horizon, validation_ratio, test_ratio)
    values = regular.values
    split = split_sizes(len(values), validation_ratio, test_ratio)
    bounds = np.cumsum([0, split.train, split.validation, split.test])
    span = lookback + horizon
    counts = SplitSizes(*(_finite_windows(values[bounds[i] : bounds[i + 1]], span) for i in range(3)))
    if min(counts.train, counts.validation, counts.test) == 0:
        raise InsufficientSeries(
            f"every split needs at least one window of {lookback} + {horizon} = {span} "
            f"consecutive points: the {len(values)} points split into {split.train} / "
            f"{split.validation} / {split.test} (train / validation / test), which yield "
            f"{counts.train} / {counts.validation} / {counts.test} windows. A gap-free series needs "
            f"at least {needed} points; gaps longer than the fill limit break windows (this series "
            f"has {regular.gaps} such gaps, {regular.missing} missing slots)"
        )
    return counts


def prepare(
    regular: Regular,
    *,
    lookback: int,
    horizon: int,
    validation_ratio: float,
    test_ratio: float,
    delta: bool,
    calendar: bool = False,
) -> Prepared:
    """Split, scale and window ``regular``; with ``calendar``, every input step also carries the
    calendar channels its interval allows.

    Raises :class:`InsufficientSeries` when any split yields no window, and ``ValueError`` for
    invalid window sizes or ratios (both ratios must be > 0: an empty split never holds a window).
    """
    check_windows(
        regular, lookback=lookback, horizon=horizon, validation_ratio=validation_ratio, test_ratio=test_ratio
    )
    values = regular.values
    split = split_sizes(len(values), validation_ratio, test_ratio)
    bounds = np.cumsum([0, split.train, split.validation, split.test])
    parts = [values[bounds[i] : bounds[i + 1]] for i in range(3)]
    channels = (
        calendar_channels(regular.interval, training_seconds=split.train * regular.interval)
        if calendar
        else ()
    )
    features = calendar_features(regular.start + regular.interval * np.arange(len(values)), channels)
    # Every split holds a window, so the train split holds finite values to fit the scaler on.
    scaler = Scaler.fit(parts[0])
    train, validation, test = (
        Windows(
            *make_windows(
                scaler.transform(parts[i]),
                lookback,
                horizon,
                delta=delta,
                covariates=features[bounds[i] : bounds[i + 1]] if channels else None,
            )
        )
        for i in range(3)
    )
    return Prepared(
        regular=regular,
        scaler=scaler,
        train=train,
        validation=validation,
        test=test,
        lookback=lookback,
        horizon=horizon,
        delta=delta,
        split=split,
        channels=channels,
    )
