"""The history stores as a GraphQL enum, shared by models (a model's store) and readings."""

from __future__ import annotations

from fiware.history import HistoryStore
from schema.enums import expose

expose(
    HistoryStore,
    name="HistoryStore",
    description="A FIWARE time-series store Chronos reads sensor history from and keeps forecasts in.",
    values={
        "STH_COMET": (
            "STH-Comet: history read with hLimit/hOffset paging; forecasts reach it through an Orion "
            "'legacy' subscription (Orion 3) or Cygnus (Orion 4)."
        ),
        "QUANTUMLEAP": (
            "QuantumLeap (CrateDB or TimescaleDB): history read with limit/offset paging; forecasts "
            "reach it through a normalized subscription, with the next step as plain numeric attributes."
        ),
    },
)


__all__ = ["HistoryStore"]
