"""app.models.policy: every problem of a retraining policy at its field; cron read in its zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.errors import ValidationFailed
from app.models.policy import (
    DataWindow,
    DriftRule,
    RetrainingPolicy,
    RetrainingSchedule,
    check_policy,
    next_fire,
)

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)


def problems(policy: RetrainingPolicy) -> list[tuple[tuple[str, ...], str]]:
    with pytest.raises(ValidationFailed) as caught:
        check_policy(policy, now=NOW)
    return [(tuple(error.field or ()), error.message) for error in caught.value.errors]


def test_a_valid_policy_passes_and_its_defaults_are_safe() -> None:
    check_policy(RetrainingPolicy(), now=NOW)
    check_policy(RetrainingPolicy(schedule=RetrainingSchedule(cron="*/15 * * * 1-5")), now=NOW)
    assert RetrainingPolicy().drift.retrain is False and RetrainingPolicy().promotion_margin == 0.0


def test_every_problem_is_reported_at_its_field() -> None:
    policy = RetrainingPolicy(
        schedule=RetrainingSchedule(interval_seconds=5.0),
        data_window=DataWindow(last_n=0),
        promotion_margin=-0.1,
        drift=DriftRule(factor=1.0, sustain_seconds=-1, window_seconds=0),
    )
    fields = [field for field, _ in problems(policy)]
    assert fields == [
        ("input", "schedule", "intervalSeconds"),
        ("input", "dataWindow", "lastN"),
        ("input", "promotionMargin"),
        ("input", "drift", "factor"),
        ("input", "drift", "sustainSeconds"),
        ("input", "drift", "windowSeconds"),
    ]


@pytest.mark.parametrize(
    ("schedule", "field", "text"),
    [
        (RetrainingSchedule(cron="0 0 30 2 *"), "cron", "never fires"),
        (RetrainingSchedule(cron="61 * * * *"), "cron", "not a valid cron"),
        (RetrainingSchedule(cron="@daily"), "cron", "five-field"),
        (RetrainingSchedule(cron="0 3 * * *", time_zone="Europe/Atlantis"), "timeZone", "unknown IANA"),
        (RetrainingSchedule(), None, "exactly one"),
        (RetrainingSchedule(interval_seconds=3600, cron="0 * * * *"), None, "exactly one"),
    ],
)
def test_schedules_that_cannot_work_are_refused(
    schedule: RetrainingSchedule, field: str | None, text: str
) -> None:
    [(path, message)] = problems(RetrainingPolicy(schedule=schedule))
    assert path == ("input", "schedule", *([field] if field else [])) and text in message


def test_both_window_kinds_at_once_are_refused() -> None:
    [(path, _)] = problems(RetrainingPolicy(data_window=DataWindow(last_n=100, duration_seconds=3600)))
    assert path == ("input", "dataWindow")


def test_cron_keeps_local_time_across_a_daylight_saving_change() -> None:
    madrid = RetrainingSchedule(cron="0 3 * * *", time_zone="Europe/Madrid")
    # 03:00 CET is 02:00 UTC; after the spring change 03:00 CEST is 01:00 UTC.
    assert next_fire(madrid, after=datetime(2026, 3, 27, 12, tzinfo=UTC)) == datetime(
        2026, 3, 28, 2, tzinfo=UTC
    )
    assert next_fire(madrid, after=NOW) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    every = RetrainingSchedule(interval_seconds=600)
    assert next_fire(every, after=NOW) == datetime(2026, 3, 28, 12, 10, tzinfo=UTC)


def test_a_test_setting_may_lower_the_shortest_interval() -> None:
    quick = RetrainingPolicy(schedule=RetrainingSchedule(interval_seconds=2))
    check_policy(quick, now=NOW, min_interval=1)
    with pytest.raises(ValidationFailed):
        check_policy(quick, now=NOW)
