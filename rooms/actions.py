"""Every state change of rooms and messages: check → do → notify.

Every action takes the actor first (a realtime.access.Reader: a socket, or
`reader_for(user)` for the admin and commands) and keyword-only arguments.
Membership checks use the actor's granted streams, which a socket caches and
room.added / room.removed events on the user's stream keep true on every
process, so the hot path (message.send) never touches the database.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from notifications.actions import About, notify, read_about
from notifications.models import Notification
from realtime import runtime, streams
from realtime.access import Reader
from realtime.db import run_db
from realtime.events import send_event
from realtime.protocol import ErrorCode, ProtocolError, bad_request
from rooms import acks, counts, mentions, receipts, selectors, signals, threads
from rooms.access import ROOM
from rooms.emoji import valid as emoji_valid
from rooms.events import (
    ACK_UPDATED,
    MEMBER_JOINED,
    MEMBER_LEFT,
    MENTION,
    MESSAGE_ACKED,
    MESSAGE_CREATED,
    MESSAGE_DELETED,
    MESSAGE_UPDATED,
    REACTION_ADDED,
    REACTION_REMOVED,
    READ_UPDATED,
    ROOM_ADDED,
    ROOM_CREATED,
    ROOM_DELETED,
    ROOM_MUTED,
    ROOM_REMOVED,
    THREAD_FOLLOWING,
    THREAD_UPDATED,
)
from rooms.models import (
    Membership,
    MessageState,
    MessageVersion,
    Reaction,
    ReactionCount,
    Room,
)

Actor = Reader


def _forbidden(room_id: int) -> ProtocolError:
    # The same answer whether the room exists or not: nothing leaks about rooms
    # you cannot see.
    return ProtocolError(ErrorCode.FORBIDDEN, f"you are not a member of room {room_id}")


def require_member(actor: Actor, room_id: int) -> None:
    if ROOM.stream(room_id) not in actor.granted:
        raise _forbidden(room_id)


def _require_not_guest(actor: Actor, what: str) -> None:
    if actor.principal.role == "guest":
        raise ProtocolError(ErrorCode.FORBIDDEN, f"guests cannot {what}")


def now_ms() -> int:
    return int(time.time() * 1000)


# --- messages ----------------------------------------------------------------


def _check_body(body: str) -> None:
    if not body.strip():
        raise bad_request("field 'body' must not be empty")
    if len(body) > settings.MAX_BODY_CHARS:
        raise ProtocolError(
            ErrorCode.TOO_LARGE,
            f"body is {len(body)} characters; the limit is {settings.MAX_BODY_CHARS}",
        )


async def send_message(actor: Actor, *, room_id: int, body: str, client_id: str,
                       thread: str | None = None, requires_ack: bool = False
                       ) -> dict[str, Any]:
    """A message, or with `thread` a reply in the thread of that message (a reply
    to a reply joins its root's thread: threads are one level deep). With
    `requires_ack`, an announcement every other member must acknowledge."""
    require_member(actor, room_id)
    _check_body(body)
    if requires_ack:
        if thread is not None:
            raise bad_request("a thread reply cannot require acknowledgement")
        if not await run_db(acks.may_announce, actor.principal.role, room_id):
            raise ProtocolError(ErrorCode.FORBIDDEN, "only moderators, executives and"
                                " administrators can require acknowledgement in this room")
    if not client_id or len(client_id) > settings.MAX_CLIENT_ID_CHARS:
        raise bad_request(
            f"field 'client_id' must be 1 to {settings.MAX_CLIENT_ID_CHARS} characters"
        )
    root = await _thread_root(actor, room_id, thread) if thread is not None else None
    # Only a body that may name someone costs a database read on this path.
    named = (await run_db(mentions.resolve, body, room_id, actor.principal.role)
             if "@" in body else None)
    mid, ts = uuid.uuid4().hex, now_ms()
    data = {"id": mid, "room": room_id, "author": actor.principal.public(), "body": body,
            "client_id": client_id, "ts": ts}
    if root is not None:
        data["thread"] = root.id
    if named is not None and named.users:
        data["mentions"] = named.users
    if named is not None and named.everyone:
        data["mentions_room"] = True
    recipients: list[int] = []
    if requires_ack:
        recipients = await run_db(acks.recipients, room_id, actor.principal.id)
        data["requires_ack"] = True
        data["ack"] = {"version": 1, "acked": 0, "total": len(recipients), "mine": False}
        # Database first: an acknowledgement the moment the event arrives finds it.
        await run_db(acks.create, mid, room_id, actor.principal.id,
                     datetime.fromtimestamp(ts / 1000, tz=UTC))
    appended = await send_event(
        ROOM.stream(room_id), MESSAGE_CREATED, data,
        meta={"id": mid, "ts": ts, "room": room_id}, idem=(actor.principal.id, client_id),
        count=counts.on_send(actor.principal.id, data) if root is None else None,
    )
    if not appended.created and appended.meta.get("room", room_id) != room_id:
        # A client_id names one message of its author; reusing it elsewhere is a bug.
        raise ProtocolError(
            ErrorCode.CONFLICT,
            f"client_id {client_id!r} was already used for a message in another room",
        )
    if requires_ack and not appended.created and appended.meta["id"] != mid:
        await run_db(acks.drop, mid)  # a retry: the first send made the real one
    if requires_ack and appended.created:
        await notify(actor, recipients, About(Notification.Kind.ANNOUNCEMENT, room_id,
                                              message_id=mid, text=body))
    mentioned: list[int] = []
    if appended.created and named is not None and (named.users or named.everyone):
        mentioned = await _tell_mentioned(actor, named, data)
    if root is not None:
        await _replied(actor, root, appended.meta["id"], appended.seq, appended.meta["ts"],
                       body=body if appended.created else None, mentioned=mentioned)
    return {"id": appended.meta["id"], "seq": appended.seq, "ts": appended.meta["ts"],
            "duplicate": not appended.created}


async def _tell_mentioned(actor: Actor, named: mentions.Mentions,
                          data: dict[str, Any]) -> list[int]:
    """A `mention` event and a notification for each mentioned member. Sent once,
    after the message is acked: a retried send is a duplicate and mentions nobody
    again. Returns who was told."""
    who = await run_db(mentions.recipients, named, data["room"], actor.principal.id)
    for uid in who:
        await send_event(f"user:{uid}", MENTION, {
            "room": data["room"], "message": data["id"], "thread": data.get("thread"),
            "by": data["author"], "ts": data["ts"],
            "everyone": named.everyone and uid not in named.users})
    await notify(actor, who, About(Notification.Kind.MENTION, data["room"], data["id"],
                                   data.get("thread"), text=data["body"]))
    return who


# --- threads -----------------------------------------------------------------


async def _thread_root(actor: Actor, room_id: int, message_id: str) -> selectors.Sent:
    """The root a reply to `message_id` belongs under: the message, or its root."""
    sent = await _sent(actor, room_id, message_id)
    if sent.thread is not None:
        sent = await _sent(actor, room_id, sent.thread)
    if await _is_deleted(sent.id):
        raise _deleted(sent.id)
    return sent


async def _replied(actor: Actor, root: selectors.Sent, reply_id: str, seq: int, ts: int, *,
                   body: str | None, mentioned: list[int]) -> None:
    """A reply's bookkeeping; `body` None: a retried send (nobody is notified again)."""
    recorded = await run_db(threads.record_reply, threads.Reply(
        root.id, root.author_id, root.room_id, reply_id, actor.principal.id, seq, ts))
    if recorded.summary is not None:
        await send_event(ROOM.stream(root.room_id), THREAD_UPDATED, recorded.summary)
    for uid in recorded.newly_following:
        await _tell_following(uid, root, True)
    if recorded.summary is not None and body is not None:
        # Followers hear of the reply; whoever it mentions heard of it already.
        await notify(actor, [uid for uid in recorded.followers if uid not in mentioned],
                     About(Notification.Kind.REPLY, root.room_id, reply_id, root.id,
                           text=body))


async def _tell_following(user_id: int, root: selectors.Sent, following: bool) -> int:
    """Every device of the user learns it; the event's seq."""
    event = await send_event(f"user:{user_id}", THREAD_FOLLOWING,
                             {"room": root.room_id, "message": root.id, "following": following})
    return event.seq


async def follow_thread(actor: Actor, *, room_id: int, message_id: str,
                        following: bool) -> dict[str, Any]:
    """thread.follow (`following`) or thread.unfollow; a reply names its root's thread.
    A call that changes nothing is answered ok with `seq` null."""
    root = await _thread_root(actor, room_id, message_id)
    changed = await run_db(threads.set_following, root.id, room_id, actor.principal.id,
                           following)
    reply: dict[str, Any] = {"message": root.id, "following": following, "seq": None}
    if changed:
        reply["seq"] = await _tell_following(actor.principal.id, root, following)
    return reply


async def thread_page(actor: Actor, *, room_id: int, message_id: str, before: int | None,
                      after: int | None, limit: int) -> list[tuple[int, str]]:
    """One page of a thread's replies, as the reader sees them now (history's `thread`)."""
    from realtime import streams

    root = await _sent(actor, room_id, message_id)
    if root.thread is not None:
        raise bad_request(f"message {message_id} is a reply; page its root {root.thread}")
    seqs = await run_db(threads.page, root.id, before=before, after=after, limit=limit)
    return await streams.read_seqs(ROOM.stream(room_id), seqs, reader=actor)


# --- rooms -------------------------------------------------------------------


def _resolve(usernames: list[str]) -> list[Any]:
    from core.selectors import employees_by_username

    found = employees_by_username(usernames)
    missing = sorted(set(usernames) - set(found))
    if missing:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no active employee named {', '.join(missing)}")
    return list(found.values())


def _create_room_db(creator_id: int, name: str, kind: str, usernames: list[str],
                    members_announce: bool = False) -> tuple[dict[str, Any], str]:
    """The room and what happened: "created", "rejoined" (a direct room one had
    left) or "existing"."""
    users = _resolve(usernames)
    member_ids = sorted({creator_id, *(u.pk for u in users)})
    if kind == Room.Kind.DIRECT:
        if len(member_ids) != 2:
            raise bad_request("a direct conversation needs exactly one other member")
        key = f"{member_ids[0]}:{member_ids[1]}"
        existing = Room.objects.filter(direct_key=key).first()
        if existing is not None:
            _, joined = Membership.objects.get_or_create(room=existing, user_id=creator_id)
            return selectors.room_summary(existing.pk), "rejoined" if joined else "existing"
        try:
            with transaction.atomic():
                room = Room.objects.create(kind=kind, direct_key=key, created_by_id=creator_id)
                Membership.objects.bulk_create(
                    [Membership(room=room, user_id=uid) for uid in member_ids]
                )
        except IntegrityError:  # the other side created it at the same moment
            return selectors.room_summary(Room.objects.get(direct_key=key).pk), "existing"
    else:
        with transaction.atomic():
            room = Room.objects.create(name=name, kind=kind, created_by_id=creator_id,
                                       members_announce=members_announce)
            Membership.objects.bulk_create(
                [Membership(room=room, user_id=uid) for uid in member_ids]
            )
    return selectors.room_summary(room.pk), "created"


async def create_room(actor: Actor, *, name: str, kind: str, usernames: list[str],
                      members_announce: bool = False) -> tuple[dict[str, Any], int | None]:
    """The room, and the seq from which the actor's socket should follow it (None:
    it already does). `members_announce`: any member may require acknowledgement."""
    _require_not_guest(actor, "create rooms")
    if members_announce and kind != Room.Kind.GROUP:
        raise bad_request("only a group room takes 'members_announce'")
    if kind not in Room.Kind.values:
        raise bad_request(f"field 'kind' must be 'group' or 'direct', got {kind!r}")
    if kind == Room.Kind.GROUP and not name.strip():
        raise bad_request("a group room needs a non-empty 'name'")
    if len(name) > settings.MAX_ROOM_NAME_CHARS:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"name is longer than {settings.MAX_ROOM_NAME_CHARS} characters")
    if len(usernames) > settings.MAX_INVITE_BATCH:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"at most {settings.MAX_INVITE_BATCH} members per call")
    room, outcome = await run_db(_create_room_db, actor.principal.id, name.strip(), kind,
                                 usernames, members_announce)
    stream = ROOM.stream(room["id"])
    me = actor.principal.public()
    if outcome == "created":
        first = await send_event(stream, ROOM_CREATED, {"room": room, "by": me})
        await _tell_members_added(actor, room, [m["id"] for m in room["members"]], first.seq)
        return room, first.seq
    if outcome == "rejoined":
        joined = await send_event(stream, MEMBER_JOINED,
                                  {"room": room["id"], "user": me, "by": me})
        await _tell_members_added(actor, room, [me["id"]], joined.seq)
        return room, joined.seq
    return room, None


