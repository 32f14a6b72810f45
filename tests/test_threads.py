"""Threads: replies on the room stream, the root's summary, paging one thread,
following, and a client that resumes across replies converging on a fresh fetch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from colloquy_client import ColloquyError
from tests.stack import Recorder, Stack, State, assert_converges, open_client, send


async def _thread_of_two(stack: Stack) -> tuple[Recorder, Recorder, dict[str, Any], dict[str, Any]]:
    """The root's author, a member's recording client on the other process, the
    room, and the root message."""
    author, member = stack.new_user(), stack.new_user()
    writer = await open_client(stack, author)
    room = (await writer.request("rooms.create", name="Offsite", members=[member]))["room"]
    reader = await open_client(stack, member, server=1, settled=True)
    root = await send(writer, room["id"], "Which venue for the offsite?", "root-1")
    await reader.events_of("message.created", 1)
    reader.frames.clear()
    return writer, reader, room, root


def _summary(replies: int, last: int | None, people: list[dict[str, Any]],
             version: int) -> dict[str, Any]:
    return {"replies": replies, "last_reply_at": last, "participants": people,
            "version": version}


async def _shown(client: Any, room: int) -> dict[str, dict[str, Any]]:
    """The room's messages by id, as history shows them to `client`."""
    reply = await client.request("history", stream=f"room:{room}", limit=50)
    return {e["data"]["id"]: e["data"] for e in reply["events"]
            if e["type"] == "message.created"}


async def _root_in_history(client: Any, room: int, root_id: str) -> dict[str, Any]:
    return (await _shown(client, room))[root_id]


