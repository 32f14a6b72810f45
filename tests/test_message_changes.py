"""Edits, deletes and reactions: each op, its event on both processes, history as
things are now, and a client that resumes across them converging on a fresh fetch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from colloquy_client import ColloquyError
from rooms.emoji import SHORT_NAMES
from tests.stack import Recorder, Stack, State, assert_converges, make_room, open_client, send


async def _room_of_two(stack: Stack) -> tuple[Any, Recorder, dict[str, Any], dict[str, Any]]:
    """The author's client, a member's recording client on the other process, the
    room, and one message the author sent."""
    author, member = stack.new_user(), stack.new_user()
    writer, room = await make_room(stack, author, [member])
    reader = await open_client(stack, member, server=1, settled=True)
    ack = await send(writer, room["id"], "teh plan", "c-1")
    await reader.events_of("message.created", 1)
    reader.frames.clear()
    return writer, reader, room, ack


def _messages(events: list[dict[str, Any]]) -> State:
    """The client's view: each message by id (history's message.created frames)."""
    return {e["data"]["id"]: e["data"] for e in events if e["type"] == "message.created"}


def _apply(state: State, event: dict[str, Any]) -> State:
    """What a client does with each event (docs/protocol.md, "Edits, deletes, reactions")."""
    state = {k: dict(v) for k, v in state.items()}
    data, kind = event["data"], event["type"]
    if kind == "message.created":
        state[data["id"]] = data
    elif kind == "message.updated":
        m = state[data["id"]]
        if data["version"] > m.get("version", 1) and not m.get("deleted"):
            m.update(body=data["body"], version=data["version"], edited_at=data["edited_at"])
    elif kind == "message.deleted":
        m = state[data["id"]]
        for gone in ("version", "edited_at", "reactions"):
            m.pop(gone, None)
        m.update(body="", deleted=True)
    elif kind in ("reaction.added", "reaction.removed"):
        m = state[data["message"]]
        chips = {c["emoji"]: c for c in m.get("reactions", [])}
        known = chips.get(data["emoji"])
        if known is None or data["version"] > known["version"]:
            mine = (kind == "reaction.added") if data["user"]["id"] == ME[0] else (
                known["mine"] if known else False)
            chips[data["emoji"]] = {"emoji": data["emoji"], "count": data["count"],
                                    "mine": mine, "version": data["version"]}
        shown = [c for c in chips.values() if c["count"] > 0]
        if shown:
            m["reactions"] = shown
        else:
            m.pop("reactions", None)
    return state


ME: list[int] = [0]  # the reader whose "mine" _apply computes


async def _history(client: Recorder, room: int) -> State:
    reply = await client.request("history", stream=f"room:{room}", limit=50)
    return _messages(reply["events"])


async def test_edit_reaches_members_on_both_processes_and_history_shows_it(
        stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    reply = await writer.request("message.edit", room=room["id"], message=ack["id"],
                                 body="the plan")
    assert reply == {"op": "ok", "ref": reply["ref"], "id": ack["id"], "version": 2,
                     "seq": ack["seq"] + 1}
    [event] = await reader.events_of("message.updated", 1)
    assert event == {"op": "event", "stream": f"room:{room['id']}", "seq": ack["seq"] + 1,
                     "type": "message.updated",
                     "data": {"id": ack["id"], "room": room["id"], "body": "the plan",
                              "version": 2, "edited_at": event["data"]["edited_at"],
                              "by": writer.hello["user"]}}
    shown = (await _history(reader, room["id"]))[ack["id"]]
    assert (shown["body"], shown["version"], shown["edited_at"]) == (
        "the plan", 2, event["data"]["edited_at"])
    versions = await reader.request("message.versions", room=room["id"], message=ack["id"])
    assert [(v["version"], v["body"], v["by"]["id"]) for v in versions["versions"]] == [
        (1, "teh plan", writer.hello["user"]["id"]), (2, "the plan", writer.hello["user"]["id"])]
    await asyncio.gather(writer.close(), reader.close())


async def test_only_the_author_edits_and_deletes(stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    for op, extra in (("message.edit", {"body": "mine now"}), ("message.delete", {})):
        with pytest.raises(ColloquyError) as err:
            await reader.request(op, room=room["id"], message=ack["id"], **extra)
        assert err.value.code == "forbidden"
    await writer.request("ping")
    assert (await _history(writer, room["id"]))[ack["id"]]["body"] == "teh plan"
    assert reader.stream_events() == []
    await asyncio.gather(writer.close(), reader.close())


async def test_deleted_message_is_a_tombstone_in_history_and_takes_no_more_changes(
        stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    await writer.request("message.edit", room=room["id"], message=ack["id"], body="v2")
    deleted = await writer.request("message.delete", room=room["id"], message=ack["id"])
    assert deleted == {"op": "ok", "ref": deleted["ref"], "id": ack["id"], "seq": ack["seq"] + 2}
    [event] = await reader.events_of("message.deleted", 1)
    assert event["data"] == {"id": ack["id"], "room": room["id"], "by": writer.hello["user"],
                             "seq": ack["seq"], "author": writer.hello["user"]["id"],
                             "thread": None, "mentions": [], "mentions_room": False}
    reply = await reader.request("history", stream=f"room:{room['id']}", limit=50)
    frames = [e for e in reply["events"] if e["type"].startswith("message.")]
    assert [(e["type"], e["data"].get("body"), e["data"].get("deleted")) for e in frames] == [
        ("message.created", "", True), ("message.updated", "", True),
        ("message.deleted", None, None)]
    assert "teh plan" not in str(reply) and "v2" not in str(reply)
    again = await writer.request("message.delete", room=room["id"], message=ack["id"])
    assert again["seq"] is None
    for op, extra, code in (("message.edit", {"body": "back"}, "conflict"),
                            ("reaction.add", {"emoji": "tada"}, "conflict"),
                            ("message.versions", {}, "not_found")):
        with pytest.raises(ColloquyError) as err:
            await writer.request(op, room=room["id"], message=ack["id"], **extra)
        assert err.value.code == code
    await asyncio.gather(writer.close(), reader.close())


async def test_reacting_twice_counts_once_and_history_says_whether_i_reacted(
        stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    first = await reader.request("reaction.add", room=room["id"], message=ack["id"], emoji="👍")
    second = await reader.request("reaction.add", room=room["id"], message=ack["id"],
                                  emoji="👍")
    assert (first["count"], first["seq"] is not None) == (1, True)
    assert (second["count"], second["seq"]) == (1, None)
    [event] = await writer.events_of("reaction.added", 1)
    assert event["data"] == {"room": room["id"], "message": ack["id"], "emoji": "👍",
                             "user": reader.hello["user"], "count": 1, "version": 1}
    mine = (await _history(reader, room["id"]))[ack["id"]]["reactions"]
    theirs = (await _history(writer, room["id"]))[ack["id"]]["reactions"]
    assert mine == [{"emoji": "👍", "count": 1, "mine": True, "version": 1}]
    assert theirs == [{"emoji": "👍", "count": 1, "mine": False, "version": 1}]
    await asyncio.gather(writer.close(), reader.close())


async def test_the_same_reaction_from_two_tabs_at_once_counts_once(stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    tab = await stack.client(reader.hello["user"]["username"], server=0)
    replies = await asyncio.gather(*(
        c.request("reaction.add", room=room["id"], message=ack["id"], emoji="tada")
        for c in (reader, tab)))
    assert sorted(r["seq"] is None for r in replies) == [False, True]
    assert [r["count"] for r in replies] == [1, 1]
    assert (await _history(writer, room["id"]))[ack["id"]]["reactions"][0]["count"] == 1
    await asyncio.gather(writer.close(), reader.close(), tab.close())


async def test_bad_reactions_are_refused(stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    for emoji in ("not-an-emoji", "👍👍", "<b>x</b>", ""):
        with pytest.raises(ColloquyError) as err:
            await writer.request("reaction.add", room=room["id"], message=ack["id"],
                                 emoji=emoji)
        assert err.value.code == "bad_request"
    names = sorted(SHORT_NAMES)
    for emoji in names[:20]:
        await writer.request("reaction.add", room=room["id"], message=ack["id"], emoji=emoji)
    with pytest.raises(ColloquyError) as err:
        await writer.request("reaction.add", room=room["id"], message=ack["id"],
                             emoji=names[20])
    assert err.value.code == "bad_request"
    assert len((await _history(reader, room["id"]))[ack["id"]]["reactions"]) == 20
    await asyncio.gather(writer.close(), reader.close())


async def test_a_message_of_another_room_is_not_found(stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    other = await writer.request("rooms.create", name="Other", members=[])
    for op, extra in (("message.edit", {"body": "x"}), ("message.delete", {}),
                      ("reaction.add", {"emoji": "tada"}), ("message.versions", {})):
        with pytest.raises(ColloquyError) as err:
            await writer.request(op, room=other["room"]["id"], message=ack["id"], **extra)
        assert err.value.code == "not_found"
    with pytest.raises(ColloquyError) as err:
        await writer.request("message.edit", room=room["id"], message="nope", body="x")
    assert err.value.code == "bad_request"
    await asyncio.gather(writer.close(), reader.close())


async def test_a_client_resuming_across_an_edit_a_reaction_and_a_delete_converges(
        stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    rid = room["id"]
    kept = await send(writer, rid, "keep me", "c-2")
    await reader.events_of("message.created", 1)
    ME[0] = reader.hello["user"]["id"]
    old = await _history(reader, rid)
    last = dict(reader.last_seq)
    await reader.close()
    # Through the client library's methods, as a desktop client would.
    await writer.edit_message(rid, kept["id"], "kept, edited")
    await writer.react(rid, kept["id"], "heart")
    await writer.react(rid, ack["id"], "heart")
    await writer.unreact(rid, kept["id"], "heart")
    await writer.react(rid, kept["id"], "eyes")
    await writer.delete_message(rid, ack["id"])
    assert [v["body"] for v in await writer.message_versions(rid, kept["id"])] == [
        "keep me", "kept, edited"]
    back = await open_client(stack, reader.hello["user"]["username"], last_seq=last)
    await back.request("resume", streams={f"room:{rid}": last[f"room:{rid}"]})
    replayed = back.stream_events()
    assert "teh plan" not in str(replayed)
    fresh = await assert_converges(old, replayed, _apply, lambda: _history(back, rid))
    assert fresh[ack["id"]]["deleted"] is True
    assert fresh[kept["id"]]["body"] == "kept, edited"
    await asyncio.gather(writer.close(), back.close())


async def test_rooms_list_shows_the_last_message_as_it_is_now(stack: Stack) -> None:
    writer, reader, room, ack = await _room_of_two(stack)
    await writer.edit_message(room["id"], ack["id"], "the plan")
    [listed] = [r for r in (await reader.request("rooms.list"))["rooms"] if r["id"] == room["id"]]
    assert (listed["last_message"]["body"], listed["last_message"]["version"]) == ("the plan", 2)
    later = await send(writer, room["id"], "scratch that", "c-2")
    await writer.delete_message(room["id"], later["id"])
    # A deleted message leaves the list: the last message is the one before it.
    [listed] = [r for r in (await reader.request("rooms.list"))["rooms"] if r["id"] == room["id"]]
    assert (listed["last_message"]["id"], listed["last_message"]["body"]) == (ack["id"], "the plan")
    assert (listed["unread"], listed["last_seq"]) == (1, later["seq"] + 1)
    await asyncio.gather(writer.close(), reader.close())