async def _tell_members_added(actor: Actor, room: dict[str, Any], user_ids: list[int],
                              seq: int) -> None:
    brief = {"id": room["id"], "name": room["name"], "kind": room["kind"]}
    for uid in user_ids:
        await send_event(f"user:{uid}", ROOM_ADDED, {"room": brief, "seq": seq})
    await notify(actor, user_ids, About(Notification.Kind.ROOM_ADDED, room["id"],
                                        text=room["name"]))


def _invite_db(room_id: int, usernames: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    room = Room.objects.get(pk=room_id)
    if room.kind == Room.Kind.DIRECT:
        raise ProtocolError(ErrorCode.FORBIDDEN, "direct conversations cannot take more members")
    users = _resolve(usernames)
    present = set(
        Membership.objects.filter(room_id=room_id).values_list("user_id", flat=True)
    )
    if len(present) + len(users) > settings.MAX_ROOM_MEMBERS:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"a room holds at most {settings.MAX_ROOM_MEMBERS} members")
    new = [u for u in users if u.pk not in present]
    Membership.objects.bulk_create(
        [Membership(room_id=room_id, user=u) for u in new], ignore_conflicts=True
    )
    brief = {"id": room.pk, "name": room.name, "kind": room.kind}
    return brief, [u.public() for u in new]