async def test_a_reply_reaches_the_other_process_and_updates_the_roots_summary(
        stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    ack = await reader.reply(rid, root["id"], "The lake house", "r-1")
    assert ack["seq"] == root["seq"] + 1
    [created] = await reader.events_of("message.created", 1)
    [updated] = await reader.events_of("thread.updated", 1)
    assert created["data"]["thread"] == root["id"]
    assert updated == {"op": "event", "stream": f"room:{rid}", "seq": ack["seq"] + 1,
                       "type": "thread.updated",
                       "data": {"room": rid, "message": root["id"],
                                **_summary(1, ack["ts"], [reader.user], 1)}}
    shown = await _root_in_history(writer, rid, root["id"])
    assert shown["thread_summary"] == _summary(1, ack["ts"], [reader.user], 1)
    assert shown["following"] is True  # the root's author follows once someone replies
    await asyncio.gather(writer.close(), reader.close())


async def test_members_on_both_processes_see_the_thread_in_the_same_seq_order(
        stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    watcher = await open_client(stack, writer.user["username"], server=0, settled=True)
    reply = await writer.reply(rid, root["id"], "Lake house?", "r-1")
    await reader.react(rid, reply["id"], "thumbsup")
    await writer.edit_message(rid, reply["id"], "The lake house?")
    await writer.delete_message(rid, reply["id"])
    kinds = ["message.created", "thread.updated", "reaction.added", "message.updated",
             "message.deleted", "thread.updated"]
    for client in (watcher, reader):
        await client.events_of("thread.updated", 2)
    seen = [[(e["seq"], e["type"]) for e in c.stream_events() if e["stream"] == f"room:{rid}"]
            for c in (watcher, reader)]
    assert seen[0] == seen[1]
    assert seen[1] == [(reply["seq"] + i, kind) for i, kind in enumerate(kinds)]
    await asyncio.gather(writer.close(), reader.close(), watcher.close())


async def test_a_reply_to_a_reply_joins_the_roots_thread(stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    first = await reader.reply(rid, root["id"], "The lake house", "r-1")
    second = await writer.reply(rid, first["id"], "Agreed", "r-2")
    page = await writer.thread_history(rid, root["id"])
    assert [(e["seq"], e["data"]["id"], e["data"]["thread"]) for e in page] == [
        (first["seq"], first["id"], root["id"]), (second["seq"], second["id"], root["id"])]
    shown = await _root_in_history(reader, rid, root["id"])
    assert shown["thread_summary"] == _summary(2, second["ts"], [writer.user, reader.user], 2)
    await asyncio.gather(writer.close(), reader.close())


async def test_a_thread_page_holds_only_its_replies_and_pages_back(stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    other = await send(writer, rid, "Another topic", "root-2")
    replies = []
    for i in range(5):
        replies.append(await writer.reply(rid, root["id"], f"reply {i}", f"r-{i}"))
        await writer.reply(rid, other["id"], f"elsewhere {i}", f"o-{i}")
    newest = await reader.thread_history(rid, root["id"], limit=3)
    assert [e["data"]["body"] for e in newest] == ["reply 2", "reply 3", "reply 4"]
    older = await reader.thread_history(rid, root["id"], before=newest[0]["seq"], limit=3)
    assert [e["seq"] for e in older] == [replies[0]["seq"], replies[1]["seq"]]
    await asyncio.gather(writer.close(), reader.close())


async def test_a_deleted_reply_leaves_a_tombstone_and_the_summary_recounts(
        stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    kept = await reader.reply(rid, root["id"], "The lake house", "r-1")
    gone = await writer.reply(rid, root["id"], "secret venue", "r-2")
    await writer.delete_message(rid, gone["id"])
    updates = await reader.events_of("thread.updated", 3)
    assert updates[-1]["data"] == {"room": rid, "message": root["id"],
                                   **_summary(1, kept["ts"], [reader.user], 3)}
    page = await reader.thread_history(rid, root["id"])
    assert [(e["data"]["body"], e["data"].get("deleted")) for e in page] == [
        ("The lake house", None), ("", True)]
    assert "secret venue" not in str(page)
    await asyncio.gather(writer.close(), reader.close())


async def test_follow_and_unfollow_reach_every_device_and_an_unfollow_holds(
        stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    other_device = await open_client(stack, writer.user["username"], server=1, settled=True)
    await reader.reply(rid, root["id"], "The lake house", "r-1")
    off = await writer.unfollow_thread(rid, root["id"])
    assert (off["message"], off["following"], off["seq"] is not None) == (root["id"], False, True)
    assert (await writer.unfollow_thread(rid, root["id"]))["seq"] is None
    events = await other_device.events_of("thread.following", 2)
    assert [e["data"] for e in events] == [
        {"room": rid, "message": root["id"], "following": True},
        {"room": rid, "message": root["id"], "following": False}]
    await reader.reply(rid, root["id"], "Or the city?", "r-2")  # another's reply: still off
    assert "following" not in await _root_in_history(writer, rid, root["id"])
    await writer.reply(rid, root["id"], "City it is", "r-3")  # my own reply: on again
    assert (await _root_in_history(writer, rid, root["id"]))["following"] is True
    await asyncio.gather(writer.close(), reader.close(), other_device.close())


async def test_bad_thread_requests_are_refused(stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    other = await writer.request("rooms.create", name="Other", members=[])
    reply = await writer.reply(rid, root["id"], "ok", "r-1")
    cases = [
        ({"op": "message.send", "room": other["room"]["id"], "thread": root["id"],
          "body": "x", "client_id": "x-1"}, "not_found"),
        ({"op": "message.send", "room": rid, "thread": "nope", "body": "x",
          "client_id": "x-2"}, "bad_request"),
        ({"op": "history", "stream": f"room:{rid}", "thread": reply["id"]}, "bad_request"),
        ({"op": "history", "stream": f"user:{writer.user['id']}", "thread": root["id"]},
         "bad_request"),
        ({"op": "thread.follow", "room": other["room"]["id"], "message": root["id"]},
         "not_found"),
    ]
    for fields, code in cases:
        op = fields.pop("op")
        with pytest.raises(ColloquyError) as err:
            await writer.request(op, **fields)
        assert err.value.code == code, (op, fields)
    await writer.delete_message(rid, root["id"])
    with pytest.raises(ColloquyError) as err:
        await writer.reply(rid, root["id"], "too late", "r-9")
    assert err.value.code == "conflict"
    await asyncio.gather(writer.close(), reader.close())


def _apply(state: State, event: dict[str, Any]) -> State:
    """What a client does with thread events (docs/protocol.md, "Threads"), on a
    thread page: replies by id, and the root's summary under "root"."""
    state = {k: dict(v) for k, v in state.items()}
    data = event["data"]
    if event["type"] == "message.created" and data.get("thread"):
        state[data["id"]] = data
    elif event["type"] == "thread.updated":
        known = state["root"].get("thread_summary")
        if known is None or data["version"] > known["version"]:
            state["root"]["thread_summary"] = {k: v for k, v in data.items()
                                               if k not in ("room", "message")}
    elif event["type"] == "message.updated" and data["id"] in state:
        state[data["id"]].update(body=data["body"], version=data["version"],
                                 edited_at=data["edited_at"])
    elif event["type"] == "message.deleted" and data["id"] in state:
        state[data["id"]].update(body="", deleted=True)
        for gone in ("version", "edited_at", "reactions"):
            state[data["id"]].pop(gone, None)
    return state


async def _thread_state(client: Any, room: int, root_id: str) -> State:
    state: State = {e["data"]["id"]: e["data"]
                    for e in await client.thread_history(room, root_id)}
    state["root"] = {"thread_summary":
                     (await _root_in_history(client, room, root_id)).get("thread_summary")}
    return state


async def test_a_client_resuming_across_replies_an_edit_and_a_delete_converges(
        stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    early = await writer.reply(rid, root["id"], "first thoughts", "r-1")
    await reader.events_of("thread.updated", 1)
    old = await _thread_state(reader, rid, root["id"])
    last = dict(reader.last_seq)
    await reader.close()
    late = await writer.reply(rid, root["id"], "the lake house", "r-2")
    await writer.edit_message(rid, late["id"], "the lake house, in May")
    await writer.delete_message(rid, early["id"])
    back = await open_client(stack, reader.user["username"], last_seq=last)
    await back.request("resume", streams={f"room:{rid}": last[f"room:{rid}"]})
    replayed = back.stream_events()
    assert "first thoughts" not in str(replayed)
    fresh = await assert_converges(old, replayed, _apply,
                                   lambda: _thread_state(back, rid, root["id"]))
    assert fresh["root"]["thread_summary"]["replies"] == 1
    await asyncio.gather(writer.close(), back.close())


async def _following(client: Any, room: int, roots: list[str]) -> State:
    """Which of these roots' threads the client follows, as history shows them."""
    shown = await _shown(client, room)
    return {root: shown[root].get("following", False) for root in roots}


def _apply_following(state: State, event: dict[str, Any]) -> State:
    """thread.following on my stream: the root's `following` as the event says."""
    if event["type"] == "thread.following" and event["data"]["message"] in state:
        return {**state, event["data"]["message"]: event["data"]["following"]}
    return state


async def test_a_device_resuming_across_follows_and_unfollows_converges(
        stack: Stack) -> None:
    writer, reader, room, root = await _thread_of_two(stack)
    rid = room["id"]
    other = await send(writer, rid, "Second topic", "root-2")
    me = f"user:{writer.user['id']}"
    old = await _following(writer, rid, [root["id"], other["id"]])
    await writer.request("ping")
    last = dict(writer.last_seq)
    await writer.close()
    await reader.reply(rid, root["id"], "A reply makes its author follow", "r-1")
    device = await open_client(stack, reader.user["username"], server=1)
    await device.follow_thread(rid, other["id"])  # someone else; not the writer
    mine = await open_client(stack, writer.user["username"], server=1)
    await mine.unfollow_thread(rid, root["id"])
    await mine.follow_thread(rid, other["id"])
    await mine.close()
    back = await open_client(stack, writer.user["username"], last_seq=last)
    await back.request("resume", streams={me: last[me]})
    replayed = back.stream_events()
    fresh = await assert_converges(old, replayed, _apply_following,
                                   lambda: _following(back, rid, [root["id"], other["id"]]))
    assert fresh == {root["id"]: False, other["id"]: True}
    await asyncio.gather(reader.close(), device.close(), back.close())
