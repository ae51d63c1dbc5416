"""app.models.challenge: where the holdout starts, and how a verdict reads its scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.models.challenge import MIN_PAIRS, holdout_start, verdict
from app.training.documents import Challenge, DataSummary

END = datetime(2026, 12, 1, 12, tzinfo=UTC)


def summary(end: datetime, *, test_windows: int, interval: float = 60.0) -> DataSummary:
    return DataSummary(
        raw_points=1000,
        dropped_non_finite=0,
        merged_duplicates=0,
        slots=1000,
        filled=0,
        gaps=0,
        missing=0,
        sampling_interval_seconds=interval,
        series_start=end - timedelta(seconds=999 * interval),
        series_end=end,
        test_windows=test_windows,
    )


def test_the_holdout_starts_after_the_champions_data_and_the_challengers_validation() -> None:
    challenger = summary(END, test_windows=100)
    # The champion's data ended long before the challenger's test split: the test split is it.
    old = summary(END - timedelta(days=2), test_windows=100)
    assert holdout_start(old, challenger) == (END - timedelta(minutes=100)).timestamp()
    # A champion trained 30 minutes ago saw more of it: only what came after counts.
    recent = summary(END - timedelta(minutes=30), test_windows=100)
    assert holdout_start(recent, challenger) == (END - timedelta(minutes=30)).timestamp()


def test_the_challenger_must_beat_the_champion_by_the_margin_on_enough_pairs() -> None:
    held = Challenge(trigger="schedule", margin=0.1)
    start = END.timestamp()
    won = verdict(held, 50, 1.0, 0.9, start=start)
    assert won.promoted is True and won.pairs == 50 and "≤ 0.9" in (won.reason or "")
    lost = verdict(held, 50, 1.0, 0.95, start=start)
    assert (
        lost.promoted is False
        and lost.challenger_rmse == 0.95
        and "the champion stays" in (lost.reason or "")
    )
    few = verdict(held, MIN_PAIRS - 1, 1.0, 0.1, start=start)
    assert few.promoted is False and f"only {MIN_PAIRS - 1} holdout pairs" in (few.reason or "")
    undefined = verdict(held, 50, None, 0.1, start=start)
    assert undefined.promoted is False
