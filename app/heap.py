"""Garbage-collector settings for the API process.

The API's heap is mostly long-lived (the schema, the clients, an object graph per open socket)
while every delivered event makes short-lived containers by the thousand. With CPython's
defaults the young generation fills every 700 allocations and full collections keep walking the
long-lived heap: at 1,000 subscribers that was 15% of the API's CPU and the latency spikes of
bench/subscriptions.py. Freezing what start-up built takes it out of every later collection;
larger thresholds make collections rarer, each still bounded by what was allocated since.
"""

from __future__ import annotations

import gc

# Young-generation allocations between collections, then how many of each generation trigger
# the next. CPython's defaults are (700, 10, 10).
THRESHOLDS = (50_000, 20, 100)


def settle() -> None:
    """Call once start-up has built the long-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


__all__ = ["THRESHOLDS", "settle"]
