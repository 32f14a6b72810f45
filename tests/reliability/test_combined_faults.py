"""Two faults at once: Redis vanishes while the persister is writing a batch.

Postgres is cut (the persister holds one batch and retries it), then
redis-server (appendonly, appendfsync always) is killed, then Postgres comes
back: the persister commits its batch and goes to acknowledge it in a Redis
that is not there. It must live through that (retry the acknowledgement, or
read the batch again: the writers' INSERT … ON CONFLICT DO NOTHING makes a
second write harmless) and persist everything once Redis is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.support import (
    Chat,
    FaultStack,
    PgProxy,
    PrivateRedis,
    services_selected,
    wait_for,
)

pytestmark = [
    pytest.mark.skipif(not services_selected(), reason="needs the services profile"),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def both_breakable() -> Iterator[FaultStack]:
    stack = FaultStack(redis=PrivateRedis(aof=True).start(), pg_proxy=PgProxy().start())
    try:
        yield stack.start()  # type: ignore[misc]
    finally:
        stack.stop()


async def test_persister_survives_redis_vanishing_between_commit_and_ack(
    both_breakable: FaultStack, report: Callable[[str, Any], None],
) -> None:
    stack = both_breakable
    redis, proxy = stack.private_redis, stack.pg_proxy
    assert redis is not None and proxy is not None
    chat = await Chat(stack, rooms=1, members_per_room=3, servers=[0, 1], name="both").open()
    members = list(chat.members.values())
    for _ in range(5):
        for m in members:
            await chat.say(m)
    await chat.wait_persisted()
    await asyncio.to_thread(proxy.cut)
    for _ in range(5):
        for m in members:
            await chat.say(m)
    await wait_for(lambda: "persist of" in stack.persister_log(),
                   "the persister to fail a write", timeout=20)
    await asyncio.to_thread(redis.kill)
    await asyncio.to_thread(proxy.restore)
    # The persister's next retry (at most 5 s away) commits, then finds Redis gone.
    await asyncio.sleep(8.0)
    alive_while_redis_down = stack.persister is not None and stack.persister.poll() is None
    await asyncio.to_thread(redis.start)
    t0 = time.monotonic()
    alive = stack.persister is not None and stack.persister.poll() is None
    report("persister alive while Redis was down", alive_while_redis_down)
    report("persister exit code", None if alive or stack.persister is None
           else stack.persister.returncode)
    assert alive, "the persister exited:\n" + stack.persister_log()[-2500:]
    await chat.wait_persisted(timeout=30)
    report("seconds from Redis back to everything persisted", round(time.monotonic() - t0, 3))
    await chat.settle(timeout=20)
    chat.verify()
    await chat.close()
