"""Domain enums exposed to GraphQL with a description on the type and on every value.

The enums live in ``app/`` as plain ``Enum`` classes, so their members cannot carry
``strawberry.enum_value``; ``expose`` registers them and then describes each value. It refuses an enum
whose values are not all described (or a description of a value that does not exist), at import time,
so a new member cannot reach the schema blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

import strawberry


def expose(cls: type[Enum], *, name: str, description: str, values: Mapping[str, str]) -> None:
    """Register ``cls`` as the GraphQL enum ``name`` and describe each of its values."""
    members = {member.name for member in cls}
    if members != set(values):
        missing, unknown = sorted(members - set(values)), sorted(set(values) - members)
        raise ValueError(f"{name}: describe every value (missing {missing}, unknown {unknown})")
    strawberry.enum(cls, name=name, description=description)
    for value in cls.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[value.name]


__all__ = ["expose"]
