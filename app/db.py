"""MongoDB through PyMongo's async client (Motor is deprecated upstream) and Beanie."""

from __future__ import annotations

from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient

from app.auth.documents import ApiKeyDocument
from app.models.documents import ModelDocument
from app.training import storage
from app.training.documents import TrainingChunkDocument, TrainingJobDocument

DOCUMENTS = [ModelDocument, TrainingJobDocument, TrainingChunkDocument, ApiKeyDocument]


def connect_mongo(url: str, *, timeout_seconds: float) -> AsyncMongoClient[dict[str, Any]]:
    # Standard UUIDs and tz-aware datetimes: ids stay UUIDs and times stay UTC on the way back.
    return AsyncMongoClient(
        url,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=int(timeout_seconds * 1000),
        connectTimeoutMS=int(timeout_seconds * 1000),
        appname="chronos",
    )


async def init_documents(client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
    """Bind the documents and create missing indexes; existing indexes are never dropped."""
    await init_beanie(database=client[database], document_models=DOCUMENTS, allow_index_dropping=False)
    await storage.ensure_indexes()


__all__ = ["DOCUMENTS", "connect_mongo", "init_documents"]
