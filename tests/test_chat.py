"""Group chat end to end: create, send, fan-out to every member, ack, persistence."""

from __future__ import annotations

import asyncio

import pytest

from tests.stack import Stack, make_room

# uvicorn serves in production; daphne stays supported, so these run on it too.
pytestmark = pytest.mark.also_daphne


async def test_create_room_replies_with_room_and_members(stack: Stack) -> None:
    a, b = stack.new_user(), stack.new_user()
    client, room = await make_room(stack, a, [b])
    assert room["name"] == "Launch"
    assert room["kind"] == "group"
    assert [m["username"] for m in room["members"]] == sorted([a, b])
    await client.close()


async def test_send_reaches_every_member_on_both_processes_with_same_seq(stack: Stack) -> None:
    owner, m1, m2 = stack.new_user(), stack.new_user(), stack.new_user()
    sender, room = await make_room(stack, owner, [m1, m2])
    r1 = await stack.client(m1, server=0)
    r2 = await stack.client(m2, server=1)  # the other process in the services profile
    await r1.request("ping")
    await r2.request("ping")
    ack = await sender.request("message.send", room=room["id"], body="hello", client_id="c-1")
    assert set(ack) == {"op", "ref", "id", "seq", "ts", "duplicate"}
    assert ack["duplicate"] is False
    for reader in (r1, r2):
        [event] = await reader.events_of("message.created", 1, stream=f"room:{room['id']}")
        assert event == {
            "op": "event", "stream": f"room:{room['id']}", "seq": ack["seq"],
            "type": "message.created",
            "data": {"id": ack["id"], "room": room["id"], "body": "hello", "client_id": "c-1",
                     "ts": ack["ts"], "author": sender.hello["user"]},
        }
    for c in (sender, r1, r2):
        await c.close()


async def test_json_and_msgpack_clients_see_identical_events(stack: Stack) -> None:
    owner, j, m = stack.new_user(), stack.new_user(), stack.new_user()
    sender, room = await make_room(stack, owner, [j, m])
    cj = await stack.client(j, codec="json")
    cm = await stack.client(m, codec="msgpack", server=1)
    await cj.request("ping")
    await cm.request("ping")
    for i in range(3):
        await sender.request("message.send", room=room["id"], body=f"n{i} é ✓", client_id=f"k{i}")
    ej = await cj.events_of("message.created", 3)
    em = await cm.events_of("message.created", 3)
    assert ej == em
    assert [e["data"]["body"] for e in ej] == ["n0 é ✓", "n1 é ✓", "n2 é ✓"]
    for c in (sender, cj, cm):
        await c.close()


async def test_acked_message_is_in_history_at_once_and_persisted(stack: Stack) -> None:
    owner, other = stack.new_user(), stack.new_user()
    sender, room = await make_room(stack, owner, [other])
    ack = await sender.request("message.send", room=room["id"], body="durable", client_id="d-1")
    reader = await stack.client(other, server=1)
    hist = await reader.request("history", stream=f"room:{room['id']}", limit=10)
    assert [(e["seq"], e["type"]) for e in hist["events"]] == [
        (1, "room.created"), (ack["seq"], "message.created")]
    stack.wait_sql("SELECT body, seq FROM rooms_message WHERE id = ?", ack["id"],
                   expect=[("durable", ack["seq"])])
    await asyncio.gather(sender.close(), reader.close())


async def test_duplicate_client_id_returns_original_and_stores_once(stack: Stack) -> None:
    owner, other = stack.new_user(), stack.new_user()
    sender, room = await make_room(stack, owner, [other])
    reader = await stack.client(other)
    await reader.request("ping")
    first = await sender.request("message.send", room=room["id"], body="once", client_id="dup")
    again = await sender.request("message.send", room=room["id"], body="once", client_id="dup")
    assert (again["id"], again["seq"], again["ts"]) == (first["id"], first["seq"], first["ts"])
    assert again["duplicate"] is True
    marker = await sender.request("message.send", room=room["id"], body="next", client_id="n")
    events = await reader.events_of("message.created", 2)
    assert [e["seq"] for e in events] == [first["seq"], marker["seq"]]
    stack.wait_sql("SELECT count(*) FROM rooms_message WHERE room_id = ?", room["id"],
                   expect=[(2,)])
    await asyncio.gather(sender.close(), reader.close())
