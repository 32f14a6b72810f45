"""The persister's writer for stream events (history and resume past the window)."""

from __future__ import annotations

from realtime.journal import PendingEntry, frame_type
from realtime.models import StreamEvent


def persist(entries: list[PendingEntry]) -> None:
    """One INSERT … ON CONFLICT DO NOTHING for the whole batch."""
    StreamEvent.objects.bulk_create(
        [StreamEvent(stream=e.stream, seq=e.seq, type=frame_type(e.frame), frame=e.frame)
         for e in entries],
        ignore_conflicts=True,
        batch_size=len(entries) or None,
    )
