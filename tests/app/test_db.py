from __future__ import annotations

from datetime import UTC
from typing import Any

from bson import Binary
from pymongo import AsyncMongoClient

from app.db import init_documents
from app.models import ModelDocument, ModelStatus, ModelType, TargetMode
from app.settings import Settings


def model(**changes: Any) -> ModelDocument:
    fields: dict[str, Any] = {
        "name": "LSTM - t",
        "model_type": ModelType.GRU,
        "rnn_layers": [{"units": 4}],
        "dense_layers": [],
        "lookback_window": 4,
        "forecast_horizon": 2,
        "target_mode": TargetMode.DELTA,
        "batch_size": 8,
        "epochs": 2,
        "learning_rate": 0.01,
        "validation_ratio": 0.2,
        "test_ratio": 0.2,
        "entity_type": "Sensor",
        "entity_id": "urn:1",
        "feature": "t",
        "fiware_service": "smart",
        "fiware_service_path": "/",
    }
    return ModelDocument(**{**fields, **changes})


async def test_indexes_are_created(mongo: AsyncMongoClient[dict[str, Any]], beanie_db: str) -> None:
    models = await mongo[beanie_db]["models"].index_information()
    assert {"status", "model_type", "entity_id", "feature", "created_at_desc"} <= set(models)
    assert models["created_at_desc"]["key"] == [("created_at", -1), ("_id", -1)]
    jobs = await mongo[beanie_db]["training_jobs"].index_information()
    assert jobs["model_id_created_at"]["key"] == [("model_id", 1), ("created_at", -1)]
    assert jobs["prediction_due"]["key"] == [
        ("prediction_config.enabled", 1),
        ("prediction_config.next_prediction_at", 1),
    ]


async def test_start_up_keeps_indexes_it_did_not_create(
    mongo: AsyncMongoClient[dict[str, Any]], beanie_db: str
) -> None:
    await mongo[beanie_db]["models"].create_index([("name", 1)], name="operator_added")
    await init_documents(mongo, beanie_db)
    assert "operator_added" in await mongo[beanie_db]["models"].index_information()


async def test_storage_shapes(
    mongo: AsyncMongoClient[dict[str, Any]], beanie_db: str, test_settings: Settings
) -> None:
    document = model()
    await document.insert()
    raw = await mongo[beanie_db]["models"].find_one({})
    assert raw is not None
    assert raw["_id"] == document.id  # standard UUID representation round-trips
    # A client with no UUID representation shows what is really stored.
    plain: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(test_settings.mongo_url)
    try:
        untyped = await plain[beanie_db]["models"].find_one({})
    finally:
        await plain.close()
    assert untyped is not None
    assert isinstance(untyped["_id"], Binary) and untyped["_id"].subtype == 4
    assert untyped["model_type"] == "GRU" and untyped["status"] == "DRAFT"
    assert untyped["target_mode"] == "DELTA"

    loaded = await ModelDocument.get(document.id)
    assert loaded is not None
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == UTC.utcoffset(None)
    assert loaded.created_at == document.created_at
    assert loaded.status is ModelStatus.DRAFT
