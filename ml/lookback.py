"""The lookback a model gets when it leaves it unset: long enough to see its longest season.

A network can only use a seasonal pattern it can see: with 48 steps of an hourly series it sees
two days, and a weekly pattern (168 steps) is invisible to it, so it loses to the weekly seasonal
naive forecast. The lookback chosen is the longest confirmed season (see
:mod:`ml.seasonality`) that fits under :data:`MAX_AUTO_LOOKBACK`, never below :data:`BASE_LOOKBACK`,
and never so long that the validation or test split keeps fewer than half its points as windows
(a season longer than that is left out, not half-seen).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.seasonality import Season, detect_seasons
from ml.series import Regular
from ml.windows import split_sizes

__all__ = ["BASE_LOOKBACK", "MAX_AUTO_LOOKBACK", "Lookback", "choose_lookback"]

BASE_LOOKBACK = 48
# A week of half-hours: a weekly season at 30 min is still seen whole; an LSTM's cost grows linearly
# with the lookback, so a 5-minute week (2,016 steps) is not attempted.
MAX_AUTO_LOOKBACK = 336


@dataclass(frozen=True)
class Lookback:
    steps: int
    reason: str


def choose_lookback(
    regular: Regular, *, horizon: int, validation_ratio: float, test_ratio: float
) -> Lookback:
    """The lookback for ``regular``, from the seasons the data before its test split confirms."""
    sizes = split_sizes(len(regular.values), validation_ratio, test_ratio)
    seasons = detect_seasons(regular.values[: sizes.train + sizes.validation], regular.interval)
    # Half of the smaller held-out split must remain as windows: L + H - 1 <= split / 2.
    room = min(sizes.validation, sizes.test) // 2 - horizon + 1
    fitting = [s for s in seasons if s.period <= min(MAX_AUTO_LOOKBACK, room)]
    longest = max(fitting, key=lambda season: season.period, default=None)
    if longest is None or longest.period <= BASE_LOOKBACK:
        return Lookback(BASE_LOOKBACK, _why_base(seasons, longest, room))
    return Lookback(
        longest.period,
        f"covers the {longest.name} season ({longest.period} steps, strength {longest.strength:.2f})",
    )


def _why_base(seasons: list[Season], longest: Season | None, room: int) -> str:
    if longest is not None:
        season = f"{longest.name} season ({longest.period} steps)"
        return f"the default {BASE_LOOKBACK} steps already cover the {season}"
    if not seasons:
        return f"the default {BASE_LOOKBACK} steps: no daily or weekly season was confirmed"
    names = ", ".join(f"{s.name} ({s.period} steps)" for s in seasons)
    limit = min(MAX_AUTO_LOOKBACK, room)
    return f"the default {BASE_LOOKBACK} steps: {names} longer than the {limit} the data and the cap allow"
