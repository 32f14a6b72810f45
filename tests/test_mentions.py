"""Mentions: @username of a member and @room, resolved by the server into the
message's `mentions`, a `mention` event on each mentioned member's stream, and
the rows the notification centre will read."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.stack import Recorder, Stack, extra_server, open_client, send


async def _room_of_three(stack: Stack, server: int = 0
                         ) -> tuple[Recorder, Recorder, Recorder, dict[str, Any]]:
    """Clients of the room's owner and two members (the second on `server`), and the room."""
    names = [stack.new_user(), stack.new_user(), stack.new_user()]
    owner = await open_client(stack, names[0], server=server)
    room = (await owner.request("rooms.create", name="Ops", members=names[1:]))["room"]
    ana = await open_client(stack, names[1], server=1, settled=True)
    ben = await open_client(stack, names[2], server=server, settled=True)
    return owner, ana, ben, room


def _created(client: Recorder, message_id: str) -> dict[str, Any]:
    [found] = [e["data"] for e in client.stream_events()
               if e["type"] == "message.created" and e["data"]["id"] == message_id]
    return found


async def test_a_named_member_is_mentioned_and_told_on_their_stream(stack: Stack) -> None:
    owner, ana, ben, room = await _room_of_three(stack)
    stranger = stack.new_user()
    ack = await send(owner, room["id"], f"@{ana.user['username']}, can you check?"
                     f" cc @{stranger} and @{owner.user['username']}", "m-1")
    [event] = await ana.events_of("mention", 1)
    assert event == {"op": "event", "stream": f"user:{ana.user['id']}",
                     "seq": event["seq"], "type": "mention",
                     "data": {"room": room["id"], "message": ack["id"], "thread": None,
                              "by": owner.user, "ts": ack["ts"], "everyone": False}}
    await ben.request("ping")
    # Only members count (the stranger is plain text); the author is never told.
    assert _created(ben, ack["id"])["mentions"] == sorted([ana.user["id"], owner.user["id"]])
    assert [e for e in ben.stream_events() if e["type"] == "mention"] == []
    await owner.request("ping")
    assert [e for e in owner.frames if e.get("type") == "mention"] == []
    stack.wait_sql("SELECT user_id, message_id, seq, everyone FROM rooms_mention"
                   " WHERE message_id = ?", ack["id"],
                   expect=[(ana.user["id"], ack["id"], event["seq"], False)])
    await asyncio.gather(owner.close(), ana.close(), ben.close())


async def test_a_message_naming_nobody_has_no_mentions(stack: Stack) -> None:
    owner, ana, ben, room = await _room_of_three(stack)
    ack = await send(owner, room["id"], "mail me at ops@example.com or @nobody-here", "m-1")
    await ana.events_of("message.created", 1)
    assert "mentions" not in _created(ana, ack["id"])
    assert [e for e in ana.stream_events() if e["type"] == "mention"] == []
    await asyncio.gather(owner.close(), ana.close(), ben.close())


async def test_at_room_mentions_every_member_of_a_small_room(stack: Stack) -> None:
    owner, ana, ben, room = await _room_of_three(stack)
    ack = await send(owner, room["id"], f"@room standup moved; @{ben.user['username']} leads",
                     "m-1")
    [to_ana] = await ana.events_of("mention", 1)
    [to_ben] = await ben.events_of("mention", 1)
    assert (to_ana["data"]["everyone"], to_ben["data"]["everyone"]) == (True, False)
    created = _created(ana, ack["id"])
    assert (created["mentions"], created["mentions_room"]) == ([ben.user["id"]], True)
    await asyncio.gather(owner.close(), ana.close(), ben.close())


async def test_at_room_in_a_large_room_takes_a_moderator(stack: Stack) -> None:
    with extra_server(stack, {"COLLOQUY_MENTION_ROOM_MAX_MEMBERS": "2"}) as small:
        owner, ana, ben, room = await _room_of_three(stack, server=small)
        ack = await send(owner, room["id"], "@room lunch?", "m-1")
        moderator = await open_client(stack, stack.new_user("moderator"), server=small)
        await owner.request("rooms.invite", room=room["id"],
                            users=[moderator.user["username"]])
        await moderator.request("ping")
        announced = await send(moderator, room["id"], "@room the fire drill is at 3", "m-2")
        [event] = await ana.events_of("mention", 1)
        assert event["data"]["message"] == announced["id"]
        assert "mentions_room" not in _created(ana, ack["id"])
        assert _created(ana, announced["id"])["mentions_room"] is True
        await asyncio.gather(owner.close(), ana.close(), ben.close(), moderator.close())


async def test_a_mention_in_a_reply_names_its_thread(stack: Stack) -> None:
    owner, ana, ben, room = await _room_of_three(stack)
    root = await send(owner, room["id"], "Release notes", "m-1")
    reply = await owner.reply(room["id"], root["id"], f"@{ana.user['username']} ok?", "m-2")
    [event] = await ana.events_of("mention", 1)
    assert (event["data"]["message"], event["data"]["thread"]) == (reply["id"], root["id"])
    await asyncio.gather(owner.close(), ana.close(), ben.close())
