"""The slot grid: where a job stands when the scheduler looks, and which slots it missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.predictions.slots import RECENT_MISSES, late, position, step_of

ANCHOR = datetime(2026, 3, 1, 12, 0, 0, 123_000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_on_time_the_due_slot_runs_and_nothing_is_missed() -> None:
    where = position(ANCHOR, ANCHOR + timedelta(seconds=20), MINUTE)
    assert (where.current, where.missed, where.next) == (ANCHOR, 0, ANCHOR + MINUTE)
    assert where.missed_slots() == []


def test_behind_by_ten_and_a_half_slots_the_current_one_runs_and_ten_are_missed() -> None:
    where = position(ANCHOR, ANCHOR + 10.5 * MINUTE, MINUTE)
    assert where.current == ANCHOR + 10 * MINUTE
    assert where.missed == 10 and where.next == ANCHOR + 11 * MINUTE
    assert where.missed_slots() == [ANCHOR + k * MINUTE for k in range(10)]


def test_exactly_on_a_later_slot_boundary_that_slot_is_current() -> None:
    where = position(ANCHOR, ANCHOR + 3 * MINUTE, MINUTE)
    assert (where.current, where.missed) == (ANCHOR + 3 * MINUTE, 3)


def test_a_long_outage_lists_only_the_newest_slots() -> None:
    where = position(ANCHOR, ANCHOR + 5000 * MINUTE + timedelta(seconds=1), MINUTE)
    assert where.missed == 5000
    listed = where.missed_slots()
    assert len(listed) == RECENT_MISSES
    assert listed[0] == ANCHOR + (5000 - RECENT_MISSES) * MINUTE and listed[-1] == ANCHOR + 4999 * MINUTE


def test_steps_are_whole_milliseconds_so_the_grid_never_drifts() -> None:
    assert step_of(2.3456) == timedelta(milliseconds=2346)
    assert step_of(900) == timedelta(seconds=900)
    assert step_of(1e-9) == timedelta(milliseconds=1)
    step = step_of(2.345)
    slot = position(ANCHOR, ANCHOR + 1000 * step, step).current
    assert slot == ANCHOR + 1000 * step and slot.microsecond % 1000 == 0


def test_a_run_is_late_once_the_next_slot_is_due() -> None:
    assert not late(ANCHOR, MINUTE, ANCHOR + MINUTE - timedelta(milliseconds=1))
    assert late(ANCHOR, MINUTE, ANCHOR + MINUTE)
