"""The notification centre: notification.created on the recipient's stream for a
mention, a reply in a followed thread, a reaction to my message and being added
to a room; notifications.list and notifications.read, on every device at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from colloquy_client import ColloquyError
from tests.stack import Recorder, Stack, State, assert_converges, open_client, send


async def _room(stack: Stack) -> tuple[Recorder, Recorder, dict[str, Any]]:
    """The owner's client, a member's recording client on the other process (settled
    after the room.added and its notification), and the room."""
    owner, member = stack.new_user(), stack.new_user()
    writer = await open_client(stack, owner)
    reader = await open_client(stack, member, server=1, settled=True)
    room = (await writer.request("rooms.create", name="Ops", members=[member]))["room"]
    await reader.events_of("notification.created", 1)
    reader.frames.clear()
    return writer, reader, room


def _created(client: Recorder) -> list[dict[str, Any]]:
    return [e["data"] for e in client.stream_events() if e["type"] == "notification.created"]


async def test_being_added_to_a_room_notifies_the_member_but_not_the_creator(
        stack: Stack) -> None:
    owner, member = stack.new_user(), stack.new_user()
    writer = await open_client(stack, owner, settled=True)
    reader = await open_client(stack, member, server=1, settled=True)
    room = (await writer.request("rooms.create", name="Launch", members=[member]))["room"]
    [event] = await reader.events_of("notification.created", 1)
    assert event == {"op": "event", "stream": f"user:{reader.user['id']}", "seq": event["seq"],
                     "type": "notification.created",
                     "data": {"id": event["data"]["id"], "kind": "room_added",
                              "room": room["id"], "message": None, "thread": None,
                              "actor": writer.user, "ts": event["data"]["ts"],
                              "preview": "Launch", "emoji": ""}}
    await writer.request("ping")
    assert _created(writer) == []
    await asyncio.gather(writer.close(), reader.close())


async def test_a_mention_notifies_once_with_a_preview(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    body = f"@{reader.user['username']} " + "please check the rota " * 10
    ack = await send(writer, room["id"], body, "n-1")
    [note] = [e["data"] for e in await reader.events_of("notification.created", 1)]
    assert (note["kind"], note["message"], note["actor"]) == ("mention", ack["id"], writer.user)
    assert note["preview"] == body[:139] + "…"
    listed = await reader.request("notifications.list")
    assert [(n["kind"], n["read"]) for n in listed["notifications"]] == [
        ("mention", False), ("room_added", False)]
    assert listed["notifications"][0]["id"] == note["id"]
    assert listed["unread"] == 2  # the room it was added to, and the mention
    await asyncio.gather(writer.close(), reader.close())


async def test_an_edited_mentions_preview_is_shown_as_it_is_now(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    ack = await send(writer, room["id"], f"@{reader.user['username']} teh rota", "n-1")
    await reader.events_of("notification.created", 1)
    await writer.edit_message(room["id"], ack["id"], f"@{reader.user['username']} the rota")
    listed = await reader.request("notifications.list")
    assert [(n["kind"], n["preview"]) for n in listed["notifications"]] == [
        ("mention", f"@{reader.user['username']} the rota"), ("room_added", "Ops")]
    await asyncio.gather(writer.close(), reader.close())


async def test_a_reply_notifies_the_threads_followers_but_not_its_author(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    root = await send(writer, room["id"], "Release notes?", "n-1")
    await reader.reply(room["id"], root["id"], "Drafting them", "n-2")  # the root's author follows
    [note] = [e["data"] for e in await writer.events_of("notification.created", 1)]
    assert (note["kind"], note["thread"], note["preview"]) == ("reply", root["id"],
                                                               "Drafting them")
    await writer.reply(room["id"], root["id"], "Thanks", "n-3")  # the replier follows too
    [back] = [e["data"] for e in await reader.events_of("notification.created", 1)]
    assert (back["kind"], back["actor"]) == ("reply", writer.user)
    await writer.request("ping")
    assert [n["kind"] for n in _created(writer)] == ["reply"]  # not of their own reply
    await writer.unfollow_thread(room["id"], root["id"])
    await reader.reply(room["id"], root["id"], "Done", "n-4")
    await writer.request("ping")
    assert [n["kind"] for n in _created(writer)] == ["reply"]
    await asyncio.gather(writer.close(), reader.close())


async def test_a_reaction_notifies_the_author_once_until_read(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    mine = await send(reader, room["id"], "Shipped", "n-1")
    await reader.react(room["id"], mine["id"], "tada")  # my own: nothing
    for _ in range(2):
        await writer.react(room["id"], mine["id"], "tada")
        await writer.unreact(room["id"], mine["id"], "tada")
    await writer.react(room["id"], mine["id"], "heart")
    await reader.request("ping")
    assert [(n["kind"], n["emoji"], n["preview"]) for n in _created(reader)] == [
        ("reaction", "tada", "Shipped"), ("reaction", "heart", "Shipped")]
    await asyncio.gather(writer.close(), reader.close())


async def test_reading_on_one_device_reads_on_every_device(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    tablet = await open_client(stack, reader.user["username"], server=0, settled=True)
    for i in range(3):
        await send(writer, room["id"], f"@{reader.user['username']} ping {i}", f"n-{i}")
    notes = [e["data"] for e in await tablet.events_of("notification.created", 3)]
    reply = await reader.request("notifications.read", ids=[notes[0]["id"]])
    assert (reply["read"], reply["seq"] is not None) == (1, True)
    [event] = await tablet.events_of("notification.read", 1)
    assert event["data"] == {"ids": [notes[0]["id"]], "up_to": None}
    again = await tablet.request("notifications.read", ids=[notes[0]["id"]])
    assert (again["read"], again["seq"]) == (0, None)
    unread = await tablet.request("notifications.list", unread_only=True)
    assert [(n["id"], n["kind"]) for n in unread["notifications"]][:2] == [
        (notes[2]["id"], "mention"), (notes[1]["id"], "mention")]
    assert [n["kind"] for n in unread["notifications"]][2:] == ["room_added"]
    everything = await tablet.request("notifications.read", up_to=notes[2]["id"])
    assert everything["read"] == 3  # the two mentions left and the room it was added to
    await reader.events_of("notification.read", 2)
    listed = await reader.request("notifications.list")
    assert (listed["unread"], {n["read"] for n in listed["notifications"]}) == (0, {True})
    await asyncio.gather(writer.close(), reader.close(), tablet.close())


async def test_a_deleted_messages_preview_is_gone_from_the_list_and_the_stream(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    ack = await send(writer, room["id"], f"@{reader.user['username']} the code is 4411", "n-1")
    await reader.events_of("notification.created", 1)
    await writer.delete_message(room["id"], ack["id"])
    listed = await reader.request("notifications.list")
    assert listed["notifications"][0]["preview"] == ""
    history = await reader.request("history", stream=f"user:{reader.user['id']}", limit=50)
    assert "4411" not in str(history)
    assert [e["data"]["preview"] for e in history["events"]
            if e["type"] == "notification.created" and e["data"]["kind"] == "mention"] == [""]
    await asyncio.gather(writer.close(), reader.close())


async def test_bad_reads_are_refused(stack: Stack) -> None:
    writer, reader, _ = await _room(stack)
    for fields, code in (({}, "bad_request"), ({"ids": [1], "up_to": 1}, "bad_request"),
                         ({"ids": []}, "bad_request"), ({"ids": ["x"]}, "bad_request"),
                         ({"ids": list(range(501))}, "too_large"),
                         ({"up_to": "all"}, "bad_request")):
        with pytest.raises(ColloquyError) as err:
            await reader.request("notifications.read", **fields)
        assert err.value.code == code, fields
    for fields in ({"limit": 0}, {"limit": 101}, {"unread_only": "yes"}):
        with pytest.raises(ColloquyError) as err:
            await reader.request("notifications.list", **fields)
        assert err.value.code == "bad_request", fields
    await asyncio.gather(writer.close(), reader.close())


def _apply(state: State, event: dict[str, Any]) -> State:
    """What a client does with its stream's notification events (docs/protocol.md)."""
    state = {k: dict(v) for k, v in state.items()}
    data = event["data"]
    if event["type"] == "notification.created":
        state[data["id"]] = {**data, "read": False}
    elif event["type"] == "notification.read":
        for nid, note in state.items():
            if (data["ids"] is not None and nid in data["ids"]) or (
                    data["up_to"] is not None and nid <= data["up_to"]):
                note["read"] = True
    return state


