"""Redis going away under traffic: a private redis-server, killed with SIGKILL.

Three rooms of members on two server processes keep talking. Each scenario
kills the persister first, so that acked entries pile up that are only in
Redis, then kills redis-server, starts it again on the same port, and starts
a new persister.

- Without persistence (`--appendonly no --save ""`) Redis comes back empty. The
  documented behaviour (journal_redis.RedisJournal.reseed): acked entries not
  yet persisted are lost, and no seq is ever reused: the append script sees
  the epoch key missing and the counters are raised from Postgres first.
- With `--appendonly yes --appendfsync always` nothing acked is lost: every
  acked message ends up in Postgres exactly once and every member gets every
  message, live or by resume.

In both, the server processes must recover their pub/sub subscriptions by
themselves (RedisBus reconnects, then Hub.resync_all) with no socket closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.reliability.support import (
    Ack,
    Chat,
    FaultStack,
    PrivateRedis,
    log_times,
    services_selected,
    wait_for,
)

pytestmark = [
    pytest.mark.skipif(not services_selected(), reason="needs the services profile"),
    pytest.mark.timeout(300),
]


@dataclass
class Restart:
    """What happened around one Redis restart under traffic."""

    chat: Chat
    killed_at: float = 0.0  # time.monotonic() when SIGKILL was sent
    dead_at: float = 0.0  # when the old process was reaped
    back_at: float = 0.0  # when the new one answered PING
    killed_wall: float = 0.0  # time.time(), to compare with log lines
    before: list[Ack] = field(default_factory=list)  # acked before Redis was killed
    after: list[Ack] = field(default_factory=list)  # acked after the old process was gone
    limbo: list[Ack] = field(default_factory=list)  # acked within 50 ms of the kill
    persisted_at_kill: set[str] = field(default_factory=set)
    persisted_at_end: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    missing_after: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    delivered_in: float | None = None  # seconds until every member had every new message
    members_reconnected: int = 0
    send_errors: dict[str, int] = field(default_factory=dict)
    persister_alive: bool = False

    def lost(self) -> set[str]:
        return {a.id for a in self.before} - set(self.persisted_at_end)

    def unpersisted_at_kill(self) -> set[str]:
        return {a.id for a in self.before} - self.persisted_at_kill

    def top_before(self) -> dict[int, int]:
        top: dict[int, int] = {}
        for a in self.before:
            top[a.room] = max(top.get(a.room, 0), a.seq)
        return top


async def restart_under_traffic(stack: FaultStack, name: str) -> Restart:
    redis = stack.private_redis
    assert redis is not None
    chat = await Chat(stack, rooms=3, members_per_room=4, servers=[0, 1], name=name).open()
    out = Restart(chat)

    async def fault() -> None:
        await asyncio.sleep(2.0)
        await asyncio.to_thread(stack.kill_persister)
        await asyncio.sleep(2.0)  # acked entries now pile up in Redis only
        out.persisted_at_kill = set(await asyncio.to_thread(chat.persisted))
        out.killed_at, out.killed_wall = time.monotonic(), time.time()
        await asyncio.to_thread(redis.kill)
        out.dead_at = time.monotonic()
        await asyncio.to_thread(redis.start)
        out.back_at = time.monotonic()
        await asyncio.to_thread(stack.start_persister)

    await chat.run(seconds=9.0, interval=0.3, during=fault)
    for ack in chat.acks.values():
        if ack.acked_at < out.killed_at:
            out.before.append(ack)
        elif ack.acked_at > out.dead_at + 0.05:  # appended on the new redis-server
            out.after.append(ack)
        else:
            out.limbo.append(ack)
    t0 = time.monotonic()
    try:
        await wait_for(lambda: not chat.missing(out.after), "every member to get every "
                       "message sent after the restart", timeout=20, every=0.2)
        out.delivered_in = time.monotonic() - t0
    except AssertionError:
        pass
    out.missing_after = chat.missing(out.after)
    want = {a.id for a in out.after}
    with contextlib.suppress(AssertionError):
        await wait_for(lambda: want <= set(chat.persisted()), "post-restart messages in "
                       "Postgres", timeout=30, every=0.25)
    await asyncio.sleep(0.5)
    out.persisted_at_end = chat.persisted()
    out.members_reconnected = sum(m.reconnects for m in chat.members.values())
    for m in chat.members.values():
        for code, n in m.errors.items():
            out.send_errors[code] = out.send_errors.get(code, 0) + n
    out.persister_alive = stack.persister is not None and stack.persister.poll() is None
    return out


def report_restart(out: Restart, stack: FaultStack, report: Callable[[str, Any], None]) -> None:
    lost_bus = [t for t in log_times(stack, "redis bus lost") if t >= out.killed_wall - 1]
    back_bus = [t for t in log_times(stack, "redis bus reconnected") if t >= out.killed_wall - 1]
    for name, value in [
        ("messages acked before the Redis kill", len(out.before)),
        ("of those, not yet persisted at the kill", len(out.unpersisted_at_kill())),
        ("acked messages lost", len(out.lost())),
        ("messages acked after Redis was back", len(out.after)),
        ("acked within 50 ms of the kill (left out of the checks)", len(out.limbo)),
        ("Redis down (s, kill to PING answered)", round(out.back_at - out.killed_at, 3)),
        ("send errors retried by clients", dict(sorted(out.send_errors.items()))),
        ("bus reconnects logged by the servers", len(back_bus)),
        ("seconds from kill to last bus reconnect",
         round(max(back_bus) - out.killed_wall, 3) if back_bus and lost_bus else None),
        ("seconds until every member had every post-restart message", None
         if out.delivered_in is None else round(out.delivered_in, 3)),
        ("members short of post-restart messages", len(out.missing_after)),
        ("client sockets that had to reconnect", out.members_reconnected),
    ]:
        report(name, value)


# --- without persistence ------------------------------------------------------------


@pytest.fixture(scope="module")
def volatile() -> Iterator[FaultStack]:
    stack = FaultStack(redis=PrivateRedis(aof=False).start())
    try:
        yield stack.start()  # type: ignore[misc]
    finally:
        stack.stop()


async def test_bus_resubscribes_by_itself_when_its_pubsub_connections_are_killed(
    volatile: FaultStack, report: Callable[[str, Any], None],
) -> None:
    """Redis keeps its data; only the servers' pub/sub connections die, twice."""
    stack = volatile
    chat = await Chat(stack, rooms=2, members_per_room=4, servers=[0, 1], name="pubsub").open()
    assert stack.private_redis is not None
    admin = stack.private_redis.client()
    killed: list[int] = []
    started = time.time()

    async def kill_pubsub() -> None:
        for _ in range(2):
            await asyncio.sleep(2.0)
            killed.append(int(await asyncio.to_thread(admin.client_kill_filter,
                                                      _type="pubsub")))

    await chat.run(seconds=7.0, interval=0.25, during=kill_pubsub)
    settle_s = await chat.settle(timeout=20)
    await chat.wait_persisted()
    counts = chat.verify(check_repeats=False)
    reconnected = [t for t in log_times(stack, "redis bus reconnected") if t >= started]
    report("pub/sub connections killed", killed)
    report("bus reconnects logged", len(reconnected))
    report("messages acked", counts["acked"])
    report("deliveries checked", counts["deliveries"])
    report("events sent twice to one socket by the catch-up", counts["repeats"])
    report("seconds to settle", round(settle_s, 3))
    assert sum(killed) >= 4  # two servers x two kills
    assert len(reconnected) >= 4
    assert all(m.reconnects == 0 for m in chat.members.values())
    admin.close()
    await chat.close()
    # protocol.md, "Ordering rules": within a stream a socket never receives a seq
    # twice. The catch-up after a bus reconnect must not re-send what went out live.
    assert counts["repeats"] == 0, (
        f"{counts['repeats']} events were written twice to the same socket after the bus "
        "reconnected (Hub.resync_all -> ColloquySocket.resync/_catch_up -> replay)")


