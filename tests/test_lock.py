"""The dependency locks agree with pyproject.toml and with what is installed.

``make lock`` writes requirements-dev.lock (everything: runtime, demo and dev), requirements.lock (the
runtime alone, for the image) and requirements-mongo.lock (SecantusDB's venv). A pyproject edit that
was not locked, a lock entry nothing needs any more, or a venv that drifted from the lock fails here.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
# The lock's target (uv's --python-version 3.11 is 3.11.0 on CPython, Linux x86_64): markers are read
# for it, not for whichever 3.11.x runs the test.
TARGET = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def pins(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    found: dict[str, str] = {
        canonicalize_name(m["name"]): m["version"] for m in map(PIN.match, text.splitlines()) if m
    }
    assert found, f"{name} pins nothing"
    return found


def project() -> dict[str, list[str]]:
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"": table["dependencies"], **table["optional-dependencies"]}


def applies(marker: Marker | None, extra: str = "") -> bool:
    return marker is None or marker.evaluate({**TARGET, "extra": extra})


def closure(roots: list[str]) -> set[str]:
    """Every distribution ``roots`` need on the lock's target, read from the installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(text) for text in roots]
    while pending:
        requirement = pending.pop()
        if not applies(requirement.marker):
            continue
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in _requires(requirement.name):
            child = Requirement(text)
            # A dependency's marker is read in its parent's context: the extras asked of the parent.
            if any(applies(child.marker, extra) for extra in {"", *requirement.extras}):
                child.marker = None
                pending.append(child)
    return {name for name, _ in seen}


def test_every_requirement_of_pyproject_is_pinned_within_its_range() -> None:
    dev, runtime = pins("requirements-dev.lock"), pins("requirements.lock")
    problems = []
    for extra, requirements in project().items():
        for text in requirements:
            requirement = Requirement(text)
            name = canonicalize_name(requirement.name)
            locks = {"requirements-dev.lock": dev} | ({} if extra else {"requirements.lock": runtime})
            for lock, locked in locks.items():
                version = locked.get(name)
                if version is None or version not in requirement.specifier:
                    problems.append(f"{lock}: {text!r} but pinned {version}")
    assert problems == [], "run `make lock`"


def test_the_runtime_lock_is_the_dev_lock_cut_to_the_runtime_dependencies() -> None:
    dev, runtime = pins("requirements-dev.lock"), pins("requirements.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert set(runtime) == closure(project()[""]), "run `make lock`"


def test_the_dev_lock_holds_exactly_what_the_project_needs() -> None:
    everything = [text for requirements in project().values() for text in requirements]
    assert set(pins("requirements-dev.lock")) == closure(everything), "run `make lock`"


def test_the_venv_holds_the_locked_versions() -> None:
    drift = {
        name: (version, installed)
        for name, version in pins("requirements-dev.lock").items()
        if (installed := _installed(name)) != version
    }
    assert drift == {}, "the venv differs from the lock: run `make test` (it installs from the lock)"


def test_secantus_is_pinned_with_its_dependencies() -> None:
    assert pins("requirements-mongo.lock")["secantusdb"] == "0.7.0b3"


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _requires(name: str) -> list[str]:
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []  # not installed: the venv test names it
