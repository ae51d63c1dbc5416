"""The training step's pure parts: the network it builds, what a completed job records, and the
monitor that turns Keras events into throttled heartbeats (no TensorFlow, no database)."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest

from app.models.enums import ModelType, TargetMode
from app.training import fitting, progress
from app.training.documents import Artifact, TrainingConfig, TrainingMetrics, TrainingStatus
from app.training.fitting import completion_values, loss_history, pipeline_config
from app.training.repository import lifecycle
from ml.pipeline import DataSummary, TrainingOutcome
from ml.preprocess import Scaler
from ml.training import FitResult, ProgressEvent
from ml.windows import SplitSizes

CONFIG = TrainingConfig(
    model_type=ModelType.LSTM, rnn_layers=[{"units": 8, "dropout": 0.1}], dense_layers=[{"units": 4}],
    lookback_window=8, forecast_horizon=2, target_mode=TargetMode.DELTA, batch_size=16, epochs=5,
    learning_rate=0.01, validation_ratio=0.15, test_ratio=0.15, early_stopping_patience=2,
    entity_type="Sensor", entity_id="urn:s", feature="t", fiware_service="smart", fiware_service_path="/",
)  # fmt: skip


def test_the_network_follows_the_jobs_configuration() -> None:
    built = pipeline_config(CONFIG)
    assert built.network.cell == "LSTM" and (built.network.lookback, built.network.horizon) == (8, 2)
    assert [(layer.units, layer.dropout) for layer in built.network.recurrent] == [(8, 0.1)]
    assert [layer.units for layer in built.network.dense] == [4]
    assert built.delta and (built.fit.batch_size, built.fit.epochs, built.fit.patience) == (16, 5, 2)
    gru = pipeline_config(CONFIG.model_copy(update={"model_type": ModelType.GRU}))
    assert gru.network.cell == "GRU"


def test_the_loss_history_numbers_epochs_from_one() -> None:
    assert loss_history([0.5, 0.25], [None, 0.3]) == [
        {"epoch": 1, "loss": 0.5, "val_loss": None},
        {"epoch": 2, "loss": 0.25, "val_loss": 0.3},
    ]
    with pytest.raises(ValueError):
        loss_history([0.5], [])


def test_a_completed_job_records_scores_history_artifacts_and_the_end_of_progress() -> None:
    windows = SplitSizes(train=30, validation=5, test=4)
    summary = DataSummary(
        points=60, observed=60, filled=0, gaps=0, missing=0, raw_points=60, dropped_non_finite=0,
        merged_duplicates=0, interval_seconds=60.0, start=0.0, end=3540.0,
        split_points=SplitSizes(42, 9, 9), windows=windows,
    )  # fmt: skip
    outcome = TrainingOutcome(
        fit=FitResult(loss=[0.5, 0.4], val_loss=[0.6, 0.5]),
        metrics=None,
        scaler=Scaler(mean=0.0, scale=1.0),
        summary=summary,
        keras=b"k",
        onnx=b"o",
    )
    artifact = Artifact(
        name="model.onnx", file_id="f", size_bytes=1, content_type="application/onnx", checksum="c"
    )
    values = completion_values(outcome, TrainingMetrics(best_epoch=2), [artifact])
    assert values["history"] == loss_history([0.5, 0.4], [0.6, 0.5])
    assert values["artifacts"] == [artifact.model_dump()]
    assert (values["summary.train_windows"], values["summary.test_windows"]) == (30, 4)
    assert values["progress.fraction"] == 1.0 and values["checkpoint"] is None
    assert values["metrics"]["best_epoch"] == 2


class Beats:
    """A stand-in for ``lifecycle.heartbeat`` and the worker's runner, with a clock of its own."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answer = True
        self.now = 100.0

    async def heartbeat(self, **call: Any) -> bool:
        self.calls.append(call)
        return self.answer

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        raise AssertionError("the fake awaited something")


@pytest.fixture
def beats(monkeypatch: pytest.MonkeyPatch) -> Beats:
    fake = Beats()
    monkeypatch.setattr(lifecycle, "heartbeat", fake.heartbeat)
    monkeypatch.setattr(fitting, "time", SimpleNamespace(monotonic=lambda: fake.now))
    return fake


def event(kind: str, epoch: int, batch: int | None = None) -> ProgressEvent:
    return ProgressEvent(
        kind=kind, epoch=epoch, total_epochs=5, batch=batch, batches=10, loss=0.5, val_loss=0.4,
        samples_per_second=None, expected_last_epoch=5, epoch_seconds=2.0,
    )  # fmt: skip


def monitor(beats: Beats) -> Any:
    return fitting._Monitor(uuid4(), "run-1", beats.run, progress.TrainingCourse())


def sent(call: Mapping[str, Any]) -> dict[str, Any]:
    return dict(call["values"])


def test_batches_beat_at_most_once_a_second_and_nothing_is_lost_in_between(beats: Beats) -> None:
    watching = monitor(beats)
    watching.on_event(event("batch", 1, batch=2))
    watching.on_event(event("batch", 1, batch=4))
    assert len(beats.calls) == 1 and beats.calls[0]["status"] is TrainingStatus.TRAINING
    beats.now += fitting.HEARTBEAT_EVERY_SECONDS
    assert not watching.should_stop()
    assert len(beats.calls) == 2 and sent(beats.calls[1])["progress.epoch"] == 1  # the held values


def test_every_epoch_beats_with_its_loss_pushed_to_the_history(beats: Beats) -> None:
    watching = monitor(beats)
    watching.on_event(event("epoch", 1))
    watching.on_event(event("epoch", 2))
    assert [call["push"] for call in beats.calls] == [
        {"history": {"epoch": 1, "loss": 0.5, "val_loss": 0.4}},
        {"history": {"epoch": 2, "loss": 0.5, "val_loss": 0.4}},
    ]
    assert sent(beats.calls[1])["epochs_by_run.run-1"] == 2
    assert watching.course.epoch_seconds == [2.0, 2.0]


def test_a_refused_heartbeat_stops_training_and_its_checkpoints(beats: Beats) -> None:
    watching = monitor(beats)
    beats.answer = False
    assert watching.should_stop()
    watching.checkpoint(SimpleNamespace())  # a lost run stores nothing: the runner is not called
    assert len(beats.calls) == 1
