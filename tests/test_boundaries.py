"""Package boundaries of the style guide, checked on the source so new code cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INFRASTRUCTURE = {"pymongo", "beanie", "motor", "bson", "gridfs", "redis", "celery", "kombu"}

RULES = {
    # app/ holds the work; the GraphQL layer and the Celery tasks are built on it, never the reverse.
    "app": {"schema", "tasks", "strawberry", "graphql"},
    # ml/ and fiware/ are pure adapters: no database, cache or queue, and no app code.
    "ml": INFRASTRUCTURE | {"app", "schema", "tasks"},
    "fiware": INFRASTRUCTURE | {"app", "schema", "tasks"},
    # schema/ holds types and thin resolvers: the work, and its drivers, live in app/.
    "schema": INFRASTRUCTURE | {"tasks"},
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_stay_within_its_boundary(package: str) -> None:
    offences = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & RULES[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: names for path, names in offences.items() if names} == {}
