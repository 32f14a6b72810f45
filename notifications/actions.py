"""Every change to the notification centre: notify, and mark read.

Other apps call `notify` from their own actions (a mention, a reply in a
followed thread, a reaction, being added to a room). Each notification is a row
first, then a `notification.created` event on the recipient's stream, so every
device hears it live and a reconnecting one resumes it like any event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from notifications.events import NOTIFICATION_CREATED, NOTIFICATION_PREFS, NOTIFICATION_READ
from notifications.models import Notification, Prefs
from notifications.selectors import preview
from realtime.access import Reader
from realtime.db import run_db
from realtime.events import send_event
from realtime.protocol import ErrorCode, ProtocolError, bad_request
from rooms.models import Membership
from rooms.selectors import ms, mute_of


@dataclass(frozen=True)
class About:
    """What a notification is about."""

    kind: str  # Notification.Kind
    room_id: int | None
    message_id: str | None = None
    thread_id: str | None = None
    emoji: str = ""
    text: str = ""  # the message's body, cut to a preview here
    roundtable_id: int | None = None


# What a room muted to "mentions" still notifies: a mention, and an announcement
# the employee must acknowledge.
_THROUGH_MENTIONS_ONLY = (Notification.Kind.MENTION, Notification.Kind.ANNOUNCEMENT)
# Kinds an employee cannot turn off: an acknowledgement is required of them.
ALWAYS_ON = (Notification.Kind.ANNOUNCEMENT,)


def _wanted(recipients: list[int], about: About) -> list[int]:
    """Those who still want this notification: not a kind they turned off, not a
    room they muted ("mentions" lets mentions through; "nothing", none)."""
    off = {uid for uid, kinds in Prefs.objects.filter(user_id__in=recipients)
           .values_list("user_id", "off") if about.kind in kinds}
    muted: set[int] = set()
    if about.room_id is not None:
        for uid, level, until in Membership.objects.filter(
                room_id=about.room_id, user_id__in=recipients,
        ).exclude(mute_level="all").values_list("user_id", "mute_level", "mute_until"):
            level = mute_of(level, until)["level"]
            if level == "nothing" or (level == "mentions"
                                      and about.kind not in _THROUGH_MENTIONS_ONLY):
                muted.add(uid)
    return [uid for uid in recipients if uid not in off and uid not in muted]


def _create_db(recipients: list[int], about: About, actor_id: int) -> list[Notification]:
    recipients = _wanted(recipients, about)
    if about.kind == Notification.Kind.REACTION:
        # Add, remove, add again: one unread notification is enough.
        already = set(Notification.objects.filter(
            user_id__in=recipients, kind=about.kind, message_id=about.message_id,
            actor_id=actor_id, emoji=about.emoji, read_at__isnull=True,
        ).values_list("user_id", flat=True))
        recipients = [uid for uid in recipients if uid not in already]
    now = timezone.now()
    return Notification.objects.bulk_create([Notification(
        user_id=uid, kind=about.kind, room_id=about.room_id, message_id=about.message_id,
        thread_id=about.thread_id, actor_id=actor_id, emoji=about.emoji,
        roundtable_id=about.roundtable_id,
        preview=preview(about.text), created_at=now) for uid in recipients])


async def notify(actor: Reader, recipients: list[int], about: About) -> None:
    """Notify each recipient of the actor's action; never the actor themself."""
    me = actor.principal
    who = sorted(set(recipients) - {me.id})
    if not who:
        return
    for row in await run_db(_create_db, who, about, me.id):
        await send_event(f"user:{row.user_id}", NOTIFICATION_CREATED, {
            "id": row.id, "kind": row.kind, "room": row.room_id, "message": row.message_id,
            "thread": row.thread_id, "actor": me.public(), "ts": ms(row.created_at),
            "preview": row.preview, "emoji": row.emoji,
            **({"roundtable": row.roundtable_id} if row.roundtable_id else {})})


def _read_db(user_id: int, ids: list[int] | None, up_to: int | None) -> int:
    which = Q(id__in=ids) if ids is not None else Q(id__lte=up_to)
    return Notification.objects.filter(which, user_id=user_id, read_at__isnull=True).update(
        read_at=timezone.now())


async def mark_read(actor: Reader, *, ids: list[int] | None,
                    up_to: int | None) -> dict[str, Any]:
    """notifications.read: {ids} or {up_to}. Reading what is read already changes
    nothing and is answered ok with `seq` null."""
    if (ids is None) == (up_to is None):
        raise bad_request("give 'ids' or 'up_to', not both and not neither")
    if ids is not None:
        if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise bad_request("field 'ids' must be a non-empty list of notification ids")
        if len(ids) > settings.NOTIFICATIONS_READ_MAX_IDS:
            raise ProtocolError(ErrorCode.TOO_LARGE, "at most"
                                f" {settings.NOTIFICATIONS_READ_MAX_IDS} ids per call")
        ids = sorted(set(ids))
    me = actor.principal.id
    changed = await run_db(_read_db, me, ids, up_to)
    if not changed:
        return {"read": 0, "seq": None}
    event = await send_event(f"user:{me}", NOTIFICATION_READ, {"ids": ids, "up_to": up_to})
    return {"read": changed, "seq": event.seq}


def _unread_about(user_id: int, kind: str, message_id: str) -> list[int]:
    return list(Notification.objects.filter(user_id=user_id, kind=kind, message_id=message_id,
                                            read_at__isnull=True).values_list("id", flat=True))


async def read_about(actor: Reader, *, kind: str, message_id: str) -> None:
    """Mark my unread notifications of `kind` about the message read (an
    acknowledged announcement needs no more reminding), on every device."""
    ids = await run_db(_unread_about, actor.principal.id, kind, message_id)
    if ids:
        await mark_read(actor, ids=ids, up_to=None)


def _prefs_db(user_id: int, off: list[str] | None) -> tuple[list[str], bool]:
    """(the kinds turned off now, whether that changed)."""
    prefs, _ = Prefs.objects.get_or_create(user_id=user_id)
    if off is None or sorted(off) == sorted(prefs.off):
        return sorted(prefs.off), False
    prefs.off = sorted(off)
    prefs.save(update_fields=["off"])
    return prefs.off, True


async def set_prefs(actor: Reader, *, off: list[str] | None) -> dict[str, Any]:
    """notifications.prefs: with `off`, the kinds to turn off (all others on);
    without, just what they are. Every device hears a change."""
    if off is not None:
        kinds = set(Notification.Kind.values) - set(ALWAYS_ON)
        if not all(isinstance(k, str) and k in kinds for k in off):
            raise bad_request(f"field 'off' lists kinds of {', '.join(sorted(kinds))}")
        off = sorted(set(off))
    me = actor.principal.id
    now_off, changed = await run_db(_prefs_db, me, off)
    seq = None
    if changed:
        seq = (await send_event(f"user:{me}", NOTIFICATION_PREFS, {"off": now_off})).seq
    return {"off": now_off, "seq": seq}
