"""Reliability fixtures: every test here builds its own services stack and breaks it.

Measured numbers (counts, lag, recovery times, RSS) are printed as
`[measure] test: name = value` lines, attached to the report with
record_property, and collected in a terminal summary section at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.support import measure


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # Under xdist the numbers were measured in workers: they come back as the
    # reports' user_properties (record_property), which is what is read here.
    rows = [(report.nodeid.split("::")[-1], name, value)
            for report in terminalreporter.stats.get("passed", [])
            + terminalreporter.stats.get("failed", [])
            if report.when == "call" for name, value in report.user_properties]
    if not rows:
        return
    terminalreporter.section("Colloquy reliability measurements")
    for test, name, value in rows:
        terminalreporter.write_line(f"{test}: {name} = {value}")


@pytest.fixture
def report(request: pytest.FixtureRequest,
           record_property: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    """report(name, value): print a measured number and attach it to the test report."""

    def _report(name: str, value: Any) -> None:
        measure(request.node.name, name, value, record_property)

    return _report
