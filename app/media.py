"""Which response media type a GraphQL-over-HTTP client asked for.

The GraphQL over HTTP spec (graphql.github.io/graphql-over-http) defines
``application/graphql-response+json``: with it, a request that fails before execution (a document
that does not parse or validate, variables that do not coerce) is a 4xx whose body has no ``data``.
``application/json`` keeps the older convention (200, ``"data": null``), which clients that ask for
it, or send no ``Accept`` at all, still get.
"""

from __future__ import annotations

from typing import Final

GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
JSON: Final = "application/json"


def _ranges(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights.setdefault(media.lower(), weight)
    return weights


def preferred(accept: str | None) -> str:
    """``GRAPHQL_RESPONSE`` when the client accepts it at least as much as ``application/json``."""
    weights = _ranges(accept or "")
    wanted = weights.get(GRAPHQL_RESPONSE, 0.0)
    if wanted <= 0:
        return JSON
    return GRAPHQL_RESPONSE if wanted >= weights.get(JSON, 0.0) else JSON


__all__ = ["GRAPHQL_RESPONSE", "JSON", "preferred"]
