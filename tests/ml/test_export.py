"""The ONNX form forecasts what the Keras network forecasts, without TensorFlow at serving time."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest

from ml.export import keras_bytes, onnx_bytes
from ml.network import Cell, NetworkSpec, RecurrentLayer
from ml.training import FitSettings, fit
from tests.ml.test_training import HORIZON, LOOKBACK, sine_windows


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_onnx_output_equals_keras_output(cell: Cell) -> None:
    spec = NetworkSpec(cell=cell, lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(4),))
    settings = FitSettings(batch_size=16, epochs=2, patience=0, jit_compile=False)
    model, _ = fit(spec, sine_windows(48), sine_windows(16), settings=settings)
    x = sine_windows(7, phase=0.3)[0]

    session = ort.InferenceSession(onnx_bytes(model, lookback=LOOKBACK), providers=["CPUExecutionProvider"])
    [onnx_out] = session.run(None, {session.get_inputs()[0].name: x})
    keras_out = model.predict(x, verbose=0)
    assert onnx_out.shape == (7, HORIZON)
    np.testing.assert_allclose(onnx_out, keras_out, rtol=1e-5, atol=1e-6)


def test_keras_bytes_are_a_loadable_archive() -> None:
    import zipfile

    spec = NetworkSpec(cell="LSTM", lookback=LOOKBACK, horizon=HORIZON, recurrent=(RecurrentLayer(2),))
    settings = FitSettings(batch_size=16, epochs=1, patience=0, jit_compile=False)
    model, _ = fit(spec, sine_windows(16), sine_windows(8), settings=settings)
    archive = zipfile.ZipFile(io.BytesIO(keras_bytes(model)))
    assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
