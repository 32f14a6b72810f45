"""Reading a stream: the journal's recent window merged with the database.

An acked event is in the window until it is persisted (the persister trims
only committed entries), and in the database after, so the union of the two
is every event, readable the moment it is acked.
"""

from __future__ import annotations

from realtime import runtime
from realtime.access import Reader, kind_of
from realtime.db import run_db


def _db_read(stream: str, after: int | None, before: int | None,
             limit: int) -> list[tuple[int, str]]:
    from realtime.models import StreamEvent

    rows = StreamEvent.objects.filter(stream=stream)
    if after is not None:
        rows = rows.filter(seq__gt=after).order_by("seq")
    else:
        if before is not None:
            rows = rows.filter(seq__lt=before)
        rows = rows.order_by("-seq")
    return list(rows.values_list("seq", "frame")[:limit])


async def read(stream: str, *, after: int | None = None, before: int | None = None,
               limit: int, reader: Reader | None = None) -> list[tuple[int, str]]:
    """Up to `limit` (seq, frame) pairs in ascending seq order.

    With `after`: the oldest events after that seq. Otherwise the newest events
    before `before` (or before the head). With `reader`: shown to them as things
    are now (the stream kind's `restate`), else as stored.
    """
    rows = await _read(stream, after=after, before=before, limit=limit)
    return await _restated(stream, rows, reader)


def _db_read_seqs(stream: str, seqs: list[int]) -> list[tuple[int, str]]:
    from realtime.models import StreamEvent

    return list(StreamEvent.objects.filter(stream=stream, seq__in=seqs)
                .values_list("seq", "frame"))


async def read_seqs(stream: str, seqs: list[int], *,
                    reader: Reader | None = None) -> list[tuple[int, str]]:
    """The events with these seqs (a thread's replies, say), in ascending order,
    shown to `reader` as `read` shows them."""
    if not seqs:
        return []
    found = dict(await run_db(_db_read_seqs, stream, seqs))
    missing = sorted(set(seqs) - found.keys())
    if missing:
        # Not persisted yet, so among the newest: one window read covers them.
        rt = await runtime.get()
        window = await rt.journal.window(stream, after=missing[0] - 1,
                                         limit=missing[-1] - missing[0] + 1)
        wanted = set(missing)
        found.update((seq, frame) for seq, frame in window if seq in wanted)
    rows = [(seq, found[seq]) for seq in sorted(found)]
    return await _restated(stream, rows, reader)


async def _restated(stream: str, rows: list[tuple[int, str]],
                    reader: Reader | None) -> list[tuple[int, str]]:
    kind = kind_of(stream) if reader is not None else None
    if kind is not None and kind.restate is not None and rows:
        assert reader is not None
        rows = await kind.restate(reader, rows)
    return rows


async def _read(stream: str, *, after: int | None, before: int | None,
                limit: int) -> list[tuple[int, str]]:
    rt = await runtime.get()
    window = await rt.journal.window(stream, after=after, before=before, limit=limit)
    # The window is contiguous up to the head; when it already starts where the
    # caller asked (or holds all it asked for), the database has nothing to add.
    if window:
        if after is not None and window[0][0] == after + 1:
            return window
        if after is None and (len(window) == limit or window[0][0] == 1):
            return window
    rows = await run_db(_db_read, stream, after, before, limit)
    merged = dict(rows)
    merged.update(window)
    seqs = sorted(merged)
    seqs = seqs[:limit] if after is not None else seqs[-limit:]
    return [(s, merged[s]) for s in seqs]
