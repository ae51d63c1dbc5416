from __future__ import annotations

import pytest

from fiware.names import check_ngsi_name, check_service, check_service_path


@pytest.mark.parametrize("value", ["smart", "a", "tenant_1", "x" * 50])
def test_valid_services(value: str) -> None:
    assert check_service(value) is None


@pytest.mark.parametrize("value", ["", "Smart", "smart-city", "x" * 51, "a b"])
def test_invalid_services(value: str) -> None:
    assert check_service(value) is not None


@pytest.mark.parametrize("value", ["/", "/a", "/Madrid/Gardens_1", "/" + "/".join(["l"] * 10)])
def test_valid_service_paths(value: str) -> None:
    assert check_service_path(value) is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param("a", "absolute", id="relative"),
        pytest.param("/a/", "each level", id="empty-level"),
        pytest.param("/#", "each level", id="query-wildcard"),
        pytest.param("/a,/b", "each level", id="several-paths"),
        pytest.param("/" + "/".join(["l"] * 11), "10 levels", id="too-deep"),
        pytest.param("/" + "x" * 51, "each level", id="level-too-long"),
    ],
)
def test_invalid_service_paths(value: str, fragment: str) -> None:
    problem = check_service_path(value)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("value", ["Room1", "urn:ngsi-ld:Sensor:001", "temperature", "x" * 256])
def test_valid_ngsi_names(value: str) -> None:
    assert check_ngsi_name(value) is None


@pytest.mark.parametrize("value", ["", "a b", "a/b", "a#b", "a?b", "a&b", "x" * 257, "é", "a(b)"])
def test_invalid_ngsi_names(value: str) -> None:
    assert check_ngsi_name(value) is not None