async def invite(actor: Actor, *, room_id: int, usernames: list[str]) -> dict[str, Any]:
    require_member(actor, room_id)
    _require_not_guest(actor, "invite")
    if not usernames:
        raise bad_request("field 'users' must name at least one employee")
    if len(usernames) > settings.MAX_INVITE_BATCH:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"at most {settings.MAX_INVITE_BATCH} members per call")
    room, added = await run_db(_invite_db, room_id, usernames)
    for user in added:
        joined = await send_event(ROOM.stream(room_id), MEMBER_JOINED,
                                  {"room": room_id, "user": user, "by": actor.principal.public()})
        await _tell_members_added(actor, room, [user["id"]], joined.seq)
    return {"room": room_id, "added": [u["username"] for u in added]}


async def join_for(actor: Actor, *, room_id: int) -> None:
    """The actor joins a room that another app's rule lets them in (a round table's
    side chat, for its audience: roundtables.actions checked it). As an invite by
    themselves: member.joined, then room.added to their devices."""
    room, added = await run_db(_invite_db, room_id, [actor.principal.username])
    for user in added:
        joined = await send_event(ROOM.stream(room_id), MEMBER_JOINED,
                                  {"room": room_id, "user": user, "by": user})
        await _tell_members_added(actor, room, [user["id"]], joined.seq)


