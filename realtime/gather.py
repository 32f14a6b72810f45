"""Announcements gathered per key and sent together once per period.

For events that would otherwise go out once per small change to something many
watch (a read receipt in a busy room, a vote in a round table): the first change
to a key starts its period; the changes that arrive before it ends go out in one
event when it does. What is sent is a hint that the state behind it (in the
database first) has changed, so a process that dies mid-period loses a hint, never
the state.

Each process gathers what it took. With `shared`, the processes also take turns
through a Redis slot per key (services profile), so the period holds for the
whole deployment, not per process: a process whose period ends while another's
slot is held waits for it and then sends what it gathered meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)
# Periods a process waits for its turn before it sends anyway: more processes than
# this sending to one key at once is past what the bound is for.
TURNS_WAITED = 16


class Gathered:
    def __init__(self, period: Callable[[], float],
                 flush: Callable[[int, dict[Any, Any]], Awaitable[None]],
                 shared: str | None = None) -> None:
        self.period = period  # seconds; read each time, so settings can change in tests
        self.flush = flush  # (key, {item: value}) → sends the one event
        self.shared = shared  # the Redis slot's name: one flush per period in all
        self._pending: dict[int, dict[Any, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, key: int, item: Any, value: Any = None) -> None:
        """Announce `item` (the latest `value` wins) with the key's others of this period."""
        items = self._pending.get(key)
        if items is None:
            items = self._pending[key] = {}
            task = asyncio.get_running_loop().create_task(self._later(key))
            self._tasks.add(task)  # held, so it is not collected before it runs
            task.add_done_callback(self._tasks.discard)
        items[item] = value

    async def _later(self, key: int) -> None:
        await asyncio.sleep(self.period())
        if self.shared is not None:
            await self._turn(key)
        items = self._pending.pop(key, {})
        if items:
            await self.flush(key, items)

    async def _turn(self, key: int) -> None:
        """Wait until this process holds the key's slot for one period."""
        from realtime import runtime
        from realtime.journal_redis import key as redis_key

        redis = (await runtime.get()).redis
        if redis is None:  # embedded: one process, its own period is the bound
            return
        slot = redis_key("gather", str(self.shared), str(key))
        try:
            for _ in range(TURNS_WAITED):
                if await redis.set(slot, "1", nx=True, px=max(1, int(self.period() * 1000))):
                    return
                await asyncio.sleep(max(1, await redis.pttl(slot)) / 1000)
        except RedisError:  # a hint late is worse than one more hint: send it
            log.warning("gather slot %s unavailable; sending without a turn", slot)
