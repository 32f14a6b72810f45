"""kill -9 of a server process mid-conversation: its members move to the other process.

Two daphne processes share Redis; the members of four rooms are spread over
both, half on JSON and half on msgpack. While everyone talks, server 0 gets
SIGKILL. Each of its members notices on its next request (ConnectionLost),
opens a socket on server 1, sends `resume` with the last seq it saw on every
stream, and retries the message that was in flight with the same client_id.
End state: every acked message is in Postgres exactly once, and every member
received every message exactly once, live or by resume.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.support import Chat, FaultStack, services_selected

pytestmark = [
    pytest.mark.skipif(not services_selected(), reason="needs the services profile"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def two_servers() -> Iterator[FaultStack]:
    stack = FaultStack().start()
    try:
        yield stack  # type: ignore[misc]
    finally:
        stack.stop()


async def test_kill_9_mid_conversation_loses_and_repeats_nothing(
    two_servers: FaultStack, report: Callable[[str, Any], None],
) -> None:
    stack = two_servers
    chat = await Chat(stack, rooms=4, members_per_room=5, servers=[0, 1], name="kill").open()
    moved = [m for m in chat.members.values() if m.server == 0]
    stayed = [m for m in chat.members.values() if m.server == 1]
    killed: dict[str, float] = {}

    async def kill_server_0() -> None:
        await asyncio.sleep(3.0)
        chat.down.add(0)  # reconnects go to server 1 from now on
        killed["acked_before"] = len(chat.acks)
        killed["at"] = time.monotonic()
        await asyncio.to_thread(stack.kill_server, 0)

    await chat.run(seconds=9.0, interval=0.4, during=kill_server_0)
    settle_s = await chat.settle()
    persist_s = await chat.wait_persisted()
    counts = chat.verify()

    assert moved and stayed
    assert all(m.server == 1 and m.reconnects == 1 for m in moved), [
        (m.username, m.server, m.reconnects) for m in moved]
    assert all(m.reconnects == 0 for m in stayed)
    assert all(m.closed_by_server == [1006] for m in moved), [m.closed_by_server for m in moved]
    recovered = max(m.reconnected_at[0] for m in moved) - killed["at"]
    in_flight = sum(m.errors.get("lost", 0) for m in moved)
    for name, value in [
        ("members moved to server 1", len(moved)),
        ("members left alone", len(stayed)),
        ("messages acked before the kill", int(killed["acked_before"])),
        ("messages acked in total", counts["acked"]),
        ("messages in Postgres", counts["persisted"]),
        ("deliveries checked (message x member)", counts["deliveries"]),
        ("sends in flight at the kill, retried elsewhere", in_flight),
        ("retries answered duplicate=true (appended before the kill)", counts["duplicate_acks"]),
        ("seconds from kill to last moved member resumed", round(recovered, 3)),
        ("slowest single reconnect+resume (s)",
         round(max(m.reconnect_seconds[0] for m in moved), 3)),
        ("seconds to settle after the traffic stopped", round(settle_s, 3)),
        ("seconds until the persister caught up", round(persist_s, 3)),
        ("lost", 0), ("duplicated", 0),
    ]:
        report(name, value)
    assert recovered < 10.0
    await chat.close()
