"""Training on a tiny network: the loop, its reports, cancellation and the horizon-wide output."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest

from ml.network import Cell, NetworkSpec, RecurrentLayer
from ml.training import FitSettings, ProgressEvent, fit

LOOKBACK, HORIZON = 12, 3


def sine_windows(n: int, *, phase: float = 0.0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    z = np.sin(np.arange(n + LOOKBACK + HORIZON) / 4 + phase).astype(np.float32)
    x = np.stack([z[i : i + LOOKBACK] for i in range(n)])[..., None]
    y = np.stack([z[i + LOOKBACK : i + LOOKBACK + HORIZON] for i in range(n)])
    return x, y


SPEC = NetworkSpec(cell="LSTM", lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(4),))
QUICK = FitSettings(batch_size=16, epochs=3, patience=0, jit_compile=False, batch_every=2, learning_rate=0.01)


def test_fit_reports_epochs_and_batches_and_predicts_every_step() -> None:
    events: list[ProgressEvent] = []
    model, result = fit(
        SPEC, sine_windows(64), sine_windows(32, phase=1.0), settings=QUICK, progress=events.append
    )
    assert result.epochs_run == 3 and len(result.loss) == 3 and len(result.val_loss) == 3
    val_loss = [value for value in result.val_loss if value is not None]
    assert len(val_loss) == 3
    assert result.best_epoch == int(np.argmin(val_loss)) + 1
    assert result.best_val_loss == min(val_loss)
    assert not result.cancelled and result.samples_per_second and result.samples_per_second > 0
    epochs = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epochs] == [1, 2, 3] and all(e.val_loss is not None for e in epochs)
    batches = [e for e in events if e.kind == "batch"]
    assert [(e.epoch, e.batch) for e in batches] == [(epoch, b) for epoch in (1, 2, 3) for b in (2, 4)]
    assert all(e.batches == 4 and e.total_epochs == 3 for e in events)
    assert model.predict(sine_windows(5)[0], verbose=0).shape == (5, HORIZON)


def test_should_stop_cancels_within_the_first_batch() -> None:
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return True

    _, result = fit(SPEC, sine_windows(64), sine_windows(16), settings=QUICK, should_stop=stop)
    assert result.cancelled and result.epochs_run == 1 and len(calls) >= 1


def test_early_stopping_keeps_the_best_epoch() -> None:
    settings = FitSettings(batch_size=16, epochs=30, patience=2, jit_compile=False, learning_rate=0.05)
    _, result = fit(SPEC, sine_windows(64), sine_windows(32, phase=1.0), settings=settings)
    assert result.best_epoch is not None and result.best_epoch <= result.epochs_run <= 30
    if result.epochs_run < 30:
        assert result.epochs_run - result.best_epoch == 2, "stopped `patience` epochs after the best"


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_stacked_layers_and_xla_build(cell: Cell) -> None:
    spec = NetworkSpec(cell=cell, lookback=LOOKBACK, horizon=HORIZON,
                       recurrent=(RecurrentLayer(4), RecurrentLayer(3, dropout=0.1)))  # fmt: skip
    settings = FitSettings(batch_size=32, epochs=1, patience=0, jit_compile=True)
    model, result = fit(spec, sine_windows(32), sine_windows(8), settings=settings)
    assert result.epochs_run == 1
    assert [layer.name for layer in model.layers][1:3] == [f"{cell.lower()}_0", f"{cell.lower()}_1"]


def test_importing_ml_does_not_import_tensorflow() -> None:
    # A worker that forks after TensorFlow ran hangs (ml-notes §5): importing must not load it.
    code = "import sys, ml, ml.network, ml.training; assert 'tensorflow' not in sys.modules, 'loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
