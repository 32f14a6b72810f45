"""Read receipts: who has read up to a message (from the read markers), for small
rooms, and receipt.updated gathered so a burst of reads is a few events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from colloquy_client import ColloquyError
from tests.stack import (
    Recorder,
    Stack,
    State,
    Users,
    assert_converges,
    extra_server,
    open_client,
    send,
    until,
)


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=40)


async def _room(stack: Stack, users: Users, members: int
                ) -> tuple[Recorder, list[Recorder], dict[str, Any], dict[str, Any]]:
    """The author's recording client, the members' clients, the room, one message."""
    names = [users.take() for _ in range(members)]
    author = await open_client(stack, users.take(), settled=True)
    room = (await author.request("rooms.create", name="Seen", members=names))["room"]
    readers = list(await asyncio.gather(*(
        open_client(stack, n, server=i % 2, settled=True) for i, n in enumerate(names))))
    ack = await send(author, room["id"], "Ship it?", "r-1")
    return author, readers, room, ack


def _receipts_of(reply: dict[str, Any]) -> State:
    return {r["user"]["id"]: (r["seq"], r["at"]) for r in reply["read_by"]}


async def test_receipts_say_who_read_up_to_a_message_and_when(stack: Stack,
                                                              users: Users) -> None:
    author, readers, room, ack = await _room(stack, users, 3)
    first = await readers[0].request("read", room=room["id"], seq=ack["seq"])
    assert first["seq"] == ack["seq"]
    reply = await author.request("receipts", room=room["id"], message=ack["id"])
    [read] = reply["read_by"]
    assert reply == {"op": "ok", "ref": reply["ref"], "message": ack["id"], "seq": ack["seq"],
                     "read_by": [{"user": readers[0].user, "seq": ack["seq"],
                                  "at": read["at"]}], "members": 3}
    [event] = await author.events_of("receipt.updated", 1)
    assert event["data"] == {"room": room["id"], "reads": [
        {"user": readers[0].user, "seq": ack["seq"], "at": read["at"]}]}
    await asyncio.gather(author.close(), *(r.close() for r in readers))


async def test_a_burst_of_reads_is_gathered_into_few_events(stack: Stack,
                                                           users: Users) -> None:
    author, readers, room, ack = await _room(stack, users, 20)
    await asyncio.gather(*(r.request("read", room=room["id"], seq=ack["seq"])
                           for r in readers))
    reply = await author.request("receipts", room=room["id"], message=ack["id"])
    assert len(reply["read_by"]) == 20
    events = await author.events_of("receipt.updated", 1)
    await asyncio.sleep(2.5)  # more than two gathering windows: any stragglers are out
    more = author.drain_events()
    events += [e for e in more if e["type"] == "receipt.updated"]
    # One per server process that took reads, at most (the burst fits in a window).
    assert 1 <= len(events) <= 2
    seen = {r["user"]["id"] for e in events for r in e["data"]["reads"]}
    assert seen == {r.user["id"] for r in readers}
    await asyncio.gather(author.close(), *(r.close() for r in readers))


async def test_a_read_over_no_new_message_is_no_receipt(stack: Stack, users: Users) -> None:
    # A client reading up to the room's head would otherwise answer each receipt with
    # a read, and that read with another receipt, for as long as the room is open.
    author, [reader], room, ack = await _room(stack, users, 1)
    await reader.request("read", room=room["id"], seq=ack["seq"])
    [event] = await reader.events_of("receipt.updated", 1)
    moved = await reader.request("read", room=room["id"], seq=event["seq"])
    assert moved["seq"] == event["seq"]
    await asyncio.sleep(2.5)  # more than two gathering windows
    assert [e for e in author.drain_events() if e["type"] == "receipt.updated"] == [event]
    await asyncio.gather(author.close(), reader.close())


async def test_receipts_are_refused_for_large_rooms_and_non_members(
        stack: Stack, users: Users) -> None:
    author, readers, room, ack = await _room(stack, users, 1)
    outsider = await open_client(stack, users.take())
    with pytest.raises(ColloquyError) as err:
        await outsider.request("receipts", room=room["id"], message=ack["id"])
    assert err.value.code == "forbidden"
    big = [users.take() for _ in range(10)]
    with extra_server(stack, {"COLLOQUY_RECEIPTS_MAX_MEMBERS": "5"}) as small:
        client = await open_client(stack, author.user["username"], server=small)
        crowd = (await client.request("rooms.create", name="Crowd", members=big))["room"]
        msg = await send(client, crowd["id"], "hello all", "c-1")
        with pytest.raises(ColloquyError) as err:
            await client.request("receipts", room=crowd["id"], message=msg["id"])
        assert err.value.code == "too_large"
        await client.close()
    await asyncio.gather(author.close(), outsider.close(), *(r.close() for r in readers))


def _apply(state: State, event: dict[str, Any]) -> State:
    """receipt.updated: each read whose seq reaches the message counts (protocol.md)."""
    if event["type"] != "receipt.updated":
        return state
    out = dict(state)
    for read in event["data"]["reads"]:
        if read["seq"] >= SEQ[0]:
            out[read["user"]["id"]] = (read["seq"], read["at"])
    return out


SEQ: list[int] = [0]  # the message's seq, for _apply


async def test_an_author_resuming_across_reads_converges_on_fresh_receipts(
        stack: Stack, users: Users) -> None:
    author, readers, room, ack = await _room(stack, users, 4)
    SEQ[0] = ack["seq"]
    await readers[0].request("read", room=room["id"], seq=ack["seq"])
    await author.events_of("receipt.updated", 1)

    async def fetch(client: Any) -> State:
        return _receipts_of(await client.receipts(room["id"], ack["id"]))

    old = await fetch(author)
    last = dict(author.last_seq)
    await author.close()
    for reader in readers[1:]:
        await reader.request("read", room=room["id"], seq=ack["seq"])
    # Gathered, then sent: wait until a member still online has heard all three.
    others = {r.user["id"] for r in readers[1:]}
    await until(lambda: others <= {r["user"]["id"] for e in readers[0].stream_events()
                                   if e["type"] == "receipt.updated"
                                   for r in e["data"]["reads"]}, "the gathered receipts")
    back = await open_client(stack, author.user["username"], last_seq=last)
    stream = f"room:{room['id']}"
    await back.request("resume", streams={stream: last[stream]})
    fresh = await assert_converges(old, back.stream_events(), _apply, lambda: fetch(back))
    assert len(fresh) == 4
    await asyncio.gather(back.close(), *(r.close() for r in readers))
