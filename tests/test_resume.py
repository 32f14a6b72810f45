"""Resume and history: missed events exactly once, in order, window or database.

The test stack keeps a journal window of 20 events per stream, so a gap of 60
messages, once the persister has written them, is read back from the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.stack import (
    Recorder,
    Stack,
    Users,
    journal_lag,
    open_client,
    send,
    until,
    window_floor,
)

# uvicorn serves in production; daphne stays supported, so these run on it too.
pytestmark = pytest.mark.also_daphne


def message_frame(room: int, ack: dict[str, Any], body: str, client_id: str,
                  author: dict[str, Any]) -> dict[str, Any]:
    return {
        "op": "event", "stream": f"room:{room}", "seq": ack["seq"], "type": "message.created",
        "data": {"id": ack["id"], "room": room, "author": author, "body": body,
                 "client_id": client_id, "ts": ack["ts"]},
    }


async def persisted_and_trimmed(stack: Stack, room: int, messages: int, below: int) -> int:
    """Wait until `messages` rows are in the database and the persister has trimmed
    the window past seq `below`; returns the window's oldest seq."""
    await asyncio.to_thread(
        stack.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", room,
        expect=[(messages,)], timeout=30,
    )
    await until(lambda: journal_lag(stack) == 0, "the persister to acknowledge everything")
    floor = window_floor(stack, f"room:{room}")
    assert floor is not None and floor > below, f"window of room:{room} starts at {floor}"
    return floor


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=11)  # what this module's tests take, per profile


async def room_with_reader(stack: Stack, users: Users, extra: int = 0) -> tuple[
        Recorder, dict[str, Any], str, Recorder, list[str]]:
    """A room made by a fresh owner with one reader (socket open, first request done)."""
    owner, member = users.take(), users.take()
    others = [users.take() for _ in range(extra)]
    sender = await open_client(stack, owner)
    room = (await sender.request("rooms.create", name="Resume", members=[member, *others]))
    room = room["room"]
    reader = await open_client(stack, member)
    await reader.request("ping")
    return sender, room, member, reader, others


