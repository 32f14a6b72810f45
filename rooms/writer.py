"""The persister's writers for rooms: message rows from message.created events,
mention rows from mention events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from realtime.persister import Event, Table
from rooms.models import Mention, Message


def rows(events: list[Event]) -> Iterator[tuple[object, ...]]:
    for e in events:
        if e.type == "message.created":
            d = e.data
            yield (d["id"], d["room"], d["author"]["id"], e.entry.seq, d["body"],
                   d.get("thread"), d["client_id"],
                   datetime.fromtimestamp(d["ts"] / 1000, tz=UTC))


TABLE = Table(Message, ("id", "room_id", "author_id", "seq", "body", "thread_id",
                       "client_id", "created_at"), rows)


def mention_rows(events: list[Event]) -> Iterator[tuple[object, ...]]:
    for e in events:
        if e.type == "mention":
            d = e.data
            yield (int(e.entry.stream.split(":", 1)[1]), d["message"], d["room"], d["thread"],
                   d["by"]["id"], e.entry.seq, datetime.fromtimestamp(d["ts"] / 1000, tz=UTC),
                   d["everyone"])


MENTIONS = Table(Mention, ("user_id", "message_id", "room_id", "thread_id", "by_id", "seq",
                           "at", "everyone"), mention_rows)
