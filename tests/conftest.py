"""Fixtures: every test that takes `stack` runs once per profile against real processes.

The suite runs under pytest-xdist: each test is in the group of the stack it
uses (one stack per profile and server kind, started once in the worker that
runs that group), or else of its module (module-scoped stacks of their own);
tests/groups.py reads the group from the test id, and each group goes whole to
one worker, so no stack is started twice and groups run in parallel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.groups import group_of
from tests.stack import Stack

PROFILES = os.environ.get("COLLOQUY_TEST_PROFILES", "embedded,services").split(",")
# Modules marked `also_daphne` run again on each profile with daphne serving:
# uvicorn is the production server, daphne stays supported.
DAPHNE = [f"{p}-daphne" for p in PROFILES]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "also_daphne: run this module's stack tests under daphne as well")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stack" not in metafunc.fixturenames:
        return
    daphne = metafunc.definition.get_closest_marker("also_daphne") is not None
    metafunc.parametrize("stack", PROFILES + (DAPHNE if daphne else []), indirect=True,
                         scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The scheduler knows a test's group only from its id (tests/groups.py);
    # a new parameter spelled like a profile would put a test in the wrong group.
    for item in items:
        params = getattr(item, "callspec", None)
        stack = params.params.get("stack") if params else None
        expected = f"stack-{stack}" if stack is not None else None
        grouped = group_of(item.nodeid)
        if (expected or grouped).startswith("stack-") and grouped != expected:
            raise pytest.UsageError(
                f"{item.nodeid}: grouped as {grouped!r}, but its stack is {stack!r}")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class StackGroups(LoadScopeScheduling):
        """Whole groups to one worker each, so each stack starts once."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return StackGroups(config, log)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    s = Stack(request.param).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def services(stack: Stack) -> Stack:
    """The stack, for tests that need several processes sharing Redis."""
    if stack.profile != "services":
        pytest.skip("needs two server processes and a separate persister (services profile)")
    return stack
