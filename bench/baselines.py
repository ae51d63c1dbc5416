"""Benchmark: the default network next to its baselines, per real series and horizon.

Each series ships offline in a package: the NERACOOS buoy B01 sea-surface temperature (30 min,
``bokeh-sampledata``) and Seattle's hourly air temperature of 2010 (``vega-datasets``). The project's
default configuration (LSTM-32, lookback 48, delta targets, up to 50 epochs with patience 5,
chronological 70/15/15, seed 0) is trained at each horizon and scored on the test split beside
persistence and the seasonal-naive forecasts the interval and data allow, on the same pairs. The
network's RMSE over the best baseline's (below 1 beats every baseline), the forecaster chosen on the
validation split to serve, and its conformal intervals' coverage on the test split are printed too.

    .venv/bin/python bench/baselines.py [--horizons 1 12] [--series sst seattle]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml.network import NetworkSpec, RecurrentLayer  # noqa: E402
from ml.pipeline import TrainingConfig, TrainingOutcome, train_regular  # noqa: E402
from ml.series import Regular, regularize  # noqa: E402
from ml.training import FitSettings  # noqa: E402

LOOKBACK = 48


def sea_surface_temperature() -> Regular:
    from bokeh_sampledata.sea_surface_temperature import sea_surface_temperature as frame

    timestamps = np.array([moment.timestamp() for moment in frame.index], dtype=np.float64)
    return regularize(timestamps, frame["temperature"].to_numpy(dtype=np.float64))


def seattle_temperature() -> Regular:
    from vega_datasets import data

    frame = data.seattle_temps()
    epoch = frame["date"].to_numpy(dtype="datetime64[s]").astype(np.int64).astype(np.float64)
    return regularize(epoch, frame["temp"].to_numpy(dtype=np.float64))


SERIES: dict[str, Callable[[], Regular]] = {"sst": sea_surface_temperature, "seattle": seattle_temperature}


def default_config(horizon: int) -> TrainingConfig:
    network = NetworkSpec(cell="LSTM", lookback=LOOKBACK, horizon=horizon, recurrent=(RecurrentLayer(32),))
    return TrainingConfig(network=network, delta=True, fit=FitSettings(epochs=50, patience=5, seed=0))


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def report(name: str, horizon: int, outcome: TrainingOutcome, seconds: float) -> None:
    metrics = outcome.metrics
    assert metrics is not None
    seasons = ", ".join(f"{s.name} {s.period} ({s.strength:.2f})" for s in outcome.seasons) or "none"
    best = min(
        (b for b in outcome.baselines if b.metrics.rmse is not None), key=lambda b: b.metrics.rmse or 0.0
    )
    ratio = metrics.rmse / best.metrics.rmse if metrics.rmse is not None and best.metrics.rmse else None
    print(
        f"\n{name}, H={horizon}: {outcome.summary.points} slots of {outcome.summary.interval_seconds:g} s; "
        f"seasons: {seasons}; {outcome.fit.epochs_run} epochs (best {outcome.fit.best_epoch}), "
        f"{seconds:.0f} s"
    )
    print(f"  {'forecaster':<24} {'RMSE':>8} {'MAE':>8} {'MASE':>6} {'sMAPE':>7} {'MAPE':>8}")
    rows = [("network", metrics), *((b.name, b.metrics) for b in outcome.baselines)]
    for label, m in rows:
        print(
            f"  {label:<24} {_number(m.rmse):>8} {_number(m.mae):>8} {_number(m.mase, 3):>6} "
            f"{_number(m.smape, 2):>7} {_number(m.mape, 2):>8}"
        )
    print(f"  network RMSE / best baseline ({best.name}): {_number(ratio, 3)}")
    if outcome.served is not None:
        served = outcome.served
        print(f"  served: {served.name} ({served.reason})")
    for interval in outcome.intervals:
        widths = ", ".join(f"{w:.3g}" for w in interval.half_widths[:3])
        print(f"  interval {interval.level:.0%}: coverage {_number(interval.coverage, 3)}, "
              f"half-widths {widths}{' ...' if len(interval.half_widths) > 3 else ''}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--series", nargs="+", choices=sorted(SERIES), default=["sst", "seattle"])
    args = parser.parse_args()
    for name in args.series:
        regular = SERIES[name]()
        for horizon in args.horizons:
            started = time.perf_counter()
            outcome = train_regular(regular, default_config(horizon), export=False)
            report(name, horizon, outcome, time.perf_counter() - started)


if __name__ == "__main__":
    main()
