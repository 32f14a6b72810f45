"""Reads about rooms (sync ORM; call through realtime.db.run_db)."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q

from rooms.events import MESSAGE_CREATED
from rooms.models import (
    Membership,
    Message,
    MessageState,
    MessageVersion,
    Reaction,
    ReactionCount,
    Room,
    ThreadFollow,
    ThreadSummary,
)

# Every socket connect runs this; raw SQL costs 87 µs of CPU per call against 265
# through values_list (measured).
_ROOM_IDS_SQL = f"SELECT room_id FROM {Membership._meta.db_table} WHERE user_id = %s"


def room_ids_for(user_id: int) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(_ROOM_IDS_SQL, [user_id])
        return {row[0] for row in cursor.fetchall()}


def rooms_for(user_id: int) -> list[dict[str, Any]]:
    # Tuples, not model instances: a member of 500 rooms lists them in a third of
    # the time.
    rows = (Membership.objects.filter(user_id=user_id).order_by("room_id")
            .values_list("room_id", "room__name", "room__kind", "read_seq", "mute_level",
                         "mute_until", "room__members_announce"))
    return [{"id": rid, "name": name, "kind": kind, "read_seq": read_seq,
             "mute": mute_of(level, until), "members_announce": announce}
            for rid, name, kind, read_seq, level, until, announce in rows]


MUTE_LEVELS = ("all", "mentions", "nothing")


def mute_of(level: str, until: Any) -> dict[str, Any]:
    """A room's notification level as it applies now (a mute that ran out is "all")."""
    if until is None:
        return {"level": level, "until": None}
    from django.utils import timezone

    if until <= timezone.now():
        return {"level": "all", "until": None}
    return {"level": level, "until": ms(until) if until is not None else None}


def room_summary(room_id: int) -> dict[str, Any]:
    room = Room.objects.get(pk=room_id)
    return {"id": room.pk, "name": room.name, "kind": room.kind,
            "members": members_of(room_id)}


def read_markers(room_id: int) -> list[tuple[dict[str, Any], int, Any]]:
    """(member, read_seq, when it last moved) of every member of the room."""
    rows = Membership.objects.filter(room_id=room_id).select_related("user").order_by("user_id")
    return [(m.user.public(), m.read_seq, m.read_at) for m in rows]


def member_count(room_id: int) -> int:
    return Membership.objects.filter(room_id=room_id).count()


def members_of(room_id: int) -> list[dict[str, Any]]:
    rows = Membership.objects.filter(room_id=room_id).select_related("user").order_by("user_id")
    return [m.user.public() for m in rows]


