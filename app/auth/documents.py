"""Beanie document of an API key (collection ``api_keys``): a hash of the secret, never the secret."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar
from uuid import UUID, uuid4

import pymongo
from beanie import Document
from pydantic import BaseModel, Field
from pymongo import IndexModel

from app.auth.roles import Role
from app.timeutil import utcnow


class TenantEntry(BaseModel):
    service: str
    service_path: str


class ApiKeyDocument(Document):
    id: UUID = Field(default_factory=uuid4)  # type: ignore[assignment]
    name: str
    # The first characters of the key, so people can tell keys apart in listings and logs.
    prefix: str
    secret_hash: str
    role: Role
    tenants: list[TenantEntry]
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None

    class Settings:
        name = "api_keys"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("secret_hash", pymongo.ASCENDING)], name="secret_hash", unique=True),
            IndexModel([("created_at", pymongo.DESCENDING)], name="created_at_desc"),
        ]


__all__ = ["ApiKeyDocument", "TenantEntry"]
