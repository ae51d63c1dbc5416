"""Training progress against the epoch early stopping is expected to end with, not the maximum."""

from __future__ import annotations

import pytest

from app.training import progress
from app.training.progress import TRAINING, TrainingCourse
from ml.training import expected_last_epoch

TOTAL, PATIENCE, BEST = 50, 5, 18  # val_loss stops improving at epoch 18: training ends after 23


def run_epochs(course: TrainingCourse, last: int, *, best_until: int = BEST) -> list[dict[str, object]]:
    """Epoch-end progress of epochs ``course.done + 1 .. last``, one second each."""
    shown = []
    for epoch in range(int(course.done) + 1, last + 1):
        best = min(epoch, best_until)
        expected = expected_last_epoch(total=TOTAL, patience=PATIENCE, best_epoch=best)
        course.epoch_seconds.append(1.0)
        share = course.advance(float(epoch), expected)
        shown.append(
            progress.training(
                epoch=epoch, total_epochs=TOTAL, expected_last_epoch=expected, best_epoch=best, share=share,
                loss=0.1, val_loss=0.2,
                eta_seconds=course.eta_seconds(expected_last_epoch=expected, seconds_in_epoch=1.0),
            )
        )  # fmt: skip
    return shown


def test_early_stopping_ends_training_at_the_end_of_its_span_without_a_jump() -> None:
    shown = run_epochs(TrainingCourse(), BEST + PATIENCE)
    fractions = [float(str(values["progress.fraction"])) for values in shown]
    assert fractions == sorted(fractions)
    # The last epoch early stopping runs is the end of training: nothing is left to jump over.
    assert fractions[-1] == TRAINING[1]
    # No step is larger than one epoch of the patience window's worth of what remains.
    steps = [b - a for a, b in zip([TRAINING[0], *fractions], fractions, strict=False)]
    assert max(steps) <= (TRAINING[1] - TRAINING[0]) / (PATIENCE + 1) + 1e-4
    assert [values["progress.expected_last_epoch"] for values in shown][-6:] == [23] * 6
    assert all(values["progress.total_epochs"] == TOTAL for values in shown)


def test_eta_counts_the_epochs_to_the_expected_end() -> None:
    shown = run_epochs(TrainingCourse(), 20)
    # After epoch 20, with the best at 18: three one-second epochs to go, not thirty.
    assert shown[-1]["progress.eta_seconds"] == 3.0
    assert shown[-1]["progress.message"] == (
        "epoch 20 of at most 50; early stopping expected after epoch 23 unless val_loss improves"
    )


def test_the_fraction_never_goes_back_when_val_loss_improves_again() -> None:
    course = TrainingCourse()
    early = run_epochs(course, 8, best_until=3)  # expected to stop after epoch 8
    assert early[-1]["progress.message"] == (
        "epoch 8 of at most 50: early stopping after this epoch (best val_loss at epoch 3)"
    )
    # Epoch 9 never came in that story; here val_loss improves at 9 and pushes the end to 14.
    later = run_epochs(course, 14, best_until=9)
    fractions = [float(str(values["progress.fraction"])) for values in [*early, *later]]
    assert fractions == sorted(fractions) and fractions[-1] == TRAINING[1]


def test_within_an_epoch_the_eta_uses_the_epoch_so_far_until_one_was_timed() -> None:
    course = TrainingCourse()
    course.advance(0.25, 10)
    # A quarter of the first epoch in 2 s: 8 s an epoch, 9.75 epochs to go.
    assert course.eta_seconds(expected_last_epoch=10, seconds_in_epoch=2.0) == pytest.approx(78.0)
    assert TrainingCourse().eta_seconds(expected_last_epoch=10, seconds_in_epoch=0.0) is None


def test_a_resumed_execution_starts_from_the_fraction_the_job_showed() -> None:
    course = TrainingCourse.resumed(epochs_done=10, fraction=0.65)
    assert course.done == 10 and course.share == pytest.approx(0.5)
    shown = run_epochs(course, BEST + PATIENCE)
    fractions = [float(str(values["progress.fraction"])) for values in shown]
    assert fractions[0] > 0.65 and fractions == sorted(fractions) and fractions[-1] == TRAINING[1]