def _leave_db(room_id: int, user_id: int) -> bool:
    with signals.journaled():
        deleted, _ = Membership.objects.filter(room_id=room_id, user_id=user_id).delete()
    return deleted > 0


async def leave(actor: Actor, *, room_id: int) -> dict[str, Any]:
    require_member(actor, room_id)
    me = actor.principal
    if await run_db(_leave_db, room_id, me.id):
        await send_event(ROOM.stream(room_id), MEMBER_LEFT,
                         {"room": room_id, "user": me.public()})
        await send_event(f"user:{me.id}", ROOM_REMOVED, {"room": {"id": room_id}})
    return {"room": room_id}


def _require_admin(actor: Actor, what: str) -> None:
    if actor.principal.role != "admin":
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only administrators can {what}")


def _remove_member_db(room_id: int, user_id: int) -> dict[str, Any] | None:
    """The removed member's public fields, or None if they were not a member."""
    from core.models import Employee

    if not _leave_db(room_id, user_id):
        return None
    return Employee.objects.get(pk=user_id).public()


async def remove_member(actor: Actor, *, room_id: int, user_id: int) -> dict[str, Any]:
    """An administrator takes someone out of a room: their sockets stop at once."""
    _require_admin(actor, "remove members")
    user = await run_db(_remove_member_db, room_id, user_id)
    if user is not None:
        await send_event(ROOM.stream(room_id), MEMBER_LEFT,
                         {"room": room_id, "user": user, "by": actor.principal.public()})
        await send_event(f"user:{user_id}", ROOM_REMOVED, {"room": {"id": room_id}})
    return {"room": room_id, "removed": user is not None}


def _delete_room_db(room_id: int) -> list[int]:
    """The members the room had; none are left. The room's row and its messages stay:
    messages still on their way to the database need it, and what was said is
    kept for the company's records."""
    with transaction.atomic():
        member_ids = list(Membership.objects.filter(room_id=room_id)
                          .values_list("user_id", flat=True))
        with signals.journaled():
            Membership.objects.filter(room_id=room_id).delete()
        # A new direct conversation between the same two people gets a new room.
        Room.objects.filter(pk=room_id, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), direct_key=None)
    return member_ids


