"""Where a job's bytes live: collected chunks, the regularised series, and artifacts in GridFS.

Artifacts go to the ``model_artifacts`` bucket with ``metadata.job_id``, so deleting a job finds
them by query (no list on the job can drift from what is stored). The regularised series between
preprocessing and training goes to ``training_series``: it is working data, removed when the job
ends. So is the training checkpoint in ``training_checkpoints``: one current file per job, written
after epochs by the execution holding the lease and read by a redelivered training step (which
may run on another host, so not the worker's disk). Nothing here is ever unpickled: arrays are raw
float64, checkpoints ``.npz`` read with ``allow_pickle=False``, and the rest is JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
from bson import Binary, ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from app.training.documents import Artifact, TrainingJobDocument
from app.training.repository import chunks

ARTIFACTS_BUCKET = "model_artifacts"
SERIES_BUCKET = "training_series"
CHECKPOINTS_BUCKET = "training_checkpoints"

FloatArray = npt.NDArray[np.float64]


def _database() -> Any:
    # The database Beanie bound the documents to: GridFS buckets live next to the jobs.
    return TrainingJobDocument.get_settings().pymongo_db


def _bucket(name: str) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(_database(), bucket_name=name)


def checksum(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def pack(array: npt.ArrayLike) -> Binary:
    return Binary(np.ascontiguousarray(array, dtype="<f8").tobytes())


def unpack(data: bytes | None) -> FloatArray:
    if not data:
        return np.empty(0, dtype=np.float64)
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


async def store_artifact(
    *, job_id: UUID, model_id: UUID, run: str, name: str, data: bytes, content_type: str
) -> Artifact:
    digest = checksum(data)
    file_id = await _bucket(ARTIFACTS_BUCKET).upload_from_stream(
        name,
        data,
        metadata={
            "job_id": str(job_id),
            "model_id": str(model_id),
            # Which execution wrote it: a run that loses its job removes its own files only.
            "run": run,
            "content_type": content_type,
            "checksum": digest,
        },
    )
    return Artifact(
        name=name, file_id=str(file_id), size_bytes=len(data), content_type=content_type, checksum=digest
    )


async def read_artifact(*, file_id: str) -> bytes:
    stream = await _bucket(ARTIFACTS_BUCKET).open_download_stream(ObjectId(file_id))
    data: bytes = await stream.read()
    return data


async def _delete_files(bucket_name: str, query: dict[str, Any]) -> int:
    bucket = _bucket(bucket_name)
    files = _database()[f"{bucket_name}.files"]
    deleted = 0
    async for entry in files.find(query, {"_id": 1}):
        # Two deleters may race for one file (a job deleted as its own step clears its working data):
        # gone is the goal, whoever removed it.
        with contextlib.suppress(NoFile):
            await bucket.delete(entry["_id"])
            deleted += 1
    return deleted


async def delete_artifacts(*, job_id: UUID, run: str | None = None, keep_run: str | None = None) -> int:
    """A job's artifacts: all of them, one run's (``run``), or all but one run's (``keep_run``)."""
    query: dict[str, Any] = {"metadata.job_id": str(job_id)}
    if run is not None:
        query["metadata.run"] = run
    if keep_run is not None:
        query["metadata.run"] = {"$ne": keep_run}
    return await _delete_files(ARTIFACTS_BUCKET, query)


async def delete_artifacts_except(*, job_id: UUID, file_ids: set[str]) -> int:
    """Files of the job that are not among its recorded artifacts (left by a run that died)."""
    keep = [ObjectId(file_id) for file_id in file_ids]
    return await _delete_files(ARTIFACTS_BUCKET, {"metadata.job_id": str(job_id), "_id": {"$nin": keep}})


async def ensure_indexes() -> None:
    """Lookups by job on the GridFS file collections (GridFS indexes only its own fields)."""
    database = _database()
    for bucket in (ARTIFACTS_BUCKET, SERIES_BUCKET, CHECKPOINTS_BUCKET):
        await database[f"{bucket}.files"].create_index("metadata.job_id", name="metadata_job_id")


async def store_series(*, job_id: UUID, run: str, values: FloatArray) -> str:
    data = np.ascontiguousarray(values, dtype="<f8").tobytes()
    file_id = await _bucket(SERIES_BUCKET).upload_from_stream(
        f"{job_id}.f8", data, metadata={"job_id": str(job_id), "run": run}
    )
    return str(file_id)


async def delete_series(*, file_id: str) -> None:
    with contextlib.suppress(NoFile):
        await _bucket(SERIES_BUCKET).delete(ObjectId(file_id))


async def read_series(*, file_id: str) -> FloatArray:
    stream = await _bucket(SERIES_BUCKET).open_download_stream(ObjectId(file_id))
    return unpack(await stream.read())


async def store_checkpoint(*, job_id: UUID, run: str, epoch: int, data: bytes) -> str:
    file_id = await _bucket(CHECKPOINTS_BUCKET).upload_from_stream(
        f"{job_id}-epoch-{epoch}.npz", data, metadata={"job_id": str(job_id), "run": run, "epoch": epoch}
    )
    return str(file_id)


async def read_checkpoint(*, file_id: str) -> bytes | None:
    """The checkpoint's bytes; None when it is gone (the job ended meanwhile)."""
    try:
        stream = await _bucket(CHECKPOINTS_BUCKET).open_download_stream(ObjectId(file_id))
    except NoFile:
        return None
    data: bytes = await stream.read()
    return data


async def delete_checkpoints(*, job_id: UUID, keep: str | None = None, only: str | None = None) -> int:
    """The job's checkpoints: all, all but ``keep`` (the one the job records), or ``only`` one."""
    query: dict[str, Any] = {"metadata.job_id": str(job_id)}
    if keep is not None:
        query["_id"] = {"$ne": ObjectId(keep)}
    if only is not None:
        query["_id"] = ObjectId(only)
    return await _delete_files(CHECKPOINTS_BUCKET, query)


async def delete_working_data(*, job_id: UUID) -> None:
    """Chunks, the intermediate series and checkpoints: needed only while the job runs."""
    await chunks.delete_chunks(job_id=job_id)
    await _delete_files(SERIES_BUCKET, {"metadata.job_id": str(job_id)})
    await _delete_files(CHECKPOINTS_BUCKET, {"metadata.job_id": str(job_id)})


async def working_data_owners() -> set[UUID]:
    """Jobs that have working data stored: chunks, a series or checkpoints."""
    owners = await chunks.chunk_owners()
    for bucket_name in (SERIES_BUCKET, CHECKPOINTS_BUCKET):
        found = await _database()[f"{bucket_name}.files"].distinct("metadata.job_id")
        owners.update(UUID(str(job_id)) for job_id in found)
    return owners


async def delete_job_files(*, job_id: UUID) -> None:
    await delete_working_data(job_id=job_id)
    await delete_artifacts(job_id=job_id)


__all__ = [
    "ARTIFACTS_BUCKET",
    "CHECKPOINTS_BUCKET",
    "SERIES_BUCKET",
    "checksum",
    "delete_artifacts",
    "delete_artifacts_except",
    "delete_checkpoints",
    "delete_job_files",
    "delete_series",
    "delete_working_data",
    "ensure_indexes",
    "pack",
    "read_artifact",
    "read_checkpoint",
    "read_series",
    "store_artifact",
    "store_checkpoint",
    "store_series",
    "unpack",
    "working_data_owners",
]
