"""The IoT Agent sandbox's errors, worded as ``lib/errors.js`` words them."""

from __future__ import annotations

import pytest

from fiware.sandbox.fake_iota.errors import device_group_not_found, device_not_found, missing_headers


def test_missing_headers_lists_them_as_json() -> None:
    error = missing_headers(["fiware-service", "fiware-servicepath"])
    assert (error.status, error.name) == (400, "MISSING_HEADERS")
    assert (
        error.message == 'Some headers were missing from the request: ["fiware-service","fiware-servicepath"]'
    )


@pytest.mark.parametrize(
    ("fields", "values", "message"),
    [
        ("/r", "k", 'Couldn\t find device group for fields: "/r" and values: "k"'),
        ("/r", "", 'Couldn\t find device group for fields: "/r"'),
        ("", "", "Couldn\t find device group"),
    ],
)
def test_device_group_not_found_keeps_the_librarys_tab(fields: str, values: str, message: str) -> None:
    error = device_group_not_found(fields, values)
    assert (error.status, error.body()) == (404, {"name": "DEVICE_GROUP_NOT_FOUND", "message": message})


def test_device_not_found_without_info_says_undefined() -> None:
    assert device_not_found("d1", None).message == "No device was found with id:d1 and undefined"
    assert (
        device_not_found("d1", {"service": "s"}).message
        == 'No device was found with id:d1 and {"service":"s"}'
    )