async def delete_room(actor: Actor, *, room_id: int) -> dict[str, Any]:
    """An administrator deletes a room for everyone: every member's sockets stop
    reading it at once, and nobody can open it again."""
    _require_admin(actor, "delete rooms")
    member_ids = await run_db(_delete_room_db, room_id)
    if member_ids:
        await send_event(ROOM.stream(room_id), ROOM_DELETED,
                         {"room": room_id, "by": actor.principal.public()})
    for uid in member_ids:
        await send_event(f"user:{uid}", ROOM_REMOVED, {"room": {"id": room_id}})
    return {"room": room_id, "members": len(member_ids)}


async def members(actor: Actor, *, room_id: int) -> dict[str, Any]:
    require_member(actor, room_id)
    return {"room": room_id, "members": await run_db(selectors.members_of, room_id)}


# --- notification level -------------------------------------------------------


def _mute_db(room_id: int, user_id: int, level: str, until: datetime | None) -> None:
    if not Membership.objects.filter(room_id=room_id, user_id=user_id).update(
            mute_level=level, mute_until=until):
        raise _forbidden(room_id)  # left meanwhile


async def mute_room(actor: Actor, *, room_id: int, level: str,
                    until: int | None) -> dict[str, Any]:
    """rooms.mute: how this room notifies me, on every device; `until` (ms) ends it."""
    require_member(actor, room_id)
    if level not in selectors.MUTE_LEVELS:
        raise bad_request(f"field 'level' must be one of {', '.join(selectors.MUTE_LEVELS)}")
    if until is not None and until <= now_ms():
        raise bad_request("field 'until' must be in the future")
    when = datetime.fromtimestamp(until / 1000, tz=UTC) if until is not None else None
    await run_db(_mute_db, room_id, actor.principal.id, level, when)
    data = {"room": room_id, "level": level, "until": until}
    event = await send_event(f"user:{actor.principal.id}", ROOM_MUTED, data)
    return {**data, "seq": event.seq}


# --- read markers ------------------------------------------------------------


def _mark_read_db(room_id: int, user_id: int, seq: int,
                  at: datetime) -> tuple[int, int, int | None]:
    """(the marker before, the marker now, the room's member count if it moved,
    else None); markers only move forward. The count decides whether the read
    may be a receipt."""
    before = Membership.objects.filter(room_id=room_id, user_id=user_id).values_list(
        "read_seq", flat=True).first()
    if before is None:
        raise _forbidden(room_id)  # left meanwhile
    moved = Membership.objects.filter(
        room_id=room_id, user_id=user_id, read_seq__lt=seq
    ).update(read_seq=seq, read_at=at)
    if moved:
        return before, seq, selectors.member_count(room_id)
    return before, max(before, seq), None


async def mark_read(actor: Actor, *, room_id: int, seq: int) -> dict[str, Any]:
    require_member(actor, room_id)
    head = (await (await runtime.get()).journal.heads([f"room:{room_id}"]))[f"room:{room_id}"]
    if seq < 0 or seq > head:
        raise bad_request(f"field 'seq' must be between 0 and the room's last seq {head}")
    # Whole milliseconds: the receipt event and `receipts` say the same time.
    at = datetime.fromtimestamp(now_ms() / 1000, tz=UTC)
    me = actor.principal.id
    before, marker, members = await run_db(_mark_read_db, room_id, me, seq, at)
    if members is not None:
        # The user's other tabs and devices move their marker, and take its counts.
        journal = (await runtime.get()).journal
        was, tallied = await journal.tallies([counts.query(room_id, me, before),
                                              counts.query(room_id, me, marker)])
        now = counts.of(me, tallied)
        await send_event(f"user:{me}", READ_UPDATED, {
            "room": room_id, "seq": marker, "unread": now.unread, "mentions": now.mentions,
            "head": now.head})
        # A receipt only when the read passed someone else's message: a marker moved
        # over receipts, reactions or joins changes no one's read state, and
        # announcing it would answer every open reader's read with another receipt.
        passed = counts.of(me, was).unread > now.unread
        if passed and members <= settings.RECEIPTS_MAX_MEMBERS:
            receipts.gather(room_id, {"user": actor.principal.public(), "seq": seq,
                                      "at": selectors.ms(at)})
    return {"room": room_id, "seq": marker}


