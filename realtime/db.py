"""The one bridge from the event loop to the ORM.

Sync ORM code runs in a worker thread, with stale connections closed around it
as Django expects outside a request. Only actions, selectors and auth use it;
the fan-out path never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync

P = ParamSpec("P")
R = TypeVar("R")


async def run_db(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    # Not thread-sensitive: a burst of connects authenticates in parallel threads.
    call: Any = DatabaseSyncToAsync(fn, thread_sensitive=False)
    return await call(*args, **kwargs)
