from __future__ import annotations

from enum import Enum

import pytest

from schema.enums import expose


def test_an_enum_with_an_undescribed_value_is_refused_at_import() -> None:
    class Colour(Enum):
        RED = "red"
        BLUE = "blue"

    with pytest.raises(ValueError, match=r"missing \['BLUE'\], unknown \['GREEN'\]"):
        expose(Colour, name="Colour", description="A colour.", values={"RED": "Red.", "GREEN": "Green."})


def test_every_value_gets_its_description() -> None:
    class Size(Enum):
        SMALL = "s"
        LARGE = "l"

    expose(Size, name="Size", description="A size.", values={"SMALL": "Small.", "LARGE": "Large."})
    values = {v.name: v.description for v in Size.__strawberry_definition__.values}  # type: ignore[attr-defined]
    assert values == {"SMALL": "Small.", "LARGE": "Large."}
