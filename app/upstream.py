"""FIWARE failures as Chronos failures: what a client of our API may be told about them."""

from __future__ import annotations

from app.errors import ChronosError, NotFound, Unavailable, UpstreamError
from fiware.errors import FiwareError, FiwareNotFound, FiwareUnavailable


def translate(error: FiwareError) -> ChronosError:
    # Status and error name help an operator; upstream descriptions may echo internals, so they
    # stay in our logs (the FiwareError is chained) and out of API responses.
    if isinstance(error, FiwareUnavailable):
        return Unavailable(f"{error.service} is unavailable; try again shortly")
    if isinstance(error, FiwareNotFound):
        return NotFound(f"{error.service} has no such resource")
    name = ""
    if isinstance(error.body, dict):
        name = str(error.body.get("name") or error.body.get("error") or "")
    detail = f" ({name})" if name else ""
    return UpstreamError(f"{error.service} refused the request with status {error.status}{detail}")


__all__ = ["translate"]