@pytest.fixture(scope="module")
async def volatile_restart(volatile: FaultStack) -> Restart:
    return await restart_under_traffic(volatile, "volatile")


async def test_volatile_restart_report(volatile_restart: Restart, volatile: FaultStack,
                                       report: Callable[[str, Any], None]) -> None:
    report_restart(volatile_restart, volatile, report)
    assert volatile_restart.unpersisted_at_kill(), "the scenario left nothing unpersisted"


async def test_volatile_restart_loses_only_acked_entries_not_yet_persisted(
    volatile_restart: Restart,
) -> None:
    out = volatile_restart
    assert out.lost() <= out.unpersisted_at_kill()
    assert out.persisted_at_kill <= set(out.persisted_at_end)


async def test_volatile_restart_never_reuses_a_seq(volatile_restart: Restart) -> None:
    """Each post-restart seq is above every seq acked before, in every room."""
    out = volatile_restart
    top = out.top_before()
    reused = sorted((a.room, a.seq) for a in out.after if a.seq <= top.get(a.room, 0))
    assert reused == [], (f"{len(reused)} of {len(out.after)} post-restart acks reuse a seq "
                          f"already acked before the restart (highest before: {top})")


async def test_volatile_restart_bus_recovers_and_new_messages_reach_every_member(
    volatile_restart: Restart,
) -> None:
    out = volatile_restart
    assert out.after, "no message was acked after the restart"
    assert out.members_reconnected == 0
    assert out.missing_after == {}, {
        "members short": len(out.missing_after),
        "missing (room, seq) per member": {k: v[:6] for k, v in out.missing_after.items()},
    }


