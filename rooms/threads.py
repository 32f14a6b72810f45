"""Thread bookkeeping in the database (sync ORM; call through realtime.db.run_db).

A reply is an ordinary message.created on the room stream; what is kept here is
what no single event holds: which replies a thread has (for paging it), its
summary (shown on the root), and who follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from rooms.models import ThreadFollow, ThreadReply, ThreadSummary
from rooms.selectors import summary_data

# Repliers a root shows (Slack and Mattermost show a few faces, not a list).
SUMMARY_PARTICIPANTS = 3


@dataclass(frozen=True)
class Reply:
    root_id: str
    root_author_id: int
    room_id: int
    message_id: str
    author_id: int
    seq: int
    ts: int  # ms


def _resummarise(root_id: str, room_id: int) -> dict[str, Any]:
    """Recount the thread under a lock on its summary row: two replies committed
    at once on two processes get versions n and n+1, the later counting both."""
    ThreadSummary.objects.get_or_create(root_id=root_id, defaults={"room_id": room_id})
    summary = ThreadSummary.objects.select_for_update().get(pk=root_id)
    live = ThreadReply.objects.filter(root_id=root_id, deleted=False).order_by("-seq")
    latest = live.values_list("author_id", "at")
    summary.replies = live.count()
    summary.last_reply_at = latest[0][1] if summary.replies else None
    participants: list[int] = []
    for author_id, _ in latest.iterator():
        if author_id not in participants:
            participants.append(author_id)
            if len(participants) == SUMMARY_PARTICIPANTS:
                break
    summary.participants = participants
    summary.version += 1
    summary.save()
    return {"room": room_id, "message": root_id, **summary_data(summary)}


def _follow(root_id: str, room_id: int, user_id: int, *, following: bool,
            overrule: bool) -> bool:
    """Set whether `user_id` follows; `overrule` False keeps an explicit unfollow.
    True if it changed."""
    row, created = ThreadFollow.objects.get_or_create(
        root_id=root_id, user_id=user_id, defaults={"room_id": room_id,
                                                    "following": following})
    if created:
        return True
    if row.following == following or not overrule:
        return False
    row.following = following
    row.save(update_fields=["following"])
    return True


@dataclass(frozen=True)
class Recorded:
    summary: dict[str, Any] | None  # the new summary; None: the reply was counted already
    newly_following: list[int]  # who follows the thread now and did not before
    followers: list[int]  # everyone who follows it now


def record_reply(reply: Reply) -> Recorded:
    """Index the reply and follow the thread for its author and the root's author.

    Idempotent, so a retried send (same client_id) repairs what a crash between
    the append and this left undone.
    """
    with transaction.atomic():
        _, new = ThreadReply.objects.get_or_create(message_id=reply.message_id, defaults={
            "root_id": reply.root_id, "room_id": reply.room_id, "author_id": reply.author_id,
            "seq": reply.seq, "at": datetime.fromtimestamp(reply.ts / 1000, tz=UTC)})
        followers = [uid for uid, overrule in ((reply.author_id, True),
                                               (reply.root_author_id, False))
                     if _follow(reply.root_id, reply.room_id, uid, following=True,
                                overrule=overrule)]
        summary = _resummarise(reply.root_id, reply.room_id) if new else None
        following = sorted(ThreadFollow.objects.filter(root_id=reply.root_id, following=True)
                           .values_list("user_id", flat=True))
    return Recorded(summary, sorted(set(followers)), following)


def reply_deleted(message_id: str) -> dict[str, Any] | None:
    """The root's new summary once one of its replies is deleted (None: not a reply).
    Runs inside the delete's transaction."""
    reply = ThreadReply.objects.filter(pk=message_id, deleted=False).first()
    if reply is None:
        return None
    reply.deleted = True
    reply.save(update_fields=["deleted"])
    return _resummarise(reply.root_id, reply.room_id)


def set_following(root_id: str, room_id: int, user_id: int, following: bool) -> bool:
    with transaction.atomic():
        return _follow(root_id, room_id, user_id, following=following, overrule=True)


def root_of(message_id: str) -> str | None:
    """The thread a stored reply belongs to."""
    return (ThreadReply.objects.filter(pk=message_id)
            .values_list("root_id", flat=True).first())


def page(root_id: str, *, before: int | None, after: int | None, limit: int) -> list[int]:
    """Seqs of the thread's replies on the room stream, ascending: the newest before
    `before`, or the oldest after `after`."""
    rows = ThreadReply.objects.filter(root_id=root_id)
    if after is not None:
        seqs = list(rows.filter(seq__gt=after).order_by("seq")
                    .values_list("seq", flat=True)[:limit])
    else:
        if before is not None:
            rows = rows.filter(seq__lt=before)
        seqs = list(rows.order_by("-seq").values_list("seq", flat=True)[:limit])
    return sorted(seqs)
