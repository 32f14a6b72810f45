"""The persister's writer for stream events (history and resume past the window)."""

from __future__ import annotations

from collections.abc import Iterator

from realtime.models import StreamEvent
from realtime.persister import Event, Table


def rows(events: list[Event]) -> Iterator[tuple[object, ...]]:
    for e in events:
        yield e.entry.stream, e.entry.seq, e.type, e.entry.frame


# persisted_at (auto_now_add) is the commit's now().
TABLE = Table(StreamEvent, ("stream", "seq", "type", "frame"), rows)
