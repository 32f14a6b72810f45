"""Fixtures: every test that takes `stack` runs once per profile against real processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.stack import Stack

PROFILES = os.environ.get("COLLOQUY_TEST_PROFILES", "embedded,services").split(",")


@pytest.fixture(scope="session", params=PROFILES)
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
