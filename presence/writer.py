"""Batched last-seen upsert: one INSERT … ON CONFLICT DO UPDATE per batch."""

from __future__ import annotations

from datetime import UTC, datetime

from presence.models import LastSeen


def persist_last_seen(seen: dict[int, int]) -> None:
    """`seen` maps user id → last-seen time in epoch milliseconds."""
    rows = [LastSeen(user_id=uid, at=datetime.fromtimestamp(ms / 1000, tz=UTC))
            for uid, ms in seen.items()]
    LastSeen.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["user"], update_fields=["at"]
    )


def last_seen_of(user_ids: list[int]) -> dict[int, int]:
    rows = LastSeen.objects.filter(user_id__in=user_ids).values_list("user_id", "at")
    return {uid: int(at.timestamp() * 1000) for uid, at in rows}
