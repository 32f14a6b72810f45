"""The journal: durable append with a per-stream seq, replay window, persister feed.

`append` is the only way an event enters a stream. It stores the event durably,
assigns the stream's next seq atomically, and publishes it for fan-out in that
same step, so publish order is seq order and nothing is fanned out that is not
stored. Two backends share this interface:

- `journal_redis.RedisJournal` (services): one Lua script does dedupe, INCR,
  XADD to the stream's window, XADD to the persister's stream, PUBLISH.
- `journal_local.LocalJournal` (embedded): a SQLite file written by one thread
  with group commit; publishes to the in-process bus in commit order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Appended:
    """What `append` returns: the event's seq and frame, or the original on a retry."""

    stream: str
    seq: int
    meta: dict[str, Any]  # the id/ts the caller put in, or the original's on a duplicate
    created: bool  # False: the idempotency key was seen before; nothing was stored


@dataclass(frozen=True)
class PendingEntry:
    """A journal entry waiting for the persister."""

    entry_id: str  # backend's own id (Redis stream id or SQLite rowid)
    stream: str
    seq: int
    frame: str


@dataclass(frozen=True)
class Count:
    """How an append changes its stream's tallies (named sets of its events, for
    unread badges): the new event joins the tallies named in `add`; the earlier
    events `drop` (by seq) leave the tallies named in `drop_from` (a deleted
    message, a notification read). Done in the same atomic step that gives the
    event its seq, so a count read with the stream's head is never ahead of or
    behind the events up to that head."""

    add: tuple[str, ...] = ()
    drop: tuple[int, ...] = ()
    drop_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class TallyQuery:
    stream: str
    after: int  # count the tallied events with a seq above this (a read marker)
    names: tuple[str, ...]
    last_of: str  # the tally whose newest seq is wanted too


@dataclass(frozen=True)
class Tallied:
    """One TallyQuery answered, in one snapshot of the stream."""

    head: int  # the stream's last seq when counted
    counts: dict[str, int]
    last: int  # newest seq in `last_of`, 0 when it is empty


class Journal(Protocol):
    async def append(
        self, stream: str, type_: str, data: dict[str, Any], meta: dict[str, Any],
        idem: tuple[int, str] | None = None, count: Count | None = None,
    ) -> Appended: ...

    async def tallies(self, queries: list[TallyQuery]) -> list[Tallied]:
        """O(log n) per name and stream, one round trip for any number of streams."""
        ...

    async def frames(self, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The frames of these (stream, seq) still in the replay windows."""
        ...

    async def window(
        self, stream: str, *, after: int | None = None, before: int | None = None,
        limit: int,
    ) -> list[tuple[int, str]]: ...

    async def heads(self, streams: list[str]) -> dict[str, int]: ...

    async def lag(self) -> tuple[int, float]: ...


def event_frame(stream: str, seq: int, type_: str, data: dict[str, Any]) -> str:
    """A whole event frame, encoded as the journal encodes it (restated events)."""
    head, tail = frame_parts(stream, type_, data)
    return f"{head}{seq}{tail}"


def frame_parts(stream: str, type_: str, data: dict[str, Any]) -> tuple[str, str]:
    """The JSON event frame split around its seq, which only the journal knows.

    The frame is built once here and stored, published and replayed verbatim:
    JSON sockets get these exact bytes and nothing is re-encoded per member.
    """
    head = '{"op":"event","stream":' + json.dumps(stream) + ',"seq":'
    tail = (
        ',"type":' + json.dumps(type_) + ',"data":'
        + json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "}"
    )
    return head, tail
