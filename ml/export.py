"""Serialised forms of a trained network: Keras (``.keras``) and ONNX, as bytes for storage.

The ONNX form lets a process forecast with ONNX Runtime alone, without TensorFlow: one forecast of
an LSTM-32 (input 1 × 48 × 1, 12 outputs) took 0.052 ms (median, one intra-op thread) against
1.26 ms for a ``tf.function`` and 45 ms for ``model.predict`` on 2 vCPUs (``bench/predict_latency.py``
measures the served path). Export needs ``tf2onnx`` and ``onnx``; serving needs only ``onnxruntime``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras


def keras_bytes(model: keras.Model) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def onnx_bytes(model: keras.Model, *, lookback: int, channels: int = 1) -> bytes:
    # Keras exports only a model that has run once (its input signature is fixed by that call).
    model.predict(np.zeros((1, lookback, channels), dtype=np.float32), verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        model.export(str(path), format="onnx", verbose=False)
        return path.read_bytes()


__all__ = ["keras_bytes", "onnx_bytes"]
