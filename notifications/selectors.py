"""Reads of the notification centre (sync ORM; call through realtime.db.run_db)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from notifications.models import Notification
from rooms.models import MessageState
from rooms.selectors import ms


def preview(text: str) -> str:
    """A message's text as a notification shows it: cut to NOTIFICATION_PREVIEW_CHARS."""
    cut = settings.NOTIFICATION_PREVIEW_CHARS
    return text if len(text) <= cut else text[:cut - 1] + "…"


def previews_now(message_ids: set[str]) -> dict[str, str | None]:
    """Messages that changed since sent: their body now (None: deleted)."""
    return {s.message_id: (None if s.deleted_at is not None else s.body)
            for s in MessageState.objects.filter(message_id__in=message_ids)}


def shown(stored: str, message_id: str | None, now: dict[str, str | None]) -> str:
    """A notification's preview as its message is now: gone once it is deleted."""
    if message_id is None or message_id not in now:
        return stored
    body = now[message_id]
    return "" if body is None else preview(body)


def unread_count(user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def list_for(user_id: int, *, before: int | None, limit: int,
             unread_only: bool) -> dict[str, Any]:
    rows = Notification.objects.filter(user_id=user_id).select_related("actor")
    unread = unread_count(user_id)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    if before is not None:
        rows = rows.filter(id__lt=before)
    page = list(rows.order_by("-id")[:limit])
    now = previews_now({n.message_id for n in page if n.message_id})
    return {
        "notifications": [{
            "id": n.id, "kind": n.kind, "room": n.room_id, "message": n.message_id,
            "thread": n.thread_id, "actor": n.actor.public() if n.actor else None,
            "ts": ms(n.created_at), "preview": shown(n.preview, n.message_id, now),
            "emoji": n.emoji, "read": n.read_at is not None,
            **({"roundtable": n.roundtable_id} if n.roundtable_id else {})} for n in page],
        "unread": unread,
        "before": page[-1].id if len(page) == limit else None,
    }
