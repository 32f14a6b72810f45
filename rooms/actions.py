"""Every state change of rooms and messages: check → do → notify.

Every action takes the actor first (a realtime.access.Reader: a socket, or
`reader_for(user)` for the admin and commands) and keyword-only arguments.
Membership checks use the actor's granted streams, which a socket caches and
room.added / room.removed events on the user's stream keep true on every
process, so the hot path (message.send) never touches the database.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from realtime.access import Reader
from realtime.db import run_db
from realtime.events import send_event
from realtime.protocol import ErrorCode, ProtocolError, bad_request
from rooms import selectors, signals
from rooms.access import ROOM
from rooms.emoji import valid as emoji_valid
from rooms.events import (
    MEMBER_JOINED,
    MEMBER_LEFT,
    MESSAGE_CREATED,
    MESSAGE_DELETED,
    MESSAGE_UPDATED,
    REACTION_ADDED,
    REACTION_REMOVED,
    READ_UPDATED,
    ROOM_ADDED,
    ROOM_CREATED,
    ROOM_DELETED,
    ROOM_REMOVED,
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


async def send_message(actor: Actor, *, room_id: int, body: str,
                       client_id: str) -> dict[str, Any]:
    require_member(actor, room_id)
    _check_body(body)
    if not client_id or len(client_id) > settings.MAX_CLIENT_ID_CHARS:
        raise bad_request(
            f"field 'client_id' must be 1 to {settings.MAX_CLIENT_ID_CHARS} characters"
        )
    mid, ts = uuid.uuid4().hex, now_ms()
    data = {"id": mid, "room": room_id, "author": actor.principal.public(), "body": body,
            "client_id": client_id, "ts": ts}
    appended = await send_event(
        ROOM.stream(room_id), MESSAGE_CREATED, data,
        meta={"id": mid, "ts": ts, "room": room_id}, idem=(actor.principal.id, client_id),
    )
    if not appended.created and appended.meta.get("room", room_id) != room_id:
        # A client_id names one message of its author; reusing it elsewhere is a bug.
        raise ProtocolError(
            ErrorCode.CONFLICT,
            f"client_id {client_id!r} was already used for a message in another room",
        )
    return {"id": appended.meta["id"], "seq": appended.seq, "ts": appended.meta["ts"],
            "duplicate": not appended.created}


# --- rooms -------------------------------------------------------------------


def _resolve(usernames: list[str]) -> list[Any]:
    from core.selectors import employees_by_username

    found = employees_by_username(usernames)
    missing = sorted(set(usernames) - set(found))
    if missing:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no active employee named {', '.join(missing)}")
    return list(found.values())


def _create_room_db(creator_id: int, name: str, kind: str,
                    usernames: list[str]) -> tuple[dict[str, Any], str]:
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
            room = Room.objects.create(name=name, kind=kind, created_by_id=creator_id)
            Membership.objects.bulk_create(
                [Membership(room=room, user_id=uid) for uid in member_ids]
            )
    return selectors.room_summary(room.pk), "created"


async def create_room(actor: Actor, *, name: str, kind: str,
                      usernames: list[str]) -> tuple[dict[str, Any], int | None]:
    """The room, and the seq from which the actor's socket should follow it (None:
    it already does)."""
    _require_not_guest(actor, "create rooms")
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
                                 usernames)
    stream = ROOM.stream(room["id"])
    me = actor.principal.public()
    if outcome == "created":
        first = await send_event(stream, ROOM_CREATED, {"room": room, "by": me})
        await _tell_members_added(room, [m["id"] for m in room["members"]], first.seq)
        return room, first.seq
    if outcome == "rejoined":
        joined = await send_event(stream, MEMBER_JOINED,
                                  {"room": room["id"], "user": me, "by": me})
        await _tell_members_added(room, [me["id"]], joined.seq)
        return room, joined.seq
    return room, None


async def _tell_members_added(room: dict[str, Any], user_ids: list[int], seq: int) -> None:
    brief = {"id": room["id"], "name": room["name"], "kind": room["kind"]}
    for uid in user_ids:
        await send_event(f"user:{uid}", ROOM_ADDED, {"room": brief, "seq": seq})


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
        await _tell_members_added(room, [user["id"]], joined.seq)
    return {"room": room_id, "added": [u["username"] for u in added]}


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


# --- read markers ------------------------------------------------------------


def _mark_read_db(room_id: int, user_id: int, seq: int) -> tuple[int, bool]:
    """(the marker now, whether it moved); markers only move forward."""
    moved = Membership.objects.filter(
        room_id=room_id, user_id=user_id, read_seq__lt=seq
    ).update(read_seq=seq)
    if moved:
        return seq, True
    m = Membership.objects.filter(room_id=room_id, user_id=user_id).first()
    if m is None:
        raise _forbidden(room_id)  # left meanwhile
    return m.read_seq, False


async def mark_read(actor: Actor, *, room_id: int, seq: int) -> dict[str, Any]:
    require_member(actor, room_id)
    from realtime import runtime

    head = (await (await runtime.get()).journal.heads([f"room:{room_id}"]))[f"room:{room_id}"]
    if seq < 0 or seq > head:
        raise bad_request(f"field 'seq' must be between 0 and the room's last seq {head}")
    marker, moved = await run_db(_mark_read_db, room_id, actor.principal.id, seq)
    if moved:
        # The user's other tabs and devices move their marker too.
        await send_event(f"user:{actor.principal.id}", READ_UPDATED,
                         {"room": room_id, "seq": seq})
    return {"room": room_id, "seq": marker}


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
    return {"id": sent.id, "version": state.version, "seq": event.seq}


def _delete_db(sent: selectors.Sent, by_id: int) -> bool:
    """True if deleted now; False if it already was."""
    with transaction.atomic():
        state = _state_for_update(sent)
        if state.deleted_at is not None:
            return False
        state.body, state.deleted_at = None, timezone.now()
        state.deleted_by_id = None if by_id == sent.author_id else by_id
        state.save(update_fields=["body", "deleted_at", "deleted_by"])
        # No body of a deleted message is readable again, old versions included.
        MessageVersion.objects.filter(message_id=sent.id).delete()
    return True


async def delete_message(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    """A retried delete of a deleted message is answered ok (`seq` null), so a
    client that lost the first ack is not shown an error."""
    sent = await _sent(actor, room_id, message_id)
    _may_change(actor, sent, "delete this message")
    if not await run_db(_delete_db, sent, actor.principal.id):
        return {"id": sent.id, "seq": None}
    event = await send_event(ROOM.stream(room_id), MESSAGE_DELETED, {
        "id": sent.id, "room": room_id, "by": actor.principal.public()})
    return {"id": sent.id, "seq": event.seq}


async def message_versions(actor: Actor, *, room_id: int, message_id: str) -> dict[str, Any]:
    sent = await _sent(actor, room_id, message_id)
    state = await run_db(selectors.state_of, sent.id)
    if state is not None and state.deleted_at is not None:
        raise ProtocolError(ErrorCode.NOT_FOUND, f"message {message_id} is deleted")
    return {"id": sent.id, "versions": await run_db(selectors.versions_of, sent)}


def _react_db(sent: selectors.Sent, user_id: int, emoji: str,
              add: bool) -> tuple[int, int, bool]:
    """(count, version, changed) of the emoji on the message after the change."""
    with transaction.atomic():
        state = MessageState.objects.filter(pk=sent.id).first()
        if state is not None and state.deleted_at is not None:
            raise _deleted(sent.id)
        if add:
            _, changed = Reaction.objects.get_or_create(
                message_id=sent.id, user_id=user_id, emoji=emoji,
                defaults={"room_id": sent.room_id})
            if changed:
                used = set(ReactionCount.objects.filter(message_id=sent.id, count__gt=0)
                           .values_list("emoji", flat=True))
                if emoji not in used and len(used) >= settings.MAX_REACTION_EMOJI:
                    raise bad_request(f"a message takes at most {settings.MAX_REACTION_EMOJI}"
                                      " different emoji")
        else:
            changed = Reaction.objects.filter(message_id=sent.id, user_id=user_id,
                                              emoji=emoji).delete()[0] > 0
        ReactionCount.objects.get_or_create(message_id=sent.id, emoji=emoji)
        if changed:
            ReactionCount.objects.filter(message_id=sent.id, emoji=emoji).update(
                count=F("count") + (1 if add else -1), version=F("version") + 1)
        row = ReactionCount.objects.get(message_id=sent.id, emoji=emoji)
    return row.count, row.version, changed


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
    return reply
