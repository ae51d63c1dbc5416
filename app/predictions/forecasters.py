"""Loaded forecasters per process: a bounded LRU of ONNX sessions, keyed by the network they load.

Loading means two GridFS reads and an ONNX session (a few milliseconds); forecasting with a loaded
one costs about 0.05 ms. So sessions stay loaded, the least recently used going first. A session is
keyed by what it is built from (the ``model.onnx`` and ``scaler.json`` files and how windows are fed
to it), not by the job: jobs whose documents point at the same artifacts share one session, and a
batch of their windows runs as one forward pass (:mod:`app.predictions.batch`). A job's entry goes
when the job (or its model) is deleted, and its session with it unless another job still uses it.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from uuid import UUID

from gridfs.errors import NoFile

from app.errors import Conflict, NotFound
from app.models.enums import TargetMode
from app.training import storage
from app.training.documents import TrainingJobDocument
from ml.preprocess import Scaler
from ml.serving import OnnxForecaster

DEFAULT_SIZE = 64

# The ONNX file, the scaler file, the lookback, delta targets and the calendar channels.
SessionKey = tuple[str, str, int, bool, tuple[str, ...]]


def session_key(job: TrainingJobDocument) -> SessionKey:
    """What the job's session is built from; CONFLICT when the job stored no network to serve."""
    files = {artifact.name: artifact.file_id for artifact in job.artifacts}
    if "model.onnx" not in files or "scaler.json" not in files:
        raise Conflict(f"training job {job.id} has no ONNX model or scaler stored", field=("trainingJobId",))
    return (
        files["model.onnx"],
        files["scaler.json"],
        job.config.lookback_window,
        job.config.target_mode is TargetMode.DELTA,
        tuple(job.input_channels),
    )


class Forecasters:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._loaded: OrderedDict[SessionKey, OnnxForecaster] = OrderedDict()
        self._loading: dict[SessionKey, asyncio.Lock] = {}
        # Which session each job used, and the job's model: what forgetting a job or model drops.
        self._jobs: dict[UUID, tuple[UUID, SessionKey]] = {}

    def __len__(self) -> int:
        return len(self._loaded)

    async def get(self, job: TrainingJobDocument) -> OnnxForecaster:
        key = session_key(job)
        self._jobs[job.id] = (job.model_id, key)
        found = self._loaded.get(key)
        if found is not None:
            self._loaded.move_to_end(key)
            return found
        # One load per network however many requests (or jobs sharing it) arrive at once.
        lock = self._loading.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._loaded.get(key)
            if found is None:
                found = await _load(job, key)
                self._loaded[key] = found
                while len(self._loaded) > self.size:
                    self._loaded.popitem(last=False)
        self._loading.pop(key, None)
        return found

    def forget_job(self, job_id: UUID) -> None:
        entry = self._jobs.pop(job_id, None)
        if entry is not None:
            self._drop_unused(entry[1])

    def forget_model(self, model_id: UUID) -> None:
        for job_id in [job for job, (model, _) in self._jobs.items() if model == model_id]:
            self.forget_job(job_id)

    def _drop_unused(self, key: SessionKey) -> None:
        if all(used != key for _, used in self._jobs.values()):
            self._loaded.pop(key, None)


async def _load(job: TrainingJobDocument, key: SessionKey) -> OnnxForecaster:
    onnx_id, scaler_id, lookback, delta, channels = key
    try:
        onnx = await storage.read_artifact(file_id=onnx_id)
        scaler = Scaler.from_json(json.loads(await storage.read_artifact(file_id=scaler_id)))
    except NoFile as error:
        # Removed under the job (its deletion under way, or by hand): it can never forecast again.
        raise NotFound(f"training job {job.id}'s stored network is gone", field=("trainingJobId",)) from error
    # Building the session parses and optimises the graph: off the event loop.
    return await asyncio.to_thread(
        OnnxForecaster, onnx, scaler, lookback=lookback, delta=delta, channels=channels
    )


__all__ = ["DEFAULT_SIZE", "Forecasters", "SessionKey", "session_key"]
