"""Benchmark: forecast quality of the default model on a real sensor series, against persistence.

The NERACOOS buoy B01 sea-surface temperature (30 min, ~19 k points, offline from
``bokeh-sampledata``) is trained with the project's default configuration (LSTM-32, lookback 48,
delta targets, batch 64, up to 50 epochs with patience 5, chronological 70/15/15, seed 0) at
horizons 1 and 12, and scored on the test split: Theil's U2 < 1 means the model beats "no change"
(docs/benchmarks.md gives 0.965 at H=1 and 0.972 at H=12 on our 2-core machine; an earlier
run of this protocol, TensorFlow-CPU 2.21 and one seed, gave 0.972 and 0.983).

    .venv/bin/python bench/ml_quality.py [--horizons 1 12]

Importable: ``from ml_quality import measure_quality`` (with ``bench/`` on the path) runs nothing
until called.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml.metrics import forecast_metrics  # noqa: E402
from ml.network import NetworkSpec, RecurrentLayer  # noqa: E402
from ml.pipeline import TrainingConfig, forecast_values, train_regular  # noqa: E402
from ml.preprocess import prepare  # noqa: E402
from ml.series import Regular, regularize  # noqa: E402
from ml.training import FitSettings  # noqa: E402

LOOKBACK = 48


@dataclass(frozen=True)
class QualityRow:
    horizon: int
    theil_u: float | None
    mae: float | None
    rmse: float | None
    naive_rmse: float | None
    """RMSE of persistence over the same (origin, step) pairs."""
    test_origins: int
    epochs_run: int
    best_epoch: int | None
    seconds: float
    """Wall time of the whole job: preparation, fit, scoring."""
    fit_seconds: float
    samples_per_second: float | None
    """Training samples/s of the last epoch."""


def sea_surface_temperature() -> Regular:
    from bokeh_sampledata.sea_surface_temperature import sea_surface_temperature as frame

    timestamps = np.array([moment.timestamp() for moment in frame.index], dtype=np.float64)
    return regularize(timestamps, frame["temperature"].to_numpy(dtype=np.float64))


def default_config(horizon: int) -> TrainingConfig:
    return TrainingConfig(
        network=NetworkSpec(cell="LSTM", lookback=LOOKBACK, horizon=horizon, recurrent=(RecurrentLayer(32),)),
        delta=True,
        fit=FitSettings(batch_size=64, epochs=50, learning_rate=1e-3, patience=5, seed=0),
        validation_ratio=0.15,
        test_ratio=0.15,
        # The figures documented for this bench are of the value-only network (bench/baselines.py
        # measures today's defaults).
        calendar=False,
    )


def naive_rmse(regular: Regular, config: TrainingConfig) -> float | None:
    """Persistence RMSE recomputed from the windows, independently of the trained model."""
    prepared = prepare(
        regular,
        lookback=config.network.lookback,
        horizon=config.network.horizon,
        validation_ratio=config.validation_ratio,
        test_ratio=config.test_ratio,
        delta=config.delta,
    )
    test, scaler = prepared.test, prepared.scaler
    truth = forecast_values(test.y, test.last, scaler, config.delta)
    persistence = np.broadcast_to(scaler.inverse(test.last)[:, None], truth.shape)
    return forecast_metrics(truth, persistence, scaler.inverse(test.last)).rmse


def measure_quality(horizons: Sequence[int] = (1, 12)) -> list[QualityRow]:
    regular = sea_surface_temperature()
    rows = []
    for horizon in horizons:
        config = default_config(horizon)
        started = time.perf_counter()
        outcome = train_regular(regular, config, export=False)
        seconds = time.perf_counter() - started
        metrics = outcome.metrics
        assert metrics is not None, "nothing cancels this job"
        rows.append(
            QualityRow(
                horizon=horizon,
                theil_u=metrics.theil_u,
                mae=metrics.mae,
                rmse=metrics.rmse,
                naive_rmse=naive_rmse(regular, config),
                test_origins=outcome.summary.windows.test,
                epochs_run=outcome.fit.epochs_run,
                best_epoch=outcome.fit.best_epoch,
                seconds=seconds,
                fit_seconds=outcome.fit.seconds,
                samples_per_second=outcome.fit.samples_per_second,
            )
        )
    return rows


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 12])
    args = parser.parse_args()

    regular = sea_surface_temperature()
    print(
        f"SST buoy B01: {len(regular.values)} slots of {regular.interval:g} s, {regular.observed} observed, "
        f"{regular.filled} filled, {regular.gaps} gaps ({regular.missing} missing)"
    )
    print(f"{'H':>3} {'U2':>6} {'MAE':>7} {'RMSE':>7} {'naive':>7} {'origins':>7} {'epochs':>9} "
          f"{'s':>6} {'fit s':>6} {'samples/s':>9}")  # fmt: skip
    for row in measure_quality(args.horizons):
        print(
            f"{row.horizon:>3} {_number(row.theil_u, 3):>6} {_number(row.mae, 4):>7} "
            f"{_number(row.rmse, 4):>7} {_number(row.naive_rmse, 4):>7} {row.test_origins:>7} "
            f"{row.epochs_run:>3} (b{row.best_epoch}) {row.seconds:>6.1f} {row.fit_seconds:>6.1f} "
            f"{_number(row.samples_per_second, 0):>9}"
        )


if __name__ == "__main__":
    main()
