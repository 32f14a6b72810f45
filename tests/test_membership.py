"""Rooms and memberships: create, direct, invite, leave, members, list, read markers.

Membership changes must reach live sockets at once on every process (the
invitee and the leaver are on the other server in the services profile), and
authorisation is checked on every operation, not only at connect.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from colloquy_client import Client, ColloquyError
from tests.stack import Recorder, Stack, Users, until
from tests.stack import open_client as open_recorder

# Every client here has made a request first, so live events already flow to it.
open_client = functools.partial(open_recorder, settled=True)


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=32, guests=2)  # what this module's tests take, per profile


async def events(client: Recorder, count: int, what: str) -> list[dict[str, Any]]:
    """Wait for `count` stream events on `client`, then for anything extra to show up."""
    await until(lambda: len(client.stream_events()) >= count, what)
    await asyncio.sleep(0.2)
    return client.stream_events()


async def fails(client: Client, op: str, **fields: Any) -> dict[str, Any]:
    """The error frame `op` is answered with."""
    with pytest.raises(ColloquyError) as caught:
        await client.request(op, **fields)
    return caught.value.frame


def by_stream(frames: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Frames per stream, each in arrival order (the order a stream promises)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        out.setdefault(frame["stream"], []).append(frame)
    return out


def added_notice(client: Recorder, note: dict[str, Any], room: dict[str, Any],
                 by: dict[str, Any]) -> dict[str, Any]:
    """The notification.created that tells `client` it was added to `room`."""
    stream = f"user:{client.user['id']}"
    return {"op": "event", "stream": stream, "seq": client.head(stream) + 2,
            "type": "notification.created",
            "data": {"id": note["data"]["id"], "kind": "room_added", "room": room["id"],
                     "message": None, "thread": None, "actor": by, "ts": note["data"]["ts"],
                     "preview": room["name"], "emoji": ""}}


def brief(room: dict[str, Any]) -> dict[str, Any]:
    return {"id": room["id"], "name": room["name"], "kind": room["kind"]}


def forbidden(frame: dict[str, Any], message: str) -> dict[str, Any]:
    return {"op": "error", "ref": frame["ref"], "code": "forbidden", "message": message}


# --- create ----------------------------------------------------------------------


async def test_create_group_room_tells_each_member_on_their_user_stream(
        stack: Stack, users: Users) -> None:
    a, b = users.take(), users.take()
    member = await open_client(stack, b, server=1)
    creator = await open_client(stack, a)
    reply = await creator.request("rooms.create", name="Team", members=[b])
    room = reply["room"]
    assert reply == {"op": "ok", "ref": reply["ref"], "room": {
        "id": room["id"], "name": "Team", "kind": "group",
        "members": sorted([creator.user, member.user], key=lambda u: u["id"])}}
    user_stream = f"user:{member.user['id']}"
    seen = by_stream(await events(member, 3, "room.added, its notification, room.created"))
    [note] = [e for e in seen[user_stream] if e["type"] == "notification.created"]
    assert seen == {
        user_stream: [
            {"op": "event", "stream": user_stream, "seq": member.head(user_stream) + 1,
             "type": "room.added", "data": {"room": brief(room), "seq": 1}},
            added_notice(member, note, room, creator.user)],
        f"room:{room['id']}": [
            {"op": "event", "stream": f"room:{room['id']}", "seq": 1, "type": "room.created",
             "data": {"room": room, "by": creator.user}}],
    }
    await asyncio.gather(member.close(), creator.close())


async def test_direct_room_with_the_same_pair_twice_is_the_same_room(
        stack: Stack, users: Users) -> None:
    a, b = users.take(), users.take()
    ca = await open_client(stack, a)
    cb = await open_client(stack, b, server=1)
    first = (await ca.request("rooms.create", kind="direct", members=[b]))["room"]
    assert first == {"id": first["id"], "name": "", "kind": "direct",
                     "members": sorted([ca.user, cb.user], key=lambda u: u["id"])}
    again = (await ca.request("rooms.create", kind="direct", members=[b]))["room"]
    other_side = (await cb.request("rooms.create", kind="direct", members=[a]))["room"]
    assert again == first
    assert other_side == first
    history = await cb.request("history", stream=f"room:{first['id']}", limit=10)
    assert [(e["seq"], e["type"]) for e in history["events"]] == [(1, "room.created")]
    await asyncio.gather(ca.close(), cb.close())


# --- invite ----------------------------------------------------------------------


async def test_invitee_live_socket_gets_room_added_then_member_joined_then_messages(
        stack: Stack, users: Users) -> None:
    owner, member, invitee = users.take(), users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Invite", members=[member]))["room"]
    guest = await open_client(stack, invitee, server=1)  # the other process in services
    rid, stream = room["id"], f"room:{room['id']}"

    reply = await creator.request("rooms.invite", room=rid, users=[invitee])
    assert reply == {"op": "ok", "ref": reply["ref"], "room": rid, "added": [invitee]}
    ack = await creator.request("message.send", room=rid, body="welcome", client_id="w-1")
    assert ack["seq"] == 3  # room.created 1, member.joined 2

    user_stream = f"user:{guest.user['id']}"
    seen = by_stream(await events(guest, 4, "room.added, its notification, member.joined"
                                            " and the message"))
    [note] = [e for e in seen[user_stream] if e["type"] == "notification.created"]
    assert seen == {
        user_stream: [
            {"op": "event", "stream": user_stream, "seq": guest.head(user_stream) + 1,
             "type": "room.added", "data": {"room": brief(room), "seq": 2}},
            added_notice(guest, note, room, creator.user)],
        stream: [
            {"op": "event", "stream": stream, "seq": 2, "type": "member.joined",
             "data": {"room": rid, "user": guest.user, "by": creator.user}},
            {"op": "event", "stream": stream, "seq": 3, "type": "message.created",
             "data": {"id": ack["id"], "room": rid, "author": creator.user, "body": "welcome",
                      "client_id": "w-1", "ts": ack["ts"]}}],
    }
    assert guest.duplicates == 0
    await asyncio.gather(creator.close(), guest.close())


async def test_invitee_can_send_at_once_after_room_added(stack: Stack, users: Users) -> None:
    owner, invitee = users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Talk", members=[]))["room"]
    guest = await open_client(stack, invitee, server=1)
    await creator.request("rooms.invite", room=room["id"], users=[invitee])
    await until(lambda: any(f.get("type") == "room.added" for f in guest.frames), "room.added")
    ack = await guest.request("message.send", room=room["id"], body="hi", client_id="g-1")
    assert (ack["seq"], ack["duplicate"]) == (3, False)
    [event] = await creator.events_of("message.created", 1, stream=f"room:{room['id']}")
    assert event["data"]["author"] == guest.user
    await asyncio.gather(creator.close(), guest.close())


async def test_rooms_members_lists_everyone_in_id_order(stack: Stack, users: Users) -> None:
    owner, m1, m2 = users.take(), users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Roll", members=[m1]))["room"]
    await creator.request("rooms.invite", room=room["id"], users=[m2])
    reader = await open_client(stack, m2, server=1)
    reply = await reader.request("rooms.members", room=room["id"])
    expected = [*room["members"], reader.user]
    assert reply == {"op": "ok", "ref": reply["ref"], "room": room["id"],
                     "members": sorted(expected, key=lambda u: u["id"])}
    await asyncio.gather(creator.close(), reader.close())


# --- leave -----------------------------------------------------------------------


async def test_leaver_gets_member_left_then_room_removed_on_every_socket(
        stack: Stack, users: Users) -> None:
    owner, leaver = users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Exit", members=[leaver]))["room"]
    rid = room["id"]
    here = await open_client(stack, leaver, server=1)
    elsewhere = await open_client(stack, leaver, server=0)  # a second tab, other process

    reply = await here.request("rooms.leave", room=rid)
    assert reply == {"op": "ok", "ref": reply["ref"], "room": rid}
    user_stream = f"user:{here.user['id']}"
    expected = [
        {"op": "event", "stream": f"room:{rid}", "seq": 2, "type": "member.left",
         "data": {"room": rid, "user": here.user}},
        {"op": "event", "stream": user_stream, "seq": here.head(user_stream) + 1,
         "type": "room.removed", "data": {"room": {"id": rid}}},
    ]
    assert await events(elsewhere, 2, "member.left and room.removed (other tab)") == expected
    assert here.stream_events() == expected
    await asyncio.gather(creator.close(), here.close(), elsewhere.close())


async def test_leaver_gets_nothing_more_from_the_room(stack: Stack, users: Users) -> None:
    owner, leaver, witness = users.take(), users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="After", members=[leaver, witness]))
    rid, stream = room["room"]["id"], f"room:{room['room']['id']}"
    gone = await open_client(stack, leaver, server=1)
    other_tab = await open_client(stack, leaver, server=0)
    stays = await open_client(stack, witness, server=1)  # same process as `gone`
    await gone.request("rooms.leave", room=rid)
    await until(lambda: any(f.get("type") == "room.removed" for f in other_tab.frames),
                "room.removed on the other tab")
    gone.frames.clear()
    other_tab.frames.clear()

    ack = await creator.request("message.send", room=rid, body="after you left", client_id="x")
    # Fan-out on a process reaches all its sockets at once: once the witness on the
    # leaver's process (and the creator on the other one) has the message, a socket
    # of the leaver's would have it queued before the reply to its next request.
    await stays.events_of("message.created", 1, stream=stream)
    await creator.events_of("message.created", 1, stream=stream)
    await asyncio.gather(gone.request("ping"), other_tab.request("ping"))
    assert ack["seq"] == 3  # room.created 1, member.left 2
    assert [f for f in gone.stream_events() if f["stream"] == stream] == []
    assert [f for f in other_tab.stream_events() if f["stream"] == stream] == []
    await asyncio.gather(creator.close(), gone.close(), other_tab.close(), stays.close())


# --- who may do what ---------------------------------------------------------------

REFUSALS: dict[str, Callable[[int], tuple[str, dict[str, Any], str]]] = {
    "message.send": lambda rid: ("message.send", {"room": rid, "body": "x", "client_id": "no"},
                                 f"you are not a member of room {rid}"),
    "history": lambda rid: ("history", {"stream": f"room:{rid}"}, f"you cannot read room:{rid}"),
    "resume": lambda rid: ("resume", {"streams": {f"room:{rid}": 0}},
                           f"you cannot read room:{rid}"),
    "rooms.members": lambda rid: ("rooms.members", {"room": rid},
                                  f"you are not a member of room {rid}"),
    "rooms.invite": lambda rid: ("rooms.invite", {"room": rid, "users": ["e0001"]},
                                 f"you are not a member of room {rid}"),
    "read": lambda rid: ("read", {"room": rid, "seq": 1}, f"you are not a member of room {rid}"),
}


@pytest.fixture(scope="module")
async def closed_room(stack: Stack, users: Users) -> dict[str, Any]:
    """A room of two, and an employee who is not in it."""
    owner, member, outsider = users.take(), users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Closed", members=[member]))["room"]
    await creator.close()
    return {"room": room["id"], "outsider": outsider}


@pytest.mark.parametrize("op", list(REFUSALS))
async def test_non_member_is_forbidden(stack: Stack, closed_room: dict[str, Any], op: str) -> None:
    stranger = await open_client(stack, closed_room["outsider"], server=1)
    name, fields, message = REFUSALS[op](closed_room["room"])
    frame = await fails(stranger, name, **fields)
    assert frame == forbidden(frame, message)
    await stranger.close()


@pytest.fixture(scope="module")
async def left_room(stack: Stack, users: Users) -> AsyncIterator[dict[str, Any]]:
    """A room its member has just left, and the socket they left it on."""
    owner, leaver = users.take(), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Left", members=[leaver]))["room"]
    gone = await open_client(stack, leaver, server=1)
    await gone.request("rooms.leave", room=room["id"])
    yield {"room": room["id"], "leaver": leaver, "socket": gone}
    await asyncio.gather(creator.close(), gone.close())


@pytest.mark.parametrize("op", ["message.send", "history", "resume"])
async def test_leaver_is_forbidden_at_once_on_the_same_socket(
        left_room: dict[str, Any], op: str) -> None:
    name, fields, message = REFUSALS[op](left_room["room"])
    frame = await fails(left_room["socket"], name, **fields)
    assert frame == forbidden(frame, message)


async def test_leaver_is_forbidden_on_a_new_socket(
        stack: Stack, left_room: dict[str, Any]) -> None:
    client = await open_client(stack, left_room["leaver"], server=0)
    assert f"room:{left_room['room']}" not in client.hello["streams"]
    name, fields, message = REFUSALS["history"](left_room["room"])
    frame = await fails(client, name, **fields)
    assert frame == forbidden(frame, message)
    await client.close()


async def test_guest_cannot_create_rooms(stack: Stack, users: Users) -> None:
    guest, colleague = users.take("guest"), users.take()
    client = await open_client(stack, guest)
    for fields in ({"name": "Mine", "members": [colleague]},
                   {"kind": "direct", "members": [colleague]}):
        frame = await fails(client, "rooms.create", **fields)
        assert frame == forbidden(frame, "guests cannot create rooms")
    assert (await client.request("rooms.list"))["rooms"] == []
    await client.close()


async def test_guest_member_cannot_invite(stack: Stack, users: Users) -> None:
    owner, guest, colleague = users.take(), users.take("guest"), users.take()
    creator = await open_client(stack, owner)
    room = (await creator.request("rooms.create", name="Visitors", members=[guest]))["room"]
    client = await open_client(stack, guest, server=1)
    frame = await fails(client, "rooms.invite", room=room["id"], users=[colleague])
    assert frame == forbidden(frame, "guests cannot invite")
    members = await creator.request("rooms.members", room=room["id"])
    assert [m["username"] for m in members["members"]] == sorted([owner, guest])
    await asyncio.gather(creator.close(), client.close())


# --- rooms.list and read markers -----------------------------------------------------


async def test_rooms_list_counts_others_messages_after_the_marker(
        stack: Stack, users: Users) -> None:
    me, other = users.take(), users.take()
    mine = await open_client(stack, me)
    room = (await mine.request("rooms.create", name="Unread", members=[other]))["room"]
    theirs = await open_client(stack, other, server=1)
    for i in range(3):
        await theirs.request("message.send", room=room["id"], body=f"t{i}", client_id=f"t{i}")
    own = await mine.request("message.send", room=room["id"], body="mine", client_id="m0")
    reply = await mine.request("rooms.list")
    assert reply == {"op": "ok", "ref": reply["ref"], "rooms": [{
        "id": room["id"], "name": "Unread", "kind": "group", "read_seq": 0, "last_seq": 5,
        "mute": {"level": "all", "until": None}, "members_announce": False,
        "unread": 3, "mentions": 0,
        "last_message": {"id": own["id"], "room": room["id"], "author": mine.user,
                         "body": "mine", "client_id": "m0", "ts": own["ts"]},
    }]}
    await asyncio.gather(mine.close(), theirs.close())


async def test_read_moves_the_marker_and_tells_the_users_other_sockets(
        stack: Stack, users: Users) -> None:
    me, other = users.take(), users.take()
    tab = await open_client(stack, me)
    room = (await tab.request("rooms.create", name="Marker", members=[other]))["room"]
    rid = room["id"]
    phone = await open_client(stack, me, server=1)
    theirs = await open_client(stack, other, server=1)
    for i in range(3):  # seqs 2, 3, 4
        await theirs.request("message.send", room=rid, body=f"t{i}", client_id=f"t{i}")

    reply = await tab.request("read", room=rid, seq=3)
    assert reply == {"op": "ok", "ref": reply["ref"], "room": rid, "seq": 3}
    user_stream = f"user:{phone.user['id']}"
    await until(lambda: any(f.get("type") == "read.updated" for f in phone.frames),
                "read.updated on the other socket")
    [update] = [f for f in phone.frames if f.get("type") == "read.updated"]
    assert update == {"op": "event", "stream": user_stream, "seq": phone.head(user_stream) + 1,
                      "type": "read.updated",
                      "data": {"room": rid, "seq": 3, "unread": 1, "mentions": 0, "head": 4}}
    [listed] = (await phone.request("rooms.list"))["rooms"]
    assert (listed["read_seq"], listed["last_seq"], listed["unread"]) == (3, 4, 1)
    await asyncio.gather(tab.close(), phone.close(), theirs.close())


async def test_read_never_moves_the_marker_back(stack: Stack, users: Users) -> None:
    me, other = users.take(), users.take()
    tab = await open_client(stack, me)
    room = (await tab.request("rooms.create", name="Forward", members=[other]))["room"]
    rid = room["id"]
    theirs = await open_client(stack, other, server=1)
    for i in range(3):
        await theirs.request("message.send", room=rid, body=f"t{i}", client_id=f"t{i}")
    await tab.request("read", room=rid, seq=4)
    await until(lambda: any(f.get("type") == "read.updated" for f in tab.frames),
                "read.updated for the step forward")
    back = await tab.request("read", room=rid, seq=2)
    assert back == {"op": "ok", "ref": back["ref"], "room": rid, "seq": 4}
    await tab.request("ping")
    await asyncio.sleep(0.2)  # a second read.updated would arrive now
    updates = [f["data"] for f in tab.frames if f.get("type") == "read.updated"]
    # The step back announced nothing.
    assert updates == [{"room": rid, "seq": 4, "unread": 0, "mentions": 0, "head": 4}]
    [listed] = (await tab.request("rooms.list"))["rooms"]
    assert (listed["read_seq"], listed["unread"]) == (4, 0)
    await asyncio.gather(tab.close(), theirs.close())


async def test_read_past_the_head_is_a_bad_request(stack: Stack, users: Users) -> None:
    me = users.take()
    tab = await open_client(stack, me)
    room = (await tab.request("rooms.create", name="Ahead", members=[]))["room"]
    frame = await fails(tab, "read", room=room["id"], seq=2)
    assert frame == {"op": "error", "ref": frame["ref"], "code": "bad_request",
                     "message": "field 'seq' must be between 0 and the room's last seq 1"}
    await tab.close()


async def test_counts_gives_each_rooms_snapshot_and_the_totals(stack: Stack, users: Users) -> None:
    me, other = users.take(), users.take()
    mine = await open_client(stack, me)
    theirs = await open_client(stack, other, server=1)
    first = (await theirs.request("rooms.create", name="One", members=[me]))["room"]["id"]
    second = (await theirs.request("rooms.create", name="Two", members=[me]))["room"]["id"]
    await theirs.request("message.send", room=first, body=f"@{me} look", client_id="c1")
    await theirs.request("message.send", room=second, body="hi", client_id="c2")
    ack = await theirs.request("message.send", room=second, body="again", client_id="c3")
    await mine.request("message.send", room=second, body="mine", client_id="c4")
    reply = await mine.request("counts")
    assert reply == {"op": "ok", "ref": reply["ref"], "rooms": [
        {"id": first, "read_seq": 0, "unread": 1, "mentions": 1, "head": 2},
        {"id": second, "read_seq": 0, "unread": 2, "mentions": 0, "head": ack["seq"] + 1},
    ], "unread": 3, "mentions": 1, "notifications": 3}  # two rooms added, one mention
    await asyncio.gather(mine.close(), theirs.close())
