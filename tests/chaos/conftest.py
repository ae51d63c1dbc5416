"""The chaos scenarios' report: per scenario, what the system held and what it lost.

Each scenario records its observations with the ``chaos`` fixture *before* it asserts, so a failing
run still says what was lost; pytest prints the table at the end of the session
(``pytest tests/chaos -q`` shows just these).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Outcome:
    scenario: str
    held: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


@dataclass
class ChaosReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def record(self, scenario: str, *, held: list[str], lost: list[str]) -> None:
        self.outcomes.append(Outcome(scenario, list(held), list(lost)))


REPORT = ChaosReport()


@pytest.fixture
def chaos() -> Iterator[ChaosReport]:
    yield REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT.outcomes:
        return
    terminalreporter.section("chaos: what each fault left")
    for outcome in REPORT.outcomes:
        verdict = "LOST" if outcome.lost else "held"
        terminalreporter.write_line(f"{verdict:<5} {outcome.scenario}")
        for item in outcome.held:
            terminalreporter.write_line(f"        held: {item}")
        for item in outcome.lost:
            terminalreporter.write_line(f"        LOST: {item}")
