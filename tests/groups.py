"""Which xdist worker group a test belongs to, read from its node id alone.

The controller process schedules by node id (it never sees the items), so the
group has to be a function of the id. pytest-xdist's own `--dist loadgroup`
appends `@group` to the id in the worker, which pytest 9 no longer lets a
plugin do (Node.nodeid is computed), so Colloquy schedules with its own scope
function instead (tests/conftest.py, pytest_xdist_make_scheduler).

Groups: one per stack (profile, and daphne for the variants), started once in
the worker that runs the group; the browser package (one server, one Chromium);
and otherwise the module (a module-scoped arena is one per module and profile,
and its parameter id keeps the two apart within the module).
"""

from __future__ import annotations

import re

PROFILE_IDS = ("embedded", "services")
ARENA_PREFIX = "arena_"
# The id of a parametrized test: the part in brackets; the stack (or arena)
# parameter comes first (pytest_generate_tests parametrizes it before any mark).
PARAMS = re.compile(r"\[(?P<params>.*)\]$")


def group_of(nodeid: str) -> str:
    """The worker group of the test `nodeid`.

    A test whose first parameter is a profile ("services", "embedded-daphne")
    takes the `stack` fixture: only that parameter is spelled so (a module's own
    arena is "arena_services"; tests/conftest.py checks every item against this).
    """
    path = nodeid.split("::")[0]
    if "/browser/" in path:
        return "browser"
    match = PARAMS.search(nodeid)
    tokens = match.group("params").split("-") if match else []
    if tokens and tokens[0] in PROFILE_IDS:
        server = "-daphne" if tokens[1:2] == ["daphne"] else ""
        return f"stack-{tokens[0]}{server}"
    if tokens and tokens[0].startswith(ARENA_PREFIX):
        return f"{path}-{tokens[0]}"  # the arenas of two profiles run side by side
    return path


def arena_id(profile: str) -> str:
    """The parameter id of a module-scoped arena built for `profile`."""
    return ARENA_PREFIX + profile
