"""Frames the server builds itself (realtime.wsframe), at each of the three
WebSocket length encodings: 7-bit (< 126 bytes), 16-bit (< 64 KiB), 64-bit.

Small replies (the ok to a ping) take the 7-bit length in every test; these
take the other two. The client is the `websockets` library, which parses every
frame by the RFC, so a header built wrong fails the connection.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.stack import Stack, extra_server, make_room

# MAX_BODY_CHARS: a 10 KB event frame, past the 7-bit length (16-bit header).
LONG_BODY = "x" * 10_000


@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_a_long_message_reaches_a_member_whole(stack: Stack, codec: str) -> None:
    owner, member = stack.new_user(), stack.new_user()
    sender, room = await make_room(stack, owner, [member])
    reader = await stack.client(member, codec=codec, server=1)
    await reader.request("ping")
    short = await sender.request("message.send", room=room["id"], body="a", client_id="s")
    long = await sender.request("message.send", room=room["id"], body=LONG_BODY, client_id="l")
    events = await reader.events_of("message.created", 2)
    assert [(e["seq"], e["data"]["body"]) for e in events] == [
        (short["seq"], "a"), (long["seq"], LONG_BODY)]
    for c in (sender, reader):
        await c.close()


@pytest.mark.parametrize("codec", ["json", "msgpack"])
async def test_a_history_page_over_64_kib_arrives_whole(stack: Stack, codec: str) -> None:
    owner = stack.new_user()
    sender, room = await make_room(stack, owner, [])
    acks = [await sender.request("message.send", room=room["id"], body=LONG_BODY,
                                 client_id=f"h{i}") for i in range(8)]
    reader = await stack.client(owner, codec=codec)
    page = await reader.request("history", stream=f"room:{room['id']}", limit=10)
    bodies = [(e["seq"], e["data"]["body"]) for e in page["events"]
              if e["type"] == "message.created"]
    assert bodies == [(a["seq"], LONG_BODY) for a in acks]  # 80 KB in one frame: 64-bit length
    for c in (sender, reader):
        await c.close()


async def test_a_burst_sent_while_the_fan_out_lags_arrives_once_and_in_order(
        stack: Stack) -> None:
    # One delivery per loop turn: the fan-out falls behind a burst at once, so
    # later frames join the waiting ones and go out as one write per socket.
    with extra_server(stack, {"COLLOQUY_FANOUT_SLICE_SOCKETS": "1"}) as server:
        owner, *members = (stack.new_user() for _ in range(6))
        sender = await stack.client(owner, server=server)
        room = (await sender.request("rooms.create", name="Burst", members=members))["room"]
        readers = [await stack.client(m, server=server) for m in members]
        for reader in readers:
            await reader.request("ping")
        acks = await asyncio.gather(*(
            sender.request("message.send", room=room["id"], body=f"b{i}", client_id=f"b{i}")
            for i in range(40)))
        sent = sorted((a["seq"], a["id"]) for a in acks)
        for reader in readers:
            events = await reader.events_of("message.created", 40)
            assert [(e["seq"], e["data"]["id"]) for e in events] == sent
        for c in (sender, *readers):
            await c.close()