async def _centre(client: Any) -> State:
    listed = await client.notifications(limit=100)  # the client library's method
    return {n["id"]: n for n in listed["notifications"]}


async def test_a_device_resuming_across_notifications_and_reads_converges(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    old = await _centre(reader)
    await reader.request("ping")
    last = dict(reader.last_seq)
    await reader.close()
    name = reader.user["username"]
    first = await send(writer, room["id"], f"@{name} one", "n-1")
    await send(writer, room["id"], f"@{name} two", "n-2")
    await writer.react(room["id"], first["id"], "eyes")  # not theirs: nobody notified
    phone = await open_client(stack, name, server=1)
    centre = await _centre(phone)
    await phone.read_notifications([max(centre)])
    await phone.close()
    me = f"user:{reader.user['id']}"
    back = await open_client(stack, name, last_seq=last)
    await back.request("resume", streams={me: last[me]})
    fresh = await assert_converges(old, back.stream_events(), _apply, lambda: _centre(back))
    assert sorted(n["read"] for n in fresh.values()) == [False, False, True]
    await asyncio.gather(writer.close(), back.close())


async def test_a_room_muted_to_mentions_notifies_only_mentions_and_still_counts_unread(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    tablet = await open_client(stack, reader.user["username"], server=0, settled=True)
    muted = await reader.mute_room(room["id"], "mentions")  # the client library's method
    assert (muted["room"], muted["level"], muted["until"]) == (room["id"], "mentions", None)
    [event] = await tablet.events_of("room.muted", 1)
    assert event["data"] == {"room": room["id"], "level": "mentions", "until": None}
    root = await send(reader, room["id"], "Lunch?", "n-1")
    await writer.reply(room["id"], root["id"], "Yes", "n-2")  # a reply: not notified
    await send(writer, room["id"], f"@{reader.user['username']} at noon", "n-3")
    await reader.request("ping")
    assert [n["kind"] for n in _created(reader)] == ["mention"]
    [listed] = [r for r in (await reader.request("rooms.list"))["rooms"] if r["id"] == room["id"]]
    # Thread replies are not counted in the room (the thread's followers hear of them).
    assert (listed["mute"], listed["unread"], listed["mentions"]) == (
        {"level": "mentions", "until": None}, 1, 1)
    await asyncio.gather(writer.close(), reader.close(), tablet.close())


async def test_a_room_muted_to_nothing_notifies_nothing_until_the_mute_ends(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    until = (await reader.request("ping"))["ts"] + 1500
    await reader.request("rooms.mute", room=room["id"], level="nothing", until=until)
    name = reader.user["username"]
    await send(writer, room["id"], f"@{name} quiet", "n-1")
    await reader.request("ping")
    assert _created(reader) == []
    now = (await reader.request("ping"))["ts"]
    await asyncio.sleep((until - now) / 1000 + 0.2)  # past the mute's end, by the server's clock
    [listed] = [r for r in (await reader.request("rooms.list"))["rooms"] if r["id"] == room["id"]]
    assert listed["mute"] == {"level": "all", "until": None}
    await send(writer, room["id"], f"@{name} loud", "n-2")
    [note] = [e["data"] for e in await reader.events_of("notification.created", 1)]
    assert note["preview"] == f"@{name} loud"
    await asyncio.gather(writer.close(), reader.close())


async def test_kinds_turned_off_are_not_notified_and_every_device_hears_it(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    tablet = await open_client(stack, reader.user["username"], server=0, settled=True)
    assert await reader.notification_prefs() == []
    prefs = await reader.request("notifications.prefs", off=["reaction", "reaction"])
    assert (prefs["off"], prefs["seq"] is not None) == (["reaction"], True)
    [event] = await tablet.events_of("notification.prefs", 1)
    assert event["data"] == {"off": ["reaction"]}
    mine = await send(reader, room["id"], "Shipped", "n-1")
    await writer.react(room["id"], mine["id"], "tada")
    await send(writer, room["id"], f"@{reader.user['username']} congrats", "n-2")
    await reader.request("ping")
    assert [n["kind"] for n in _created(reader)] == ["mention"]
    for fields in ({"off": ["everything"]}, {"off": "reaction"}, {"off": [1]}):
        with pytest.raises(ColloquyError) as err:
            await reader.request("notifications.prefs", **fields)
        assert err.value.code == "bad_request", fields
    for fields in ({"level": "loud"}, {"level": "nothing", "until": 1}):
        with pytest.raises(ColloquyError) as err:
            await reader.request("rooms.mute", room=room["id"], **fields)
        assert err.value.code == "bad_request", fields
    await asyncio.gather(writer.close(), reader.close(), tablet.close())
