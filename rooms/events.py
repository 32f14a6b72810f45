"""The events of rooms and messages, with their schemas (docs/protocol.md, "Events")."""

from __future__ import annotations

from realtime.schema import USER, Opt, define

ROOM_BRIEF = {"id": int, "name": str, "kind": str}

ROOM_CREATED = define("room.created", {
    "room": {**ROOM_BRIEF, "members": [USER]}, "by": USER}, kinds=("room",))
MEMBER_JOINED = define("member.joined", {"room": int, "user": USER, "by": USER},
                       kinds=("room",))
# `by`: present when someone else (an administrator) removed them.
MEMBER_LEFT = define("member.left", {"room": int, "user": USER, "by": Opt(USER)},
                     kinds=("room",))
ROOM_DELETED = define("room.deleted", {"room": int, "by": USER}, kinds=("room",))
MESSAGE_CREATED = define("message.created", {
    "id": str, "room": int, "author": USER, "body": str, "client_id": str, "ts": int,
}, kinds=("room",))

# On the member's own stream: the rooms' use of realtime.access.
ROOM_ADDED = define(
    "room.added", {"room": ROOM_BRIEF, "seq": int}, kinds=("user",),
    grants=lambda data: (f"room:{data['room']['id']}", data["seq"]))
ROOM_REMOVED = define(
    "room.removed", {"room": {"id": int}}, kinds=("user",),
    revokes=lambda data: f"room:{data['room']['id']}")
READ_UPDATED = define("read.updated", {"room": int, "seq": int}, kinds=("user",))
