"""GraphQL inputs of fleet bulk operations and their conversion to service arguments; the template's
configuration fields are derived from ``app.models.config``, as ``CreateModelInput``'s are."""

from __future__ import annotations

from typing import Any

import strawberry

from app.fleet.bulk import MAX_ITEMS
from app.fleet.selection import DEFAULT_PAGE, Selection
from app.fleet.service import FleetRequest
from app.fleet.template import Template, TemplateFields
from app.settings import Settings
from fiware.http import Tenant
from schema.derive import from_graphql, input_fields
from schema.models.inputs import LAYER_INPUTS
from schema.training.inputs import StartTrainingInput

# Fields a template may leave out or null, and what it then gets (as in CreateModelInput).
_OMISSIBLE = {
    "rnn_layers": "Defaults to one layer of 32 units.",
    "dense_layers": "Defaults to none.",
    "fiware_service": (
        "Defaults to the API key's tenant when it has exactly one, else to the server's setting. "
        "Every model of the fleet is in this tenant, and entities are looked for in it."
    ),
    "fiware_service_path": "Defaults like `fiwareService`.",
    "history_store": "Defaults to the server's store (CHRONOS_HISTORY_STORE).",
}


@strawberry.input(
    description=(
        "One model configuration for every entity of a fleet: `CreateModelInput` without the entity "
        "(`entityId`; `entityType` comes from the selection). Omitted settings take the documented defaults."
    )
)
@input_fields(TemplateFields, nested=LAYER_INPUTS, omissible=_OMISSIBLE)
class FleetModelTemplateInput:
    name: str | None = strawberry.field(
        default=None,
        description=(
            "Name of every model of the fleet (at most 200 characters); defaults to `<TYPE> - <feature>`. "
            "With the tenant, entity and feature it identifies each model: running a page again finds "
            "them by it instead of making new ones. Not with `namePrefix`."
        ),
    )

    def to_values(self, settings: Settings, *, tenant: Tenant | None = None) -> dict[str, Any]:
        """``tenant``: the default tenant, when the caller's key has exactly one; else the server's."""
        default = tenant or Tenant(settings.fiware_service, settings.fiware_service_path)
        given = {
            name: from_graphql(value, LAYER_INPUTS)
            for name, value in vars(self).items()
            if value is not None or name not in _OMISSIBLE
        }
        given.setdefault("fiware_service", default.service)
        given.setdefault("fiware_service_path", default.service_path)
        given.setdefault("history_store", settings.history_store)
        return given


@strawberry.input(
    description=(
        "The entities of a fleet: the given `entityIds`, or else those the IoT Agent's devices of "
        "`entityType` in the template's tenant stand for (as the `devices` query lists them), a page at "
        "a time in entity id order."
    )
)
class FleetSelectionInput:
    entity_type: str = strawberry.field(description="NGSI entity type of every entity of the fleet.")
    entity_ids: list[str] | None = strawberry.field(
        default=None,
        description=f"Exactly these entities ({MAX_ITEMS} at most, none repeated) instead of discovery.",
    )
    first: int | None = strawberry.field(
        default=None,
        description=(
            f"Discovered entities in this page, 1 to {MAX_ITEMS}; default {DEFAULT_PAGE}. "
            "Not with `entityIds`."
        ),
    )
    after: str | None = strawberry.field(
        default=None,
        description=(
            "`pageInfo.endCursor` of the previous page: this page starts after it. Not with `entityIds`."
        ),
    )

    def to_selection(self) -> Selection:
        return Selection(
            entity_type=self.entity_type,
            entity_ids=tuple(self.entity_ids) if self.entity_ids is not None else None,
            first=self.first,
            after=self.after,
        )


@strawberry.input(description="Models of one template for many entities of one type.")
class FleetModelsInput:
    template: FleetModelTemplateInput = strawberry.field(description="The configuration of every model.")
    selection: FleetSelectionInput = strawberry.field(description="Which entities get a model.")
    name_prefix: str | None = strawberry.field(
        default=None,
        description=(
            "Name each model `<namePrefix><entityId>` instead of the template's name (or its default, "
            "`<TYPE> - <feature>`). Not with `template.name`."
        ),
    )
    start_training: bool = strawberry.field(
        default=False,
        description=(
            "Also start training every model of the page that is DRAFT: the new ones, and those found with "
            "no completed job and none running (so a rerun resumes trainings that were refused or failed). "
            "TRAINING and TRAINED models are left alone: `startFleetTrainings` retrains them."
        ),
    )
    training: StartTrainingInput | None = strawberry.field(
        default=None,
        description=(
            "Which history each training uses, with `startTraining`; default the newest 1,000 points. "
            "Its `idempotencyKey` counts per model."
        ),
    )

    def to_request(self, settings: Settings, *, tenant: Tenant | None = None) -> FleetRequest:
        selection = self.selection.to_selection()
        template = Template(
            values=self.template.to_values(settings, tenant=tenant),
            entity_type=selection.entity_type,
            name_prefix=self.name_prefix,
        )
        return FleetRequest(
            template=template,
            selection=selection,
            start_training=self.start_training,
            training=self.training.to_request() if self.training is not None else None,
        )


__all__ = ["FleetModelTemplateInput", "FleetModelsInput", "FleetSelectionInput"]
