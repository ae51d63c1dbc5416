"""A model template: one model configuration for many entities of one type.

``TemplateFields`` declares what a template holds: every field of ``ModelSpec`` but the entity's
own (its id, and its type, which the selection gives), with the same defaults and descriptions, so
the GraphQL template input is derived from the same declaration as ``CreateModelInput``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, create_model

from app.errors import ErrorCode, FieldError, FieldPath
from app.fleet.bulk import relocated
from app.models.config import MAX_NAME, ModelSpec
from app.models.spec import validate_spec
from fiware.http import Tenant

PER_ENTITY = ("entity_type", "entity_id")
# Any valid NGSI id: the template is checked once with it, before any entity is looked at.
_PLACEHOLDER_ID = "x"

TemplateFields: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "TemplateFields",
    __doc__="A model configuration without its entity.",
    **{
        name: (info.annotation, info)
        for name, info in ModelSpec.model_fields.items()
        if name not in PER_ENTITY
    },
)

TEMPLATE = ("input", "template")
NAME_PREFIX = ("input", "namePrefix")
ENTITY_TYPE = ("input", "selection", "entityType")


@dataclass(frozen=True)
class Template:
    """``values``: the template's fields (those of ``TemplateFields``), as given."""

    values: Mapping[str, Any]
    entity_type: str
    name_prefix: str | None = None

    @property
    def tenant(self) -> Tenant:
        return Tenant(self.values["fiware_service"], self.values["fiware_service_path"])

    @property
    def feature(self) -> str:
        return str(self.values["feature"])

    def spec_for(self, entity_id: str) -> ModelSpec:
        name = self.values.get("name")
        if self.name_prefix is not None:
            name = f"{self.name_prefix}{entity_id}"
        return ModelSpec.model_validate(
            {**self.values, "entity_type": self.entity_type, "entity_id": entity_id, "name": name}
        )

    def moves(self, entity: FieldPath | None) -> dict[FieldPath, FieldPath | None]:
        """Where createModel's input paths are in a bulk input; ``entity``: where this entity was named."""
        return {
            ("input",): TEMPLATE,
            ("input", "entityId"): entity,
            ("input", "entityType"): ENTITY_TYPE,
            ("input", "name"): NAME_PREFIX if self.name_prefix is not None else (*TEMPLATE, "name"),
        }


def model_name(spec: ModelSpec) -> str:
    """The name ``create_model`` gives a model of ``spec``."""
    return spec.name if spec.name is not None else spec.default_name


def template_problems(template: Template) -> list[FieldError]:
    """Every problem of the template itself: those that would fail each of its models alike."""
    problems: list[FieldError] = []
    prefix = template.name_prefix
    if prefix is not None and template.values.get("name") is not None:
        problems.append(
            FieldError(ErrorCode.VALIDATION_ERROR, "give either template.name or namePrefix", NAME_PREFIX)
        )
    elif prefix is not None and (not prefix.strip() or len(prefix) >= MAX_NAME):
        problems.append(
            FieldError(
                ErrorCode.VALIDATION_ERROR,
                f"must not be blank, and shorter than {MAX_NAME} characters to leave room for the entity id",
                NAME_PREFIX,
            )
        )
    found = validate_spec(template.spec_for(_PLACEHOLDER_ID))
    # The entity's id and type are the selection's to check; a prefixed name was checked above.
    skipped = {("input", "entityId"), ("input", "entityType"), *([("input", "name")] if prefix else [])}
    own = [p for p in found if p.field not in skipped]
    return problems + relocated(own, template.moves(None))


__all__ = ["PER_ENTITY", "Template", "TemplateFields", "model_name", "template_problems"]
