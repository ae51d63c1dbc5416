"""Loaded forecasters per API process: a bounded LRU of ONNX sessions, keyed by job.

Loading means two GridFS reads and an ONNX session (a few milliseconds); forecasting with a loaded
one costs about 0.05 ms. So sessions stay loaded, the least recently used going first, and a job's
entry goes when the job (or its model) is deleted.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from uuid import UUID

from app.errors import Conflict
from app.models.enums import TargetMode
from app.training import storage
from app.training.documents import TrainingJobDocument
from ml.preprocess import Scaler
from ml.serving import OnnxForecaster

DEFAULT_SIZE = 64


class Forecasters:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._loaded: OrderedDict[UUID, tuple[UUID, OnnxForecaster]] = OrderedDict()
        self._loading: dict[UUID, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._loaded)

    async def get(self, job: TrainingJobDocument) -> OnnxForecaster:
        found = self._loaded.get(job.id)
        if found is not None:
            self._loaded.move_to_end(job.id)
            return found[1]
        # One load per job however many requests arrive at once.
        lock = self._loading.setdefault(job.id, asyncio.Lock())
        async with lock:
            found = self._loaded.get(job.id)
            if found is None:
                found = (job.model_id, await _load(job))
                self._loaded[job.id] = found
                while len(self._loaded) > self.size:
                    self._loaded.popitem(last=False)
        self._loading.pop(job.id, None)
        return found[1]

    def forget_job(self, job_id: UUID) -> None:
        self._loaded.pop(job_id, None)

    def forget_model(self, model_id: UUID) -> None:
        for job_id in [job for job, (model, _) in self._loaded.items() if model == model_id]:
            del self._loaded[job_id]


async def _load(job: TrainingJobDocument) -> OnnxForecaster:
    files = {artifact.name: artifact for artifact in job.artifacts}
    if "model.onnx" not in files or "scaler.json" not in files:
        raise Conflict(f"training job {job.id} has no ONNX model or scaler stored", field=("trainingJobId",))
    onnx = await storage.read_artifact(file_id=files["model.onnx"].file_id)
    scaler = Scaler.from_json(json.loads(await storage.read_artifact(file_id=files["scaler.json"].file_id)))
    # Building the session parses and optimises the graph: off the event loop.
    return await asyncio.to_thread(
        OnnxForecaster,
        onnx,
        scaler,
        lookback=job.config.lookback_window,
        delta=job.config.target_mode is TargetMode.DELTA,
        channels=tuple(job.input_channels),
    )


__all__ = ["DEFAULT_SIZE", "Forecasters"]
