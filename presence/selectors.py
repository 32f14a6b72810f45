"""Reads presence needs from the rooms app (sync ORM; call through realtime.db.run_db)."""

from __future__ import annotations

from django.db.models import Count


def member_counts(room_ids: list[int]) -> dict[int, int]:
    """Members per room, for these rooms, in one query (rooms with none are absent)."""
    from rooms.models import Membership

    rows = (Membership.objects.filter(room_id__in=room_ids).values("room_id")
            .annotate(n=Count("pk")).values_list("room_id", "n"))
    return dict(rows)
