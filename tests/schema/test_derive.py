from __future__ import annotations

from enum import StrEnum

import pytest
import strawberry
from graphql import GraphQLInputObjectType, GraphQLNonNull, GraphQLObjectType
from pydantic import BaseModel, Field
from strawberry.utils.str_converters import to_camel_case

from app.models import DenseLayer, ModelSpec, RnnLayer
from schema import schema
from schema.derive import (
    from_graphql,
    input_fields,
    nullable_fields,
    output_fields,
    patch_fields,
    to_graphql,
)
from schema.models.inputs import LAYER_INPUTS, DenseLayerInput, RnnLayerInput
from schema.models.types import LAYERS


def graphql_type(name: str) -> GraphQLObjectType | GraphQLInputObjectType:
    found = schema._schema.type_map[name]
    assert isinstance(found, GraphQLObjectType | GraphQLInputObjectType)
    return found


@pytest.mark.parametrize("name", ["Model", "CreateModelInput", "UpdateModelInput"])
def test_every_declared_field_shows_with_its_description(name: str) -> None:
    fields = graphql_type(name).fields
    for field, info in ModelSpec.model_fields.items():
        shown = fields[to_camel_case(field)]
        assert shown.description is not None and shown.description.startswith(str(info.description))


def test_changes_are_all_optional_and_null_resets_only_nullable_fields() -> None:
    fields = graphql_type("UpdateModelInput").fields
    assert not any(isinstance(field.type, GraphQLNonNull) for field in fields.values())
    assert {"early_stopping_patience", "name", "description"} <= set(nullable_fields(ModelSpec))
    assert not {"epochs", "rnn_layers", "fiware_service"} & set(nullable_fields(ModelSpec))
    for name in nullable_fields(ModelSpec):
        assert str(fields[to_camel_case(name)].description).endswith("Null resets it to its default.")


def test_layers_convert_both_ways() -> None:
    layers = [RnnLayer(units=8, dropout=0.1), DenseLayer(units=4)]
    shown = to_graphql(layers, LAYERS)
    assert [(type(layer).__name__, layer.units) for layer in shown] == [("RnnLayer", 8), ("DenseLayer", 4)]
    given = [RnnLayerInput(units=8, dropout=0.1, recurrent_dropout=0.0), DenseLayerInput(units=4)]  # type: ignore[call-arg]
    assert from_graphql(given, LAYER_INPUTS) == layers


class Clip(StrEnum):
    NORM = "NORM"
    VALUE = "VALUE"


class Declared(BaseModel):
    epochs: int = Field(50, description="Maximum epochs.")
    gradient_clip: float | None = Field(None, description="Clip threshold; null: none.")
    clip_mode: Clip = Field(Clip.NORM, description="How to clip.")


strawberry.enum(Clip, description="How gradients are clipped.")


@strawberry.type(description="Shown.")
@output_fields(Declared, non_null={"epochs"})
class Shown:
    pass


@strawberry.input(description="Given.")
@input_fields(Declared)
class Given:
    pass


@strawberry.input(description="Changed.")
@patch_fields(Declared)
class Changed:
    pass


@strawberry.type
class Query:
    shown: Shown = strawberry.field(description="Shown.")


def test_a_new_declared_field_reaches_the_type_and_both_inputs() -> None:
    sdl = strawberry.Schema(query=Query, types=[Given, Changed]).as_str()
    assert '"""Clip threshold; null: none."""\n  gradientClip: Float\n' in sdl
    assert "gradientClip: Float = null" in sdl
    assert "clipMode: Clip! = NORM" in sdl
    assert "epochs: Int! = 50" in sdl and "epochs: Int!\n" in sdl and "epochs: Int\n" in sdl
    assert '"""Clip threshold; null: none. Null resets it to its default."""' in sdl


def test_an_undescribed_field_is_refused() -> None:
    class Blank(BaseModel):
        units: int

    with pytest.raises(ValueError, match=r"Blank\.units"):
        output_fields(Blank)(type("Anything", (), {}))
