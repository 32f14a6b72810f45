"""The persister's writer for rooms: message rows from message.created events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from realtime.journal import PendingEntry, frame_type
from rooms.models import Message


def persist(entries: list[PendingEntry]) -> None:
    """One INSERT … ON CONFLICT DO NOTHING for every message in the batch."""
    rows = []
    for e in entries:
        if frame_type(e.frame) != "message.created":
            continue
        data = json.loads(e.frame)["data"]
        rows.append(Message(
            id=data["id"], room_id=data["room"], author_id=data["author"]["id"], seq=e.seq,
            body=data["body"], client_id=data["client_id"],
            created_at=datetime.fromtimestamp(data["ts"] / 1000, tz=UTC),
        ))
    if rows:
        Message.objects.bulk_create(rows, ignore_conflicts=True, batch_size=len(rows))