def _stored_frames(wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
    from realtime.models import StreamEvent

    found: dict[tuple[str, int], str] = {}
    by_stream: dict[str, list[int]] = {}
    for stream, seq in wanted:
        by_stream.setdefault(stream, []).append(seq)
    q = Q()
    for stream, seqs in by_stream.items():
        q |= Q(stream=stream, seq__in=seqs)
    for stream, seq, frame in StreamEvent.objects.filter(q).values_list("stream", "seq",
                                                                         "frame"):
        found[(stream, seq)] = frame
    return found


async def _counted(user_id: int, rooms: list[dict[str, Any]]) -> list[Any]:
    from realtime import runtime
    from rooms import counts

    journal = (await runtime.get()).journal
    tallied = await journal.tallies([counts.query(r["id"], user_id, r["read_seq"])
                                     for r in rooms])
    return [counts.of(user_id, t) for t in tallied]


async def room_counts(user_id: int) -> list[dict[str, Any]]:
    """`counts`: each of my rooms' marker and counts, as of its `head` seq."""
    from realtime.db import run_db

    rooms = await run_db(rooms_for, user_id)
    return [{"id": r["id"], "read_seq": r["read_seq"], "unread": c.unread,
             "mentions": c.mentions, "head": c.head}
            for r, c in zip(rooms, await _counted(user_id, rooms), strict=True)]


async def list_rooms(user_id: int) -> list[dict[str, Any]]:
    """My rooms with their counts (rooms/counts.py) and last message: one database
    read and two journal round trips whatever the number of rooms."""
    from realtime import runtime
    from realtime.db import run_db
    from rooms.restate import messages_now

    rooms = await run_db(rooms_for, user_id)
    now = await _counted(user_id, rooms)
    journal = (await runtime.get()).journal
    wanted = [(f"room:{r['id']}", c.last) for r, c in zip(rooms, now, strict=True) if c.last]
    frames = await journal.frames(wanted)
    missing = [w for w in wanted if w not in frames]
    if missing:  # trimmed from the windows: the database has them
        frames.update(await run_db(_stored_frames, missing))
    last = {w: json.loads(frame)["data"] for w, frame in frames.items()}
    shown = dict(zip(last, await messages_now(user_id, list(last.values())), strict=True))
    for room, c in zip(rooms, now, strict=True):
        room.update(last_seq=c.head, unread=c.unread, mentions=c.mentions,
                    last_message=shown.get((f"room:{room['id']}", c.last)))
    return rooms


# --- one message, as it is now -----------------------------------------------


def ms(when: Any) -> int:
    """A datetime as the protocol's milliseconds since the epoch. Rounded, not cut:
    a time made from milliseconds (fromtimestamp(ms / 1000)) can come back a
    hair below them in binary floating point."""
    return round(when.timestamp() * 1000)


@dataclass(frozen=True)
class Sent:
    """A message as its author sent it (from its row, or the journal if not yet stored)."""

    id: str
    room_id: int
    author_id: int
    body: str
    ts: int  # ms
    thread: str | None = None  # the root's id, for a reply
    seq: int = 0  # on the room stream


def _stored(message_id: str) -> Sent | None:
    row = (Message.objects.filter(pk=message_id)
           .values_list("room_id", "author_id", "body", "created_at", "thread_id", "seq")
           .first())
    if row is None:
        return None
    room_id, author_id, body, created, thread, seq = row
    return Sent(message_id, room_id, author_id, body, ms(created), thread, seq)


async def sent_message(room_id: int, message_id: str) -> Sent | None:
    """The message `message_id` of room `room_id` as sent, or None (no such message
    in that room). A message acked moments ago may not be stored yet: the newest
    events of the room, where every unpersisted one is, are searched then."""
    from django.conf import settings

    from realtime import runtime
    from realtime.db import run_db

    found = _SENT.get(message_id)
    if found is None:
        found = await run_db(_stored, message_id)
    if found is None:
        journal = (await runtime.get()).journal
        window = await journal.window(f"room:{room_id}", limit=settings.MESSAGE_LOOKUP_EVENTS)
        needle = f'"id":"{message_id}"'  # ids are hex: no escaping can hide one
        for seq, frame in reversed(window):
            if needle in frame:
                event = json.loads(frame)
                data = event["data"]
                if event["type"] == MESSAGE_CREATED.name and data["id"] == message_id:
                    found = Sent(message_id, data["room"], data["author"]["id"], data["body"],
                                 data["ts"], data.get("thread"), seq)
                    break
    if found is not None:
        _SENT[message_id] = found
        _SENT.move_to_end(message_id)
        while len(_SENT) > settings.SENT_CACHE_MESSAGES:
            _SENT.popitem(last=False)
    return found if found is not None and found.room_id == room_id else None


# Messages as sent never change (edits live in MessageState), so a process keeps
# the latest ones it looked up: a burst of reactions to one message reads it once.
_SENT: OrderedDict[str, Sent] = OrderedDict()


def state_of(message_id: str) -> MessageState | None:
    return MessageState.objects.filter(pk=message_id).first()


def versions_of(sent: Sent) -> list[dict[str, Any]]:
    """Every body the message had, oldest first (one: it was never edited)."""
    from core.models import Employee

    rows = list(MessageVersion.objects.filter(message_id=sent.id).select_related("by")
                .order_by("version"))
    if not rows:
        author = Employee.objects.get(pk=sent.author_id)
        return [{"version": 1, "body": sent.body, "ts": sent.ts, "by": author.public()}]
    return [{"version": v.version, "body": v.body, "ts": ms(v.at),
             "by": v.by.public()} for v in rows]


@dataclass
class Now:
    """What changed about some messages, for showing stored events as they are now."""

    states: dict[str, MessageState]
    # message id → emoji → (count, version), in the order the emoji were first used
    counts: dict[str, dict[str, tuple[int, int]]]
    mine: set[tuple[str, str]]  # (message id, emoji) the reader reacted with
    threads: dict[str, dict[str, Any]]  # root id → its summary's fields
    following: set[str]  # roots whose threads the reader follows
    acks: dict[str, dict[str, Any]]  # announcement id → rooms.acks.summaries


def now_of(message_ids: list[str], reader_id: int, announced: list[str] | None = None) -> Now:
    """`announced`: those of the messages sent with requires_ack (only they cost
    the acknowledgement reads)."""
    from rooms import acks

    states = {s.message_id: s for s in MessageState.objects.filter(message_id__in=message_ids)}
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for mid, emoji, count, version in (
            ReactionCount.objects.filter(message_id__in=message_ids)
            .order_by("id").values_list("message_id", "emoji", "count", "version")):
        counts.setdefault(mid, {})[emoji] = (count, version)
    mine = set(Reaction.objects.filter(message_id__in=message_ids, user_id=reader_id)
               .values_list("message_id", "emoji"))
    summaries = {t.root_id: summary_data(t)
                 for t in ThreadSummary.objects.filter(root_id__in=message_ids)}
    following = set(ThreadFollow.objects.filter(root_id__in=message_ids, user_id=reader_id,
                                                following=True)
                    .values_list("root_id", flat=True))
    return Now(states, counts, mine, summaries, following,
               acks.summaries(announced, reader_id) if announced else {})


def summary_data(summary: ThreadSummary) -> dict[str, Any]:
    """A thread summary's fields as events and restated roots carry them."""
    from core.models import Employee

    people = {e.pk: e.public() for e in Employee.objects.filter(pk__in=summary.participants)}
    return {"replies": summary.replies,
            "last_reply_at": ms(summary.last_reply_at) if summary.last_reply_at else None,
            "participants": [people[uid] for uid in summary.participants if uid in people],
            "version": summary.version}
