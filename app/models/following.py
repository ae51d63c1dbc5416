"""Following models live: every event of one model (or of every model in the caller's tenants)
while the caller listens. Events carry no state to resync: ``Model.monitoring``,
``Model.retraining`` and the jobs' ``challenge`` are the record."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from uuid import UUID

from app.auth.tenancy import TenantScope
from app.errors import NotFound
from app.models.documents import ModelDocument
from app.models.events import MODELS_CHANNEL, ModelEvent
from app.models.service import visible
from app.training.hub import ProgressHub


async def follow_models(
    *, model_id: UUID | None, scope: TenantScope, hub: ProgressHub
) -> AsyncGenerator[ModelEvent, None]:
    """Events of ``model_id`` (NOT_FOUND when not visible), or of every visible model."""
    async with hub.listen(MODELS_CHANNEL) as listener:
        if model_id is not None and visible(await ModelDocument.get(model_id), scope) is None:
            raise NotFound(f"model {model_id} does not exist", field=("modelId",))
        while True:
            item = await listener.get()
            if not isinstance(item, ModelEvent):
                continue
            if model_id is not None and item.model_id != model_id:
                continue
            if scope.allows(item.service, item.service_path):
                yield item


__all__ = ["follow_models"]
