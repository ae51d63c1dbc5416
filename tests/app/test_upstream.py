from __future__ import annotations

import pytest

from app.errors import ErrorCode
from app.upstream import translate
from fiware.errors import FiwareBadRequest, FiwareConflict, FiwareError, FiwareNotFound, FiwareUnavailable


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (FiwareUnavailable("refused", service="Orion"), ErrorCode.UNAVAILABLE, "Orion is unavailable"),
        (FiwareNotFound("x", service="Orion", status=404), ErrorCode.NOT_FOUND, "Orion has no such"),
        (
            FiwareBadRequest(
                "x", service="IoT Agent", status=400, body={"name": "WRONG_SYNTAX", "message": "at db1"}
            ),
            ErrorCode.UPSTREAM_ERROR,
            "IoT Agent refused the request with status 400 (WRONG_SYNTAX)",
        ),
        (
            FiwareConflict("x", service="Orion", status=422, body="Already"),
            ErrorCode.UPSTREAM_ERROR,
            "status 422",
        ),
    ],
)
def test_translate_keeps_upstream_details_out(error: FiwareError, code: ErrorCode, message: str) -> None:
    translated = translate(error)
    assert translated.code is code and message in translated.message
    assert "db1" not in translated.message
