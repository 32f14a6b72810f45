"""Appends that meet others in flight go to Redis as one pipeline per turn of the
server's event loop (realtime.journal_redis): each still gets its own seq, ack
and event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import redis
import redis.asyncio as aioredis

from realtime.journal_redis import RedisJournal
from tests.stack import REDIS_DB, Stack

SENDERS = 12
EACH = 5


async def _burst(stack: Stack, just_before: Callable[[], object] = lambda: None,
                 ) -> tuple[list[dict], list[dict], int]:
    """SENDERS members send EACH messages at once, on one server process; a
    reader on the other process collects the events. Returns acks, events, room."""
    names = [stack.user_with_token() for _ in range(SENDERS + 1)]
    owner = await stack.client(names[0])
    room = (await owner.request("rooms.create", name="Burst", members=names[1:]))["room"]
    senders = [await stack.client(n, server=0) for n in names[1:]]
    reader = await stack.client(names[0], server=1)
    await reader.request("ping")
    just_before()
    acks = await asyncio.gather(*(
        s.request("message.send", room=room["id"], body=f"{i}.{k}", client_id=f"b{i}.{k}")
        for k in range(EACH) for i, s in enumerate(senders)
    ))
    events = await reader.events_of("message.created", SENDERS * EACH,
                                    stream=f"room:{room['id']}")
    for c in (owner, reader, *senders):
        await c.close()
    return list(acks), events, room["id"]


async def test_simultaneous_sends_get_distinct_gapless_seqs_each_delivered_once(
        services: Stack) -> None:
    acks, events, _ = await _burst(services)
    seqs = sorted(a["seq"] for a in acks)
    assert seqs == list(range(seqs[0], seqs[0] + SENDERS * EACH))
    assert [e["seq"] for e in events] == seqs  # in seq order, none twice, none missing
    assert {e["data"]["id"]: e["seq"] for e in events} == {a["id"]: a["seq"] for a in acks}


async def test_sends_after_redis_forgot_its_scripts_are_all_stored_once(services: Stack) -> None:
    # What a Redis restart leaves behind for every server: an empty script cache.
    flush = redis.Redis.from_url(services.redis_url).script_flush
    acks, events, room = await _burst(services, just_before=flush)
    assert len({a["seq"] for a in acks}) == SENDERS * EACH
    assert sorted(e["seq"] for e in events) == sorted(a["seq"] for a in acks)
    services.wait_sql("SELECT count(*), count(DISTINCT seq) FROM rooms_message WHERE room_id = ?",
                      room, expect=[(SENDERS * EACH, SENDERS * EACH)])


async def test_a_pipeline_refused_for_a_lost_script_cache_runs_again_once() -> None:
    """A path a burst reaches only by chance: Redis restarts while an append is
    on its way, so the pipeline behind it meets an empty script cache. Against
    the real Redis, with keys of this test's own."""
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}")
    prefix = f"cqt-pipe-{uuid.uuid4().hex[:8]}"
    journal = RedisJournal(client)
    await client.set(f"{prefix}:epoch", 1)
    await client.script_flush()
    stream = "room:1"
    batch = [([f"{prefix}:seq:{stream}", f"{prefix}:win:{stream}", f"{prefix}:journal",
               f"{prefix}:epoch"],
              ['{"op":"event","stream":"room:1","seq":', f',"n":{i}}}', stream, "{}", 60,
               f"{prefix}:ev:{stream}", f"{prefix}:cnt:{stream}:", 0, 0, 0],  # no tallies
              asyncio.get_running_loop().create_future()) for i in range(3)]
    try:
        assert await journal._pipelined(batch) == [[1, b"1"], [1, b"2"], [1, b"3"]]
        window = await client.xrange(f"{prefix}:win:{stream}")
        assert [fields[b"f"] for _, fields in window] == [
            b'{"op":"event","stream":"room:1","seq":1,"n":0}',
            b'{"op":"event","stream":"room:1","seq":2,"n":1}',
            b'{"op":"event","stream":"room:1","seq":3,"n":2}']
    finally:
        await client.delete(*[k async for k in client.scan_iter(f"{prefix}:*")])
        await client.aclose()
