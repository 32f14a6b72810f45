"""Fixtures: every test that takes `stack` runs once per profile against real processes.

The suite runs under pytest-xdist with `--dist loadgroup`: each test is put in
the group of the stack it uses (one stack per profile and server kind, started
once in the worker that runs that group) or else of its module (module-scoped
stacks of their own), so no stack is started twice and groups run in parallel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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


# First: xdist's own hook reads the xdist_group marks set here.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        stack = params.params.get("stack") if params else None
        if stack is not None:
            group = f"stack-{stack}"
        else:
            # Module-scoped stacks (fault tests, the hostile-input arena, the browser
            # package's server): the module, and the profile its arena is built for.
            arena = params.params.get("module_arena") if params else None
            group = item.nodeid.split("::")[0] + (f"-{arena}" if arena else "")
            if "/browser/" in item.nodeid:
                group = "browser"  # one server and one chromium for the whole package
        item.add_marker(pytest.mark.xdist_group(group))


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
