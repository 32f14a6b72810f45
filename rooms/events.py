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
# A reaction chip: how many reacted with the emoji, whether the reader did, and
# the count's version (a later event with a lower version is stale).
REACTION = {"emoji": str, "count": int, "mine": bool, "version": int}
# As sent; history and resume show it as it is now (rooms.restate): the latest
# body with its `version` and `edited_at`, its reactions, or a tombstone
# (`deleted`, an empty body) once deleted.
MESSAGE_CREATED = define("message.created", {
    "id": str, "room": int, "author": USER, "body": str, "client_id": str, "ts": int,
    "version": Opt(int), "edited_at": Opt(int), "deleted": Opt(bool),
    "reactions": Opt([REACTION]),
}, kinds=("room",))
# `by`: who edited (the author, or a moderator or administrator).
MESSAGE_UPDATED = define("message.updated", {
    "id": str, "room": int, "body": str, "version": int, "edited_at": int, "by": USER,
    "deleted": Opt(bool),
}, kinds=("room",))
MESSAGE_DELETED = define("message.deleted", {"id": str, "room": int, "by": USER},
                         kinds=("room",))
_REACTED = {"room": int, "message": str, "emoji": str, "user": USER, "count": int,
            "version": int}
REACTION_ADDED = define("reaction.added", _REACTED, kinds=("room",))
REACTION_REMOVED = define("reaction.removed", _REACTED, kinds=("room",))

# On the member's own stream: the rooms' use of realtime.access.
ROOM_ADDED = define(
    "room.added", {"room": ROOM_BRIEF, "seq": int}, kinds=("user",),
    grants=lambda data: (f"room:{data['room']['id']}", data["seq"]))
ROOM_REMOVED = define(
    "room.removed", {"room": {"id": int}}, kinds=("user",),
    revokes=lambda data: f"room:{data['room']['id']}")
READ_UPDATED = define("read.updated", {"room": int, "seq": int}, kinds=("user",))
