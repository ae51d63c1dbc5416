"""Failures of FIWARE calls, each carrying what the server said.

FiwareError            service, status (None when no answer), upstream body
├── FiwareBadRequest   400 and other 4xx the caller must fix
├── FiwareNotFound     404
├── FiwareConflict     409, and Orion's 422 "Already Exists"
└── FiwareUnavailable  no connection, a timeout, or 5xx after the retries ran out
"""

from __future__ import annotations


class FiwareError(Exception):
    def __init__(self, message: str, *, service: str, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.body = body


class FiwareBadRequest(FiwareError):
    pass


class FiwareNotFound(FiwareError):
    pass


class FiwareConflict(FiwareError):
    pass


class FiwareUnavailable(FiwareError):
    pass


__all__ = ["FiwareBadRequest", "FiwareConflict", "FiwareError", "FiwareNotFound", "FiwareUnavailable"]