async def test_volatile_restart_new_messages_land_in_postgres_exactly_once(
    volatile_restart: Restart,
) -> None:
    out = volatile_restart
    stored = out.persisted_at_end
    for ack in out.after:
        assert stored.get(ack.id) == (ack.room, ack.seq, ack.client_id), ack
    assert out.persister_alive


# --- with appendonly yes, appendfsync always ------------------------------------------


@pytest.fixture(scope="module")
def durable() -> Iterator[FaultStack]:
    stack = FaultStack(redis=PrivateRedis(aof=True).start())
    try:
        yield stack.start()  # type: ignore[misc]
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def durable_restart(durable: FaultStack) -> Restart:
    return await restart_under_traffic(durable, "durable")


async def test_durable_restart_report(durable_restart: Restart, durable: FaultStack,
                                      report: Callable[[str, Any], None]) -> None:
    report_restart(durable_restart, durable, report)
    assert durable_restart.unpersisted_at_kill(), "the scenario left nothing unpersisted"


async def test_durable_restart_loses_nothing_acked(durable_restart: Restart,
                                                   report: Callable[[str, Any], None]) -> None:
    out = durable_restart
    chat = out.chat
    await chat.settle(timeout=30)
    await chat.wait_persisted()
    counts = chat.verify(check_repeats=False)
    report("acked", counts["acked"])
    report("persisted exactly once", counts["persisted"])
    report("deliveries checked", counts["deliveries"])
    report("events sent twice to one socket by the catch-up", counts["repeats"])
    assert out.lost() == set()
    assert out.members_reconnected == 0


async def test_durable_restart_sends_no_event_twice_to_a_socket(durable_restart: Restart) -> None:
    """protocol.md, "Ordering rules": within a stream, never a seq twice."""
    chat = durable_restart.chat
    repeats = {m.username: m.repeats for m in chat.members.values() if m.repeats}
    assert repeats == {}, f"events written twice after the bus reconnected: {repeats}"


async def test_durable_restart_keeps_every_room_stream_gapless(
    durable_restart: Restart, durable: FaultStack,
) -> None:
    for room in durable_restart.chat.rooms:
        seqs = [q for (q,) in durable.sql(
            "SELECT seq FROM realtime_streamevent WHERE stream = ? ORDER BY seq", f"room:{room}")]
        assert seqs == list(range(1, len(seqs) + 1)), (room, seqs)
