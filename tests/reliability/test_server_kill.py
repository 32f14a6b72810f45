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
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.support import Chat, FaultStack, error_lines, services_selected

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
    await asyncio.to_thread(stack.restart_server, 0)


async def test_sockets_vanishing_mid_fan_out_cost_their_room_mates_nothing(
    two_servers: FaultStack, report: Callable[[str, Any], None],
) -> None:
    """Clients whose TCP connections drop while a message fans out: the rest still get it.

    Members on server 0 that never disconnect share a room with members whose
    connections are reset (no close frame) while a burst is being fanned out on
    that same process. Live delivery to the steady members must not depend on
    whether a neighbour's connection was still there.
    """
    stack = two_servers
    if stack.servers[0][0].poll() is not None:  # killed by the test above
        await asyncio.to_thread(stack.restart_server, 0)
    chat = await Chat(stack, rooms=1, members_per_room=12, servers=[1], name="vanish").open()
    [room] = chat.rooms
    names = chat.rooms[room]
    talker = chat.members[names[0]]
    steady = [chat.members[n] for n in names[1:5]]
    droppers = [chat.members[n] for n in names[5:]]
    for m in steady + droppers:  # everyone but the talker listens on server 0
        await m.close()
        m.server = 0
        await m.connect()
    rounds = 15
    for _ in range(rounds):
        for d in droppers:
            if not d.is_open():
                d.server = 0
                await d.connect()
        burst = [asyncio.ensure_future(chat.say(talker, room)) for _ in range(5)]
        for d in droppers:
            await asyncio.sleep(random.uniform(0, 0.004))
            d.abort()
        await asyncio.gather(*burst)
    await asyncio.sleep(1.0)
    sent = [a for a in chat.acks.values() if a.room == room]
    missing = chat.missing(sent)
    short = {n: v for n, v in missing.items() if n in {m.username for m in steady}}
    errors = error_lines(stack)
    report("messages fanned out while neighbours vanished", len(sent))
    report("connections reset mid fan-out", rounds * len(droppers))
    report("steady members short of a message", {n: len(v) for n, v in short.items()})
    report("ERROR log lines by logger", errors)
    assert short == {}, chat.describe_missing()
    await chat.close()
