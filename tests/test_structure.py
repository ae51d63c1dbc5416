"""Structure rules of the style guide, checked on the source: short functions, and one home for
every write to the job and model aggregates."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("app", "schema", "tasks", "ml", "fiware")
MAX_LINES = 60

# Functions allowed over MAX_LINES, each with its reason. The test also fails when one of them has
# become short, so the list only ever shrinks.
LONG_FUNCTIONS: dict[str, str] = {}

# The aggregates and the modules that alone may write them.
AGGREGATES = frozenset({"TrainingJobDocument", "TrainingChunkDocument", "ModelDocument"})
REPOSITORIES = ("app/training/repository/", "app/models/repository.py")
# Beanie's writes, on a document class, a query of it or an instance.
BEANIE_WRITES = frozenset(
    {"insert", "insert_many", "save", "replace", "set", "update", "update_many", "delete", "delete_many"}
    | {"upsert", "inc", "save_changes", "replace_many"}
)


def product_files() -> Iterator[tuple[str, ast.Module]]:
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), filename=str(path))


def functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{child.name}"
            yield name, (child.end_lineno or child.lineno) - child.lineno + 1
            yield from functions(child, f"{name}.")
        elif isinstance(child, ast.ClassDef):
            yield from functions(child, f"{prefix}{child.name}.")
        else:
            yield from functions(child, prefix)


def test_no_product_function_is_over_sixty_lines() -> None:
    lengths = {f"{path}:{name}": lines for path, tree in product_files() for name, lines in functions(tree)}
    too_long = {name: lines for name, lines in lengths.items() if lines > MAX_LINES}
    assert {name: lines for name, lines in too_long.items() if name not in LONG_FUNCTIONS} == {}
    assert [name for name in LONG_FUNCTIONS if name not in too_long] == []


def _root_name(node: ast.expr) -> str | None:
    """The name a chain starts from: ``Doc`` in ``await Doc.find(q).delete()``."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute | ast.Subscript | ast.Await):
            node = node.value
        else:
            return node.id if isinstance(node, ast.Name) else None


def _annotated_names(name: str) -> bool:
    return any(aggregate in name for aggregate in AGGREGATES)


def _instances(function: ast.AST) -> set[str]:
    """Names bound to an aggregate's document in a function: parameters annotated with its class,
    and variables assigned from its constructor, ``get`` or ``find_one``."""
    names: set[str] = set()
    if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
        arguments = function.args
        for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
            if argument.annotation is not None and _annotated_names(ast.unparse(argument.annotation)):
                names.add(argument.arg)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _root_name(node.value) in AGGREGATES:
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            from_aggregate = node.value is not None and _root_name(node.value) in AGGREGATES
            if from_aggregate or _annotated_names(ast.unparse(node.annotation)):
                names.add(node.target.id)
    return names


def _writes(tree: ast.Module) -> Iterator[str]:
    scopes: list[ast.AST] = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)),
    ]
    for scope in scopes:
        instances = _instances(scope) if scope is not tree else set()
        for node in ast.walk(scope):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            root = _root_name(node.func.value)
            method = node.func.attr
            if method == "get_pymongo_collection" and root in AGGREGATES:
                yield f"line {node.lineno}: {root}.get_pymongo_collection()"
            elif method in BEANIE_WRITES and (root in AGGREGATES or root in instances):
                yield f"line {node.lineno}: {ast.unparse(node.func)}()"


def test_only_the_repositories_write_jobs_chunks_and_models() -> None:
    offences = {
        path: sorted(set(_writes(tree)))
        for path, tree in product_files()
        if path.startswith(("app", "schema", "tasks")) and not path.startswith(REPOSITORIES)
    }
    assert {path: found for path, found in offences.items() if found} == {}


def test_the_write_check_sees_each_kind_of_write() -> None:
    # The rule above is only as good as what it recognises: each of these must be caught.
    source = """
async def f(job: TrainingJobDocument, model_id):
    await TrainingJobDocument.get_pymongo_collection().update_one({}, {})
    await TrainingChunkDocument.find(TrainingChunkDocument.job_id == 1).delete()
    await job.set({"a": 1})
    model = await ModelDocument.get(model_id)
    await model.delete()
    fresh = ModelDocument(name="x")
    await fresh.insert()
"""
    assert len(set(_writes(ast.parse(source)))) == 5


# Imports every product module in a child forked from an interpreter that holds only third-party
# libraries, so an import cycle among our modules shows whichever module is imported first. The
# libraries' own deep modules are loaded once up front, and two children run at a time.
_IMPORT_EACH = """
import importlib, os, sys, traceback
for library in ("pydantic", "pydantic_settings", "beanie", "pymongo", "gridfs", "strawberry",
                "strawberry.asgi", "strawberry.schema", "strawberry.extensions", "starlette.applications",
                "structlog", "httpx", "celery", "celery.app.base", "celery.canvas", "kombu", "amqp",
                "billiard", "redis", "redis.asyncio", "numpy", "graphql", "uvicorn", "prometheus_client",
                "croniter", "cross_web", "dotenv", "anyio", "tzlocal", "yaml"):
    importlib.import_module(library)
failing, running = [], {}


def reap():
    pid, status = os.wait()
    if status:
        failing.append(running[pid])
    del running[pid]


for name in sys.argv[1:]:
    if len(running) == 2:
        reap()
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc(limit=-4)
            os._exit(1)
        os._exit(0)
    running[pid] = name
while running:
    reap()
print(" ".join(sorted(failing)))
"""


def product_modules() -> list[str]:
    names = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.services  # a process per module: twenty seconds, so `make test` only
def test_every_product_module_imports_on_its_own() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, *product_modules()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.split() == [], done.stderr
