"""Model queries."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.models import service as model_service
from schema.context import Info
from schema.models.inputs import ModelFilterInput
from schema.models.types import MODEL_TYPE_INFOS, Model, ModelConnection, ModelId, ModelTypeInfo


@strawberry.type
class ModelQueries:
    @strawberry.field(description="The model types Chronos can train.")
    def model_types(self) -> list[ModelTypeInfo]:
        return MODEL_TYPE_INFOS

    @strawberry.field(
        description=(
            "Models, newest first, in pages of at most 100. Stable under concurrent inserts: "
            "walking pages with `after` never repeats or skips a model."
        )
    )
    async def models(
        self,
        info: Info,
        filter: Annotated[  # noqa: A002 - the GraphQL argument name
            ModelFilterInput | None, strawberry.argument(description="Criteria every returned model meets.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="Page size, 0-100.")] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="`endCursor` of the previous page.")
        ] = None,
    ) -> ModelConnection:
        model_filter = filter.to_filter() if filter else model_service.ModelFilter()
        page = await model_service.list_models(
            model_filter=model_filter, first=first, after=after, scope=info.context.scope
        )
        return ModelConnection.from_page(page)

    @strawberry.field(description="One model by id; null when there is none.")
    async def model(
        self,
        info: Info,
        id: ModelId,  # noqa: A002
    ) -> Model | None:
        document = await model_service.get_model(model_id=id, scope=info.context.scope)
        return Model.from_document(document) if document else None


__all__ = ["ModelQueries"]
