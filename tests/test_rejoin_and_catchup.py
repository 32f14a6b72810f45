"""Rooms you come back to: a direct room you left, and rooms joined while away."""

from __future__ import annotations

import asyncio

from colloquy_client import Client
from tests.stack import Stack


async def test_reopening_a_direct_room_you_left_rejoins_it(stack: Stack) -> None:
    me, peer = stack.new_user(), stack.new_user()
    client = await stack.client(me)
    room = (await client.request("rooms.create", kind="direct", members=[peer]))["room"]
    await client.request("rooms.leave", room=room["id"])
    again = (await client.request("rooms.create", kind="direct", members=[peer]))["room"]
    assert again["id"] == room["id"]
    assert me in [m["username"] for m in again["members"]]
    ack = await client.request("message.send", room=room["id"], body="back", client_id="b1")
    assert ack["seq"] == 4  # room.created, member.left, member.joined, this message
    assert (await client.request("read", room=room["id"], seq=ack["seq"]))["seq"] == ack["seq"]
    await client.close()


async def test_resume_replays_rooms_joined_while_away(stack: Stack) -> None:
    me, owner = stack.new_user(), stack.new_user()
    offline = Client(stack.ws_url(0), token=stack.token(me))
    await offline.connect()
    await offline.request("ping")
    positions = dict(offline.last_seq)
    await offline.close()
    host = await stack.client(owner, server=1)
    room = (await host.request("rooms.create", name="While away", members=[me]))["room"]
    sent = [await host.request("message.send", room=room["id"], body=f"m{i}",
                               client_id=f"w{i}") for i in range(3)]
    back = Client(stack.ws_url(0), token=stack.token(me))
    await back.connect()
    back.last_seq = dict(positions)  # what a reconnecting client knows; not the new hello
    reply = await back.request("resume", streams=positions)
    stream = f"room:{room['id']}"
    assert reply["streams"][stream] == sent[-1]["seq"]
    events = back.drain_events()
    # The user stream first (what it replays says which rooms to catch up), then the room.
    assert [(e["stream"], e["type"]) for e in events] == [
        (f"user:{back.hello['user']['id']}", "room.added"),
        (f"user:{back.hello['user']['id']}", "notification.created"),
        (stream, "room.created"),
        (stream, "message.created"), (stream, "message.created"), (stream, "message.created"),
    ]
    assert [e["data"]["body"] for e in events[3:]] == ["m0", "m1", "m2"]
    assert back.duplicates == 0
    await asyncio.gather(back.close(), host.close())
