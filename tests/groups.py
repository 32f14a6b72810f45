"""Which xdist worker group a test belongs to, read from its node id alone.

The controller process schedules by node id (it never sees the items), so the
group has to be a function of the id. pytest-xdist's own `--dist loadgroup`
appends `@group` to the id in the worker, which pytest 9 no longer lets a
plugin do (Node.nodeid is computed), so Colloquy schedules with its own scope
function instead (tests/conftest.py, pytest_xdist_make_scheduler).

Groups: one per stack (profile, shard and daphne for the variants), started
once in the worker that runs the group; each profile's modules are split over
SHARDS stacks of that profile ("services", "services2"), every other module in
path order, so no one worker runs a whole profile alone; the browser
package (one server, one Chromium);
and otherwise the module (a module-scoped arena is one per module and profile,
and its parameter id keeps the two apart within the module).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

PROFILES = ("embedded", "services")
SHARDS = 2  # stacks per profile; each is one worker's group
# A profile's stack ids: "services" for shard 0, "services2" for shard 1, ...
PROFILE_IDS = tuple(p + (str(n + 1) if n else "") for p in PROFILES for n in range(SHARDS))
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


@functools.cache
def _modules() -> list[str]:
    """Every test module's path, as node ids spell it, in order (the same list in
    the controller and in every worker: read from the tree)."""
    root = Path(__file__).resolve().parent.parent
    return sorted(str(p.relative_to(root)) for p in (root / "tests").rglob("test_*.py"))


def shard_id(profile: str, path: str) -> str:
    """The stack id of `profile` for the tests of the module at `path`."""
    modules = _modules()
    n = modules.index(path) % SHARDS if path in modules else 0
    return profile + (str(n + 1) if n else "")


def arena_id(profile: str) -> str:
    """The parameter id of a module-scoped arena built for `profile`."""
    return ARENA_PREFIX + profile
