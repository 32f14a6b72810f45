"""The events of rooms and messages, with their schemas (docs/protocol.md, "Events")."""

from __future__ import annotations

from realtime.schema import USER, Maybe, Opt, define

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
# A thread root's summary: replies not deleted, when the last came, the latest
# repliers (up to three), and its version (a later event with a lower one is stale).
THREAD_SUMMARY = {"replies": int, "last_reply_at": Maybe(int), "participants": [USER],
                  "version": int}
# As sent; history and resume show it as it is now (rooms.restate): the latest
# body with its `version` and `edited_at`, its reactions, or a tombstone
# (`deleted`, an empty body) once deleted; a root with its `thread_summary` and
# `following` (present, true, when the reader follows the thread).
# `thread`: the root's id, on a reply. `mentions`: ids of the members named;
# `mentions_room`: @room was used and allowed (every member is mentioned).
# `requires_ack`: an announcement; restated, it carries `ack`: the tally of its
# current version and whether the reader acknowledged it (`mine`).
ACK_SUMMARY = {"version": int, "acked": int, "total": int, "mine": bool}
MESSAGE_CREATED = define("message.created", {
    "id": str, "room": int, "author": USER, "body": str, "client_id": str, "ts": int,
    "version": Opt(int), "edited_at": Opt(int), "deleted": Opt(bool),
    "reactions": Opt([REACTION]), "thread": Opt(str), "thread_summary": Opt(THREAD_SUMMARY),
    "following": Opt(bool), "mentions": Opt([int]), "mentions_room": Opt(bool),
    "requires_ack": Opt(bool), "ack": Opt(ACK_SUMMARY),
}, kinds=("room",))
THREAD_UPDATED = define("thread.updated", {"room": int, "message": str, **THREAD_SUMMARY},
                        kinds=("room",))
# `by`: who edited (the author, or a moderator or administrator).
MESSAGE_UPDATED = define("message.updated", {
    "id": str, "room": int, "body": str, "version": int, "edited_at": int, "by": USER,
    "deleted": Opt(bool),
}, kinds=("room",))
# The deleted message's seq, author, thread and mentions let a client take it out
# of its unread counts (rooms/counts.py) without having seen it.
MESSAGE_DELETED = define("message.deleted", {
    "id": str, "room": int, "by": USER, "seq": int, "author": int, "thread": Maybe(str),
    "mentions": [int], "mentions_room": bool}, kinds=("room",))
_REACTED = {"room": int, "message": str, "emoji": str, "user": USER, "count": int,
            "version": int}
REACTION_ADDED = define("reaction.added", _REACTED, kinds=("room",))
REACTION_REMOVED = define("reaction.removed", _REACTED, kinds=("room",))

# An announcement's acknowledgements changed (one more, or an edit started a new
# version that everyone acknowledges again). Who acknowledged is not said here:
# only the author, moderators and administrators see that (acks.list).
ACK_UPDATED = define("ack.updated", {"room": int, "message": str, "version": int,
                                     "acked": int, "total": int}, kinds=("room",))

# Read markers that moved in a small room (rooms.receipts), gathered over
# RECEIPT_COALESCE_MS: a burst of reads is one event, not one per reader.
RECEIPT_UPDATED = define("receipt.updated", {
    "room": int, "reads": [{"user": USER, "seq": int, "at": int}]}, kinds=("room",))

# On the member's own stream: the rooms' use of realtime.access.
ROOM_ADDED = define(
    "room.added", {"room": ROOM_BRIEF, "seq": int}, kinds=("user",),
    grants=lambda data: (f"room:{data['room']['id']}", data["seq"]))
ROOM_REMOVED = define(
    "room.removed", {"room": {"id": int}}, kinds=("user",),
    revokes=lambda data: f"room:{data['room']['id']}")
# I acknowledged an announcement (on this device or another).
MESSAGE_ACKED = define("message.acked", {"room": int, "message": str, "version": int,
                                         "at": int}, kinds=("user",))
# With my counts for the room at that marker, as of the room's seq `head`.
READ_UPDATED = define("read.updated", {"room": int, "seq": int, "unread": int,
                                       "mentions": int, "head": int}, kinds=("user",))
# The room's notification level for me changed (on this device or another).
ROOM_MUTED = define("room.muted", {"room": int, "level": str, "until": Maybe(int)},
                    kinds=("user",))
# A message mentioned you (by name, or `everyone`: through @room). No body: a
# deleted message's text must not stay behind on your stream.
MENTION = define("mention", {"room": int, "message": str, "thread": Maybe(str), "by": USER,
                             "ts": int, "everyone": bool}, kinds=("user",))
# Every device of the employee learns they now follow (or stopped following) a thread.
THREAD_FOLLOWING = define("thread.following", {"room": int, "message": str, "following": bool},
                          kinds=("user",))