def durable(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames other than ephemeral events (presence, typing carry no seq)."""
    return [f for f in frames if f.get("op") != "event" or "seq" in f]


def frames_of(client: Recorder, stream: str) -> list[dict[str, Any]]:
    return [f for f in client.frames if f.get("op") == "event" and f["stream"] == stream]


async def test_resume_returns_missed_events_in_order_then_ok(stack: Stack, users: Users) -> None:
    sender, room, member, reader, _ = await room_with_reader(stack, users)
    rid, stream = room["id"], f"room:{room['id']}"
    await send(sender, rid, "seen", "seen-0")
    await reader.events_of("message.created", 1, stream=stream)
    last = dict(reader.last_seq)
    await reader.close()

    author = sender.hello["user"]
    bodies = [f"missed {i}" for i in range(5)]
    acks = [await send(sender, rid, b, f"m-{i}") for i, b in enumerate(bodies)]
    assert [a["seq"] for a in acks] == list(range(last[stream] + 1, last[stream] + 6))

    back = await open_client(stack, member, server=1, last_seq=last)
    ok = await back.request("resume", streams={stream: last[stream]})
    assert ok == {"op": "ok", "ref": ok["ref"], "streams": {stream: acks[-1]["seq"]}, "more": {}}
    assert durable(back.frames) == [
        *(message_frame(rid, a, b, f"m-{i}", author) for i, (a, b) in enumerate(
            zip(acks, bodies, strict=True))),
        ok,
    ]
    assert back.duplicates == 0
    await asyncio.gather(sender.close(), back.close())


async def test_resume_past_the_window_reads_the_database_exactly_once(
        stack: Stack, users: Users) -> None:
    sender, room, member, reader, _ = await room_with_reader(stack, users)
    rid, stream = room["id"], f"room:{room['id']}"
    last = dict(reader.last_seq)
    assert last[stream] == 1  # room.created
    await reader.close()

    author = sender.hello["user"]
    acks = [await send(sender, rid, f"old {i}", f"o-{i}") for i in range(60)]
    assert [a["seq"] for a in acks] == list(range(2, 62))
    # The oldest missed events are now only in the database.
    await persisted_and_trimmed(stack, rid, 60, below=2)

    back = await open_client(stack, member, server=1, last_seq=last)
    ok = await back.request("resume", streams={stream: 1})
    assert ok == {"op": "ok", "ref": ok["ref"], "streams": {stream: 61}, "more": {}}
    assert durable(back.frames) == [
        *(message_frame(rid, a, f"old {i}", f"o-{i}", author) for i, a in enumerate(acks)),
        ok,
    ]
    assert back.duplicates == 0
    await asyncio.gather(sender.close(), back.close())


async def test_live_messages_during_resume_follow_the_replay_once_each(
        stack: Stack, users: Users) -> None:
    sender, room, member, reader, [talker] = await room_with_reader(stack, users, extra=1)
    rid, stream = room["id"], f"room:{room['id']}"
    last = dict(reader.last_seq)
    await reader.close()
    missed = [await send(sender, rid, f"old {i}", f"o-{i}") for i in range(60)]
    await persisted_and_trimmed(stack, rid, 60, below=2)

    live_client = await open_client(stack, talker, server=0)
    back = await open_client(stack, member, server=1, last_seq=last)
    started = asyncio.Event()

    async def talk() -> list[dict[str, Any]]:
        acks = []
        for i in range(30):
            acks.append(await send(live_client, rid, f"live {i}", f"l-{i}"))
            started.set()
        return acks

    talking = asyncio.create_task(talk())
    await started.wait()  # live traffic is flowing before and while the resume replays
    ok = await back.request("resume", streams={stream: last[stream]})
    live = await talking
    every = [a["seq"] for a in missed + live]
    assert every == list(range(2, 92))
    await until(lambda: len(frames_of(back, stream)) >= 90 or None,
                "every missed and live message", timeout=20)
    await asyncio.sleep(0.2)  # anything repeated would arrive now
    assert [f["seq"] for f in frames_of(back, stream)] == every
    assert back.duplicates == 0
    assert ok["more"] == {}
    # Everything before the ok frame is the contiguous replay (plus held live events).
    before_ok = durable(back.frames[:back.frames.index(ok)])
    assert [f["seq"] for f in before_ok] == list(range(2, ok["streams"][stream] + 1))
    bodies = [f["data"]["body"] for f in frames_of(back, stream)]
    assert bodies == [f"old {i}" for i in range(60)] + [f"live {i}" for i in range(30)]
    await asyncio.gather(sender.close(), back.close(), live_client.close())


async def test_auto_reconnect_after_server_restart_gets_every_message_once(
        stack: Stack, users: Users) -> None:
    owner, member = users.take(), users.take()
    sender = await open_client(stack, owner, server=1)
    room = (await sender.request("rooms.create", name="Restart", members=[member]))["room"]
    rid, stream = room["id"], f"room:{room['id']}"
    listener = await open_client(stack, member, server=0, auto_reconnect=True)
    await listener.request("ping")
    acks = [await send(sender, rid, f"before {i}", f"b-{i}") for i in range(5)]
    await listener.events_of("message.created", 5, stream=stream)

    restart = asyncio.create_task(asyncio.to_thread(stack.restart_server, 0))
    if stack.profile == "services":
        # Server 1 keeps taking messages while server 0 dies and comes back.
        acks += [await send(sender, rid, f"during {i}", f"d-{i}") for i in range(5)]
    await restart
    if stack.profile == "embedded":  # the only server died with the sender's socket
        await sender.close()
        sender = await open_client(stack, owner, server=1)
    acks += [await send(sender, rid, f"after {i}", f"a-{i}") for i in range(5)]

    await until(lambda: listener.last_seq.get(stream) == acks[-1]["seq"],
                "the reconnected listener to reach the last message", timeout=30)
    assert listener.reconnects >= 1
    assert listener.duplicates == 0
    seqs = [f["seq"] for f in frames_of(listener, stream) if f["type"] == "message.created"]
    assert seqs == [a["seq"] for a in acks]
    await asyncio.gather(sender.close(), listener.close())


# --- history ---------------------------------------------------------------------

LONG_ROOM_MESSAGES = 60  # seqs: 1 room.created, then 2..61 messages


@pytest.fixture(scope="module")
async def long_room(stack: Stack, users: Users) -> dict[str, Any]:
    """A room with 60 messages, persisted, its older events trimmed from the window."""
    sender, room, member, reader, _ = await room_with_reader(stack, users)
    rid = room["id"]
    await reader.close()
    author = sender.hello["user"]
    expected = {1: {"op": "event", "stream": f"room:{rid}", "seq": 1, "type": "room.created",
                    "data": {"room": room, "by": author}}}
    for i in range(LONG_ROOM_MESSAGES):
        ack = await send(sender, rid, f"h{i}", f"h-{i}")
        expected[ack["seq"]] = message_frame(rid, ack, f"h{i}", f"h-{i}", author)
    await sender.close()
    assert sorted(expected) == list(range(1, 62))
    floor = await persisted_and_trimmed(stack, rid, LONG_ROOM_MESSAGES, below=12)
    return {"room": rid, "member": member, "frames": expected, "floor": floor}


# Each case is a function of the window's floor f (its oldest seq; 42 in the
# embedded profile, lower in Redis, whose trimming is approximate): seqs below f
# are only in the database.
HISTORY_CASES: dict[str, Callable[[int], tuple[dict[str, int], range]]] = {
    "newest": lambda f: ({"limit": 10}, range(52, 62)),
    "before-across": lambda f: ({"before": f + 3, "limit": 10}, range(f - 7, f + 3)),
    "before-db": lambda f: ({"before": f, "limit": 200}, range(1, f)),
    "before-start": lambda f: ({"before": 3, "limit": 10}, range(1, 3)),
    "after-oldest": lambda f: ({"after": 0, "limit": 5}, range(1, 6)),
    "after-across": lambda f: ({"after": f - 6, "limit": 10}, range(f - 5, f + 5)),
    "after-db-to-head": lambda f: ({"after": 5, "limit": 200}, range(6, 62)),
    "after-to-head": lambda f: ({"after": 55, "limit": 50}, range(56, 62)),
    "after-head": lambda f: ({"after": 61, "limit": 10}, range(0)),
    "before-first": lambda f: ({"before": 1, "limit": 10}, range(0)),
}


@pytest.mark.parametrize("case", list(HISTORY_CASES))
async def test_history_cursor_returns_exact_slice(
        stack: Stack, long_room: dict[str, Any], case: str) -> None:
    cursor, seqs = HISTORY_CASES[case](long_room["floor"])
    reader = await open_client(stack, long_room["member"], server=1)
    stream = f"room:{long_room['room']}"
    reply = await reader.request("history", stream=stream, **cursor)
    assert reply == {"op": "ok", "ref": reply["ref"], "stream": stream,
                     "events": [long_room["frames"][s] for s in seqs]}
    await reader.close()


async def test_history_pages_backwards_through_the_whole_stream(
        stack: Stack, long_room: dict[str, Any]) -> None:
    reader = await open_client(stack, long_room["member"])
    stream = f"room:{long_room['room']}"
    pages: list[list[int]] = []
    before = None
    while True:
        cursor = {} if before is None else {"before": before}
        reply = await reader.request("history", stream=stream, limit=7, **cursor)
        if not reply["events"]:
            break
        pages.append([e["seq"] for e in reply["events"]])
        before = reply["events"][0]["seq"]
    assert [s for page in reversed(pages) for s in page] == list(range(1, 62))
    assert [len(p) for p in pages] == [7] * 8 + [5]
    await reader.close()
