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


class Journal(Protocol):
    async def append(
        self, stream: str, type_: str, data: dict[str, Any], meta: dict[str, Any],
        idem: tuple[int, str] | None = None,
    ) -> Appended: ...

    async def window(
        self, stream: str, *, after: int | None = None, before: int | None = None,
        limit: int,
    ) -> list[tuple[int, str]]: ...

    async def heads(self, streams: list[str]) -> dict[str, int]: ...

    async def lag(self) -> tuple[int, float]: ...


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
