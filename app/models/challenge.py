"""A retraining's verdict: champion and challenger scored on the same recent holdout.

The holdout is the newest data neither version trained on: the slots after both the champion's
whole series and the challenger's training and validation data (its test split), up to the
moment of the decision. Both versions forecast it as they serve (network, ETS or a baseline, each
from its own context) at the same origins, and are scored on the same (origin, step) pairs. The
challenger replaces the champion only when its RMSE is at most ``(1 - margin)`` times the
champion's; with too few pairs to tell (no new data since the champion trained) the champion stays.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np

from app.errors import Conflict
from app.predictions.accuracy import readings_between
from app.predictions.forecasters import Forecasters
from app.training.config import series_of
from app.training.documents import Challenge, DataSummary, ServedBy, TrainingJobDocument
from app.upstream import translate
from fiware.errors import FiwareError
from fiware.history import PagedHistory
from ml.baselines import baseline_forecast
from ml.ets import ETS, forecast_from_state
from ml.holdout import ContextForecaster, score_holdout
from ml.selection import NETWORK
from ml.series import FloatArray, InsufficientSeries, regularize

# Fewer (origin, step) pairs than this tell nothing about which version is better.
MIN_PAIRS = 10
# Origins scored at most: 200 forecasts per version keep a decision within seconds even for ETS.
MAX_ORIGINS = 200
# Readings asked for beyond the longest context, so a few missing ones still leave it whole.
CONTEXT_MARGIN = 1.5
# Two grids this close are one: a sensor's own jitter moves its detected interval far less.
SAME_INTERVAL = 0.01


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


async def _forecaster(job: TrainingJobDocument, forecasters: Forecasters) -> tuple[ContextForecaster, int]:
    """How the job serves, as a function of its context, and how many slots that context holds."""
    served = job.served_by or ServedBy(name=NETWORK, reason="trained before forecasters were chosen")
    horizon = job.config.forecast_horizon
    if served.name == NETWORK:
        network = await forecasters.get(job)
        return (lambda values, times: network.forecast(values, times)), job.config.lookback_window
    if served.name == ETS:
        state = job.ets
        if state is None:
            raise Conflict(f"training job {job.id} is served by {ETS} but stored no ETS model")

        def ets(values: FloatArray, times: FloatArray) -> FloatArray:
            return forecast_from_state(state, times, values, horizon)

        return ets, int(state["model"]["warmup"])
    period = served.period
    return (lambda values, _times: baseline_forecast(values, horizon, period)), max(1, period or 1)


def holdout_start(champion: DataSummary, challenger: DataSummary) -> float:
    """Epoch seconds after which neither version saw a target (the challenger's test split starts
    ``test_windows`` slots before its end: its validation targets end exactly there)."""
    interval = challenger.sampling_interval_seconds
    test_start = challenger.series_end.timestamp() - challenger.test_windows * interval
    return max(champion.series_end.timestamp(), test_start)


async def judge(
    *,
    champion: TrainingJobDocument,
    challenger: TrainingJobDocument,
    margin: float,
    history: PagedHistory,
    forecasters: Forecasters,
    max_gap_steps: int,
    now: datetime,
) -> Challenge:
    """The decided challenge (``promoted`` set, with its reason); translated FIWARE errors raise."""
    base = challenger.challenge or Challenge(trigger="manual")
    contest = base.model_copy(update={"champion_job_id": champion.id, "margin": margin, "decided_at": now})
    if champion.summary is None or challenger.summary is None:
        return contest.model_copy(update={"promoted": False, "reason": "a version has no data summary"})
    interval = challenger.summary.sampling_interval_seconds
    if abs(champion.summary.sampling_interval_seconds - interval) > SAME_INTERVAL * interval:
        reason = (
            f"the versions sample every {champion.summary.sampling_interval_seconds:g} s and "
            f"{interval:g} s: they share no holdout, so the champion stays"
        )
        return contest.model_copy(update={"promoted": False, "reason": reason})
    start = holdout_start(champion.summary, challenger.summary)
    (champion_fn, champion_context), (challenger_fn, challenger_context) = (
        await _forecaster(champion, forecasters),
        await _forecaster(challenger, forecasters),
    )
    context = max(champion_context, challenger_context)
    reach = (context * CONTEXT_MARGIN + max_gap_steps + 1) * interval
    series, tenant = series_of(challenger.config)
    try:
        times, values = await readings_between(
            series, tenant, history=history, since=datetime.fromtimestamp(start - reach, tz=UTC), until=now
        )
    except FiwareError as error:
        raise translate(error) from error
    held = contest.model_copy(
        update={"holdout_start": datetime.fromtimestamp(start, tz=UTC), "holdout_end": now}
    )
    try:
        regular = regularize(times, values, max_gap_steps=max_gap_steps)
    except (InsufficientSeries, ValueError) as error:
        return held.model_copy(update={"promoted": False, "reason": f"no usable holdout: {error}"})
    grid = regular.start + np.arange(regular.values.size, dtype=np.float64) * regular.interval
    score = await asyncio.to_thread(
        score_holdout,
        [champion_fn, challenger_fn],
        grid,
        regular.values,
        start=start,
        horizon=min(champion.config.forecast_horizon, challenger.config.forecast_horizon),
        contexts=[champion_context, challenger_context],
        max_origins=MAX_ORIGINS,
    )
    return verdict(held, score.pairs, score.rmse[0], score.rmse[1], start=start)


def verdict(
    held: Challenge, pairs: int, champion: float | None, challenger: float | None, *, start: float
) -> Challenge:
    """``held`` decided from the scores on ``pairs`` holdout pairs after ``start``."""
    scores = {"pairs": pairs, "champion_rmse": champion, "challenger_rmse": challenger}
    if pairs < MIN_PAIRS or champion is None or challenger is None:
        reason = (
            f"only {pairs} holdout pairs after {_stamp(start)} (the newest data neither version trained "
            f"on); at least {MIN_PAIRS} are needed to compare, so the champion stays"
        )
        return held.model_copy(update={**scores, "promoted": False, "reason": reason})
    needed = champion * (1.0 - held.margin)
    on = f"on {pairs} holdout pairs after {_stamp(start)}"
    if challenger <= needed:
        reason = (
            f"holdout RMSE {challenger:.6g} ≤ {needed:.6g} (champion {champion:.6g}, margin "
            f"{held.margin:g}) {on}"
        )
        return held.model_copy(update={**scores, "promoted": True, "reason": reason})
    reason = (
        f"holdout RMSE {challenger:.6g} > {needed:.6g}, the most that replaces the champion "
        f"({champion:.6g}, margin {held.margin:g}) {on}: the champion stays"
    )
    return held.model_copy(update={**scores, "promoted": False, "reason": reason})


__all__ = ["MIN_PAIRS", "holdout_start", "judge", "verdict"]
