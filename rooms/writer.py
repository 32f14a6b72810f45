"""The persister's writer for rooms: message rows from message.created events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from realtime.persister import Event, Table
from rooms.models import Message


def rows(events: list[Event]) -> Iterator[tuple[object, ...]]:
    for e in events:
        if e.type == "message.created":
            d = e.data
            yield (d["id"], d["room"], d["author"]["id"], e.entry.seq, d["body"], d["client_id"],
                   datetime.fromtimestamp(d["ts"] / 1000, tz=UTC))


TABLE = Table(Message, ("id", "room_id", "author_id", "seq", "body", "client_id", "created_at"),
              rows)
