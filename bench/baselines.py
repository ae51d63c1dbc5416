"""Benchmark: the default configuration next to its baselines, per real series and horizon, with
the acceptance checks of forecast quality and the training-time cost of getting there.

Each series ships offline in a package. Tuned on: the NERACOOS buoy B01 sea-surface temperature
(30 min, ``bokeh-sampledata``) and Seattle's hourly air temperature of 2010 (``vega-datasets``).
Held out (never looked at while choosing any default): San Francisco's hourly air temperature
(``vega-datasets``), a diabetic's 5-minute glucose readings (``bokeh-sampledata``) and Apple's daily
close (``bokeh-sampledata``, business days: weekends are gaps).

Per series and horizon, the current defaults (the lookback chosen from the data as preprocessing
chooses it, calendar channels, up to 100 epochs with patience 8) are trained and scored on the test
split beside persistence, the seasonal-naive forecasts and AutoETS on the same pairs; the forecaster
chosen on the validation split serves. Then the checks: the served RMSE at most 1 % above the best
baseline's, each interval's test coverage within 5 points of its level, every metric finite or
null, no MAPE above 1,000 %. The previous defaults (lookback 48, no calendar, up to 50 epochs with
patience 5) are trained on the same data in the same run, for the time ratio.

    .venv/bin/python bench/baselines.py [--horizons 1 12] [--series sst seattle sf glucose aapl]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml.lookback import choose_lookback  # noqa: E402
from ml.metrics import ForecastMetrics  # noqa: E402
from ml.network import NetworkSpec, RecurrentLayer  # noqa: E402
from ml.pipeline import TrainingConfig, TrainingOutcome, train_regular  # noqa: E402
from ml.series import Regular, regularize  # noqa: E402
from ml.training import FitSettings  # noqa: E402

RATIOS = (0.15, 0.15)


def _epochs(index: object) -> np.ndarray:
    return np.asarray(index, dtype="datetime64[s]").astype(np.int64).astype(np.float64)


def sea_surface_temperature() -> Regular:
    from bokeh_sampledata.sea_surface_temperature import sea_surface_temperature as frame

    timestamps = np.array([moment.timestamp() for moment in frame.index], dtype=np.float64)
    return regularize(timestamps, frame["temperature"].to_numpy(dtype=np.float64))


def seattle_temperature() -> Regular:
    from vega_datasets import data

    frame = data.seattle_temps()
    return regularize(_epochs(frame["date"]), frame["temp"].to_numpy(dtype=np.float64))


def sf_temperature() -> Regular:
    from vega_datasets import data

    frame = data.sf_temps()
    return regularize(_epochs(frame["date"]), frame["temp"].to_numpy(dtype=np.float64))


def glucose() -> Regular:
    from bokeh_sampledata.glucose import data

    return regularize(_epochs(data.index), data["glucose"].to_numpy(dtype=np.float64))


def apple_close() -> Regular:
    from bokeh_sampledata.stocks import AAPL

    return regularize(_epochs(AAPL["date"]), np.asarray(AAPL["close"], dtype=np.float64))


SERIES: dict[str, Callable[[], Regular]] = {
    "sst": sea_surface_temperature,
    "seattle": seattle_temperature,
    "sf": sf_temperature,
    "glucose": glucose,
    "aapl": apple_close,
}


def current_defaults(regular: Regular, horizon: int) -> TrainingConfig:
    lookback = choose_lookback(regular, horizon=horizon, validation_ratio=RATIOS[0], test_ratio=RATIOS[1])
    network = NetworkSpec("LSTM", lookback=lookback.steps, horizon=horizon, recurrent=(RecurrentLayer(32),))
    return TrainingConfig(network=network, fit=FitSettings(epochs=100, patience=8, seed=0), calendar=True)


def previous_defaults(horizon: int) -> TrainingConfig:
    network = NetworkSpec("LSTM", lookback=48, horizon=horizon, recurrent=(RecurrentLayer(32),))
    return TrainingConfig(network=network, fit=FitSettings(epochs=50, patience=5, seed=0), calendar=False)


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


@dataclass
class Check:
    failures: list[str]

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures.append(what)


def _metric_values(metrics: ForecastMetrics) -> list[float | None]:
    scalars = [v for v in metrics.as_dict().values() if isinstance(v, float | int) or v is None]
    return [None if v is None else float(v) for v in scalars] + list(metrics.rmse_per_step)


def check(label: str, outcome: TrainingOutcome, verdict: Check) -> None:
    assert outcome.metrics is not None and outcome.served is not None
    baselines = {b.name: b.metrics for b in outcome.baselines}
    best = min((m.rmse for m in baselines.values() if m.rmse is not None), default=None)
    served = outcome.metrics if outcome.served.name == "network" else baselines[outcome.served.name]
    if best is not None and served.rmse is not None:
        verdict.expect(
            served.rmse <= 1.01 * best, f"{label}: served RMSE {served.rmse:.4g} > 1.01 x {best:.4g}"
        )
    for interval in outcome.intervals:
        off = None if interval.coverage is None else abs(interval.coverage - interval.level)
        verdict.expect(
            off is not None and off <= 0.05, f"{label}: {interval.level:.0%} coverage {interval.coverage}"
        )
    for metrics in (outcome.metrics, *baselines.values()):
        values = _metric_values(metrics)
        verdict.expect(all(v is None or math.isfinite(v) for v in values), f"{label}: a metric is not finite")
        verdict.expect(metrics.mape is None or metrics.mape <= 1000, f"{label}: MAPE {metrics.mape}")


def report(
    name: str, horizon: int, outcome: TrainingOutcome, *, lookback: int, seconds: float, before: float
) -> None:
    metrics = outcome.metrics
    assert metrics is not None and outcome.served is not None
    seasons = ", ".join(f"{s.name} {s.period} ({s.strength:.2f})" for s in outcome.seasons) or "none"
    fit = outcome.fit
    print(
        f"\n{name}, H={horizon}: {outcome.summary.points} slots of {outcome.summary.interval_seconds:g} s; "
        f"seasons: {seasons}; lookback {lookback}, "
        f"channels {len(outcome.channels)}; {fit.epochs_run} epochs (best {fit.best_epoch}); "
        f"ETS {outcome.ets.form if outcome.ets else '-'}"
    )
    print(f"  {'forecaster':<24} {'RMSE':>8} {'MAE':>8} {'MASE':>6} {'sMAPE':>7} {'MAPE':>8}")
    for label, m in [("network", metrics), *((b.name, b.metrics) for b in outcome.baselines)]:
        print(
            f"  {label:<24} {_number(m.rmse):>8} {_number(m.mae):>8} {_number(m.mase, 3):>6} "
            f"{_number(m.smape, 3):>7} {_number(m.mape, 3):>8}"
        )
    best = min(
        (b for b in outcome.baselines if b.metrics.rmse is not None), key=lambda b: b.metrics.rmse or 0
    )
    served = outcome.served.name
    served_rmse = (
        metrics.rmse
        if served == "network"
        else next(b.metrics.rmse for b in outcome.baselines if b.name == served)
    )
    ratio = served_rmse / best.metrics.rmse if served_rmse is not None and best.metrics.rmse else None
    print(f"  served: {served}; served RMSE / best baseline ({best.name}): {_number(ratio, 4)}")
    for interval in outcome.intervals:
        print(f"  interval {interval.level:.0%}: test coverage {_number(interval.coverage, 3)}")
    print(
        f"  time: {seconds:.1f} s (fit {fit.seconds:.1f} s, the rest {seconds - fit.seconds:.1f} s); "
        f"previous defaults {before:.1f} s; ratio {seconds / before:.2f}"
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 12])
    parser.add_argument("--series", nargs="+", choices=sorted(SERIES), default=list(SERIES))
    args = parser.parse_args()
    verdict = Check([])
    totals = [0.0, 0.0]
    for name in args.series:
        regular = SERIES[name]()
        for horizon in args.horizons:
            started = time.perf_counter()
            train_regular(regular, previous_defaults(horizon), export=False)
            before = time.perf_counter() - started
            started = time.perf_counter()
            config = current_defaults(regular, horizon)
            outcome = train_regular(regular, config, export=False)
            seconds = time.perf_counter() - started
            totals[0] += before
            totals[1] += seconds
            report(name, horizon, outcome, lookback=config.network.lookback, seconds=seconds, before=before)
            check(f"{name} H={horizon}", outcome, verdict)
    print(f"\ntraining time, all jobs: {totals[1]:.0f} s now, {totals[0]:.0f} s with the previous defaults "
          f"(ratio {totals[1] / totals[0]:.2f})")  # fmt: skip
    print("acceptance: " + ("every check passed" if not verdict.failures else "FAILED"))
    for failure in verdict.failures:
        print(f"  - {failure}")


if __name__ == "__main__":
    main()
