"""Reliability fixtures: every test here builds its own services stack and breaks it.

Measured numbers (counts, lag, recovery times, RSS) are printed as
`[measure] test: name = value` lines, attached to the report with
record_property, and collected in a terminal summary section at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.support import MEASUREMENTS, measure


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASUREMENTS:
        return
    terminalreporter.section("Colloquy reliability measurements")
    for test, name, value in MEASUREMENTS:
        terminalreporter.write_line(f"{test}: {name} = {value}")


@pytest.fixture
def report(request: pytest.FixtureRequest,
           record_property: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    """report(name, value): print a measured number and attach it to the test report."""

    def _report(name: str, value: Any) -> None:
        measure(request.node.name, name, value, record_property)

    return _report