async def read_receipts(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    """receipts: who of the room has read up to the message, and when their marker
    last moved; for rooms up to RECEIPTS_MAX_MEMBERS."""
    sent = await _sent(actor, room_id, message_id)
    markers = await run_db(selectors.read_markers, room_id)
    if len(markers) > settings.RECEIPTS_MAX_MEMBERS:
        raise ProtocolError(ErrorCode.TOO_LARGE, "read receipts are kept for rooms of up to"
                            f" {settings.RECEIPTS_MAX_MEMBERS} members")
    others = [(user, seq, at) for user, seq, at in markers if user["id"] != sent.author_id]
    return {"message": sent.id, "seq": sent.seq,
            "read_by": [{"user": user, "seq": seq, "at": selectors.ms(at) if at else None}
                        for user, seq, at in others if seq >= sent.seq],
            "members": len(others)}


# --- edits, deletes and reactions ----------------------------------------------
# Database first (rooms.models, "what changes about a message"): the version each
# change gets is assigned in the transaction, then the event carries it.

_MESSAGE_ID_CHARS = frozenset("0123456789abcdef")
_EDITORS_OF_ANY = ("moderator", "admin")


def _message_id(message_id: str) -> str:
    if len(message_id) != 32 or not set(message_id) <= _MESSAGE_ID_CHARS:
        raise bad_request("field 'message' must be a message id (32 hex digits)")
    return message_id


async def _sent(actor: Actor, room_id: int, message_id: str) -> selectors.Sent:
    require_member(actor, room_id)
    sent = await selectors.sent_message(room_id, _message_id(message_id))
    if sent is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no message {message_id} in room {room_id}")
    return sent


def _may_change(actor: Actor, sent: selectors.Sent, what: str) -> None:
    if sent.author_id != actor.principal.id and actor.principal.role not in _EDITORS_OF_ANY:
        raise ProtocolError(ErrorCode.FORBIDDEN,
                            f"only the author, a moderator or an administrator can {what}")


async def _is_deleted(message_id: str) -> bool:
    state = await run_db(selectors.state_of, message_id)
    return state is not None and state.deleted_at is not None


def _deleted(message_id: str) -> ProtocolError:
    return ProtocolError(ErrorCode.CONFLICT, f"message {message_id} is deleted")


def _state_for_update(sent: selectors.Sent) -> MessageState:
    MessageState.objects.get_or_create(
        message_id=sent.id, defaults={"room_id": sent.room_id, "author_id": sent.author_id,
                                      "body": sent.body})
    return MessageState.objects.select_for_update().get(pk=sent.id)


def _edit_db(sent: selectors.Sent, editor_id: int, body: str) -> tuple[MessageState, bool]:
    """The message's state after the edit, and whether the body changed."""
    with transaction.atomic():
        state = _state_for_update(sent)
        if state.deleted_at is not None:
            raise _deleted(sent.id)
        if state.body == body:
            return state, False
        if state.version == 1:  # the first edit keeps the body as sent
            MessageVersion.objects.create(
                message_id=sent.id, version=1, body=sent.body, by_id=sent.author_id,
                at=datetime.fromtimestamp(sent.ts / 1000, tz=UTC))
        state.version += 1
        state.body, state.edited_at = body, timezone.now()
        state.save(update_fields=["version", "body", "edited_at"])
        MessageVersion.objects.create(message_id=sent.id, version=state.version, body=body,
                                      at=state.edited_at, by_id=editor_id)
    return state, True


async def edit_message(actor: Actor, *, room_id: int, message_id: str,
                       body: str) -> dict[str, Any]:
    sent = await _sent(actor, room_id, message_id)
    _may_change(actor, sent, "edit this message")
    _check_body(body)
    state, changed = await run_db(_edit_db, sent, actor.principal.id, body)
    if not changed:
        return {"id": sent.id, "version": state.version, "seq": None}
    event = await send_event(ROOM.stream(room_id), MESSAGE_UPDATED, {
        "id": sent.id, "room": room_id, "body": body, "version": state.version,
        "edited_at": selectors.ms(state.edited_at), "by": actor.principal.public()})
    if await run_db(acks.is_announcement, sent.id):
        # A new version: acknowledged by nobody yet, and everyone is asked again.
        counted = await run_db(acks.tally_of, sent.id)
        await send_event(ROOM.stream(room_id), ACK_UPDATED,
                         {"room": room_id, "message": sent.id, **counted.data()})
        await _announce_again(actor, room_id, sent.id, body, sent.author_id)
    return {"id": sent.id, "version": state.version, "seq": event.seq}


# --- announcements that must be acknowledged ------------------------------------


async def _announce_again(actor: Actor, room_id: int, message_id: str, body: str,
                          author_id: int) -> None:
    """After an edit: each member but the author is asked to acknowledge again."""
    recipients = await run_db(acks.recipients, room_id, author_id)
    await notify(actor, recipients, About(Notification.Kind.ANNOUNCEMENT, room_id,
                                          message_id=message_id, text=body))


async def _announcement(actor: Actor, room_id: int, message_id: str) -> selectors.Sent:
    sent = await _sent(actor, room_id, message_id)
    if not await run_db(acks.is_announcement, sent.id):
        raise bad_request(f"message {sent.id} does not require acknowledgement")
    if await _is_deleted(sent.id):
        raise _deleted(sent.id)
    return sent


async def ack_message(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    """message.ack: I acknowledge the announcement as it is now. Idempotent: a
    second acknowledgement of the same version (another device, a retry) is ok
    with `seq` null and the first one's time."""
    sent = await _announcement(actor, room_id, message_id)
    me = actor.principal
    if sent.author_id == me.id:
        raise bad_request("the author of an announcement does not acknowledge it")
    at = datetime.fromtimestamp(now_ms() / 1000, tz=UTC)
    ack, created, counted = await run_db(acks.record, sent.id, me.id, at)
    reply = {"message": sent.id, "version": ack.version, "at": selectors.ms(ack.at),
             "seq": None}
    if created:
        event = await send_event(ROOM.stream(room_id), ACK_UPDATED,
                                 {"room": room_id, "message": sent.id, **counted.data()})
        await send_event(f"user:{me.id}", MESSAGE_ACKED, {
            "room": room_id, "message": sent.id, "version": ack.version, "at": reply["at"]})
        reply["seq"] = event.seq
    await read_about(actor, kind=Notification.Kind.ANNOUNCEMENT, message_id=sent.id)
    return reply


async def list_acks(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    """acks.list: for the author, moderators and administrators."""
    sent = await _announcement(actor, room_id, message_id)
    may_see_acks(actor, sent)
    return await run_db(acks.listing, sent.id)


def may_see_acks(actor: Actor, sent: selectors.Sent) -> None:
    if sent.author_id != actor.principal.id and actor.principal.role not in _EDITORS_OF_ANY:
        raise ProtocolError(ErrorCode.FORBIDDEN, "only the author, a moderator or an"
                            " administrator can see who acknowledged")


def _delete_db(sent: selectors.Sent, by_id: int) -> tuple[bool, dict[str, Any] | None]:
    """(deleted now, not already; the root's new summary when it was a reply)."""
    with transaction.atomic():
        state = _state_for_update(sent)
        if state.deleted_at is not None:
            return False, None
        state.body, state.deleted_at = None, timezone.now()
        state.deleted_by_id = None if by_id == sent.author_id else by_id
        state.save(update_fields=["body", "deleted_at", "deleted_by"])
        # No body of a deleted message is readable again, old versions included.
        MessageVersion.objects.filter(message_id=sent.id).delete()
        summary = threads.reply_deleted(sent.id) if sent.thread is not None else None
    return True, summary


async def delete_message(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    """A retried delete of a deleted message is answered ok (`seq` null), so a
    client that lost the first ack is not shown an error."""
    sent = await _sent(actor, room_id, message_id)
    _may_change(actor, sent, "delete this message")
    deleted, summary = await run_db(_delete_db, sent, actor.principal.id)
    if not deleted:
        return {"id": sent.id, "seq": None}
    stream = ROOM.stream(room_id)
    [(_, frame)] = await streams.read_seqs(stream, [sent.seq])  # as sent: its mentions
    original = json.loads(frame)["data"]
    event = await send_event(stream, MESSAGE_DELETED, {
        "id": sent.id, "room": room_id, "by": actor.principal.public(), "seq": sent.seq,
        "author": sent.author_id, "thread": sent.thread,
        "mentions": original.get("mentions", []),
        "mentions_room": bool(original.get("mentions_room"))},
        count=counts.on_delete(sent.seq, original) if sent.thread is None else None)
    if summary is not None:
        await send_event(ROOM.stream(room_id), THREAD_UPDATED, summary)
    return {"id": sent.id, "seq": event.seq}


async def message_versions(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    sent = await _sent(actor, room_id, message_id)
    if await _is_deleted(sent.id):
        raise ProtocolError(ErrorCode.NOT_FOUND, f"message {message_id} is deleted")
    return {"id": sent.id, "versions": await run_db(selectors.versions_of, sent)}


def _react_db(sent: selectors.Sent, user_id: int, emoji: str,
              add: bool) -> tuple[int, int, bool]:
    """(count, version, changed) of the emoji on the message after the change.

    A handful of statements, each one round trip (INSERT … ON CONFLICT …
    RETURNING on both Postgres and SQLite): every reaction waits for this, and
    one employee's clicks are answered in order."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_DELETED_SQL, [sent.id])
        if cursor.fetchone() is not None:
            raise _deleted(sent.id)
        if add:
            cursor.execute(_REACT_SQL, [sent.id, sent.room_id, user_id, emoji, timezone.now()])
        else:
            cursor.execute(_UNREACT_SQL, [sent.id, user_id, emoji])
        if cursor.fetchone() is None:  # nothing changed: say how things stand
            cursor.execute(_COUNT_SQL, [sent.id, emoji])
            row = cursor.fetchone()
            return (row[0], row[1], False) if row else (0, 0, False)
        cursor.execute(_COUNT_UP_SQL if add else _COUNT_DOWN_SQL, [sent.id, emoji])
        count, version = cursor.fetchone()
        if add and count == 1:  # an emoji newly in use: within the limit?
            cursor.execute(_IN_USE_SQL, [sent.id])
            if cursor.fetchone()[0] > settings.MAX_REACTION_EMOJI:
                raise bad_request(f"a message takes at most {settings.MAX_REACTION_EMOJI}"
                                  " different emoji")
    return count, version, True


_R, _RC, _MS = (Reaction._meta.db_table, ReactionCount._meta.db_table,
                MessageState._meta.db_table)
_DELETED_SQL = f"SELECT 1 FROM {_MS} WHERE message_id = %s AND deleted_at IS NOT NULL"
_REACT_SQL = (f"INSERT INTO {_R} (message_id, room_id, user_id, emoji, created_at)"
              " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id")
_UNREACT_SQL = (f"DELETE FROM {_R} WHERE message_id = %s AND user_id = %s AND emoji = %s"
                " RETURNING id")
_COUNT_SQL = f"SELECT count, version FROM {_RC} WHERE message_id = %s AND emoji = %s"
_COUNT_UP_SQL = (f"INSERT INTO {_RC} (message_id, emoji, count, version) VALUES (%s, %s, 1, 1)"
                 f" ON CONFLICT (message_id, emoji) DO UPDATE SET count = {_RC}.count + 1,"
                 f" version = {_RC}.version + 1 RETURNING count, version")
# A removal always follows an add, so the row is there.
_COUNT_DOWN_SQL = (f"UPDATE {_RC} SET count = count - 1, version = version + 1"
                   " WHERE message_id = %s AND emoji = %s RETURNING count, version")
_IN_USE_SQL = f"SELECT COUNT(*) FROM {_RC} WHERE message_id = %s AND count > 0"


async def react(actor: Actor, *, room_id: int, message_id: str, emoji: str,
                add: bool) -> dict[str, Any]:
    """reaction.add (`add`) or reaction.remove: idempotent per (user, message, emoji);
    a call that changes nothing is answered ok with `seq` null and sends nothing."""
    if not emoji_valid(emoji):
        raise bad_request("field 'emoji' must be a known short name or one emoji, got"
                          f" {emoji!r:.40}")
    sent = await _sent(actor, room_id, message_id)
    count, version, changed = await run_db(_react_db, sent, actor.principal.id, emoji, add)
    reply: dict[str, Any] = {"message": sent.id, "emoji": emoji, "count": count, "seq": None}
    if changed:
        event = await send_event(
            ROOM.stream(room_id), REACTION_ADDED if add else REACTION_REMOVED, {
                "room": room_id, "message": sent.id, "emoji": emoji,
                "user": actor.principal.public(), "count": count, "version": version})
        reply["seq"] = event.seq
        if add:
            await notify(actor, [sent.author_id], About(
                Notification.Kind.REACTION, room_id, sent.id, sent.thread, emoji=emoji,
                text=sent.body))
    return reply
