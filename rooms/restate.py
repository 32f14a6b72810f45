"""Stored room events shown as their messages are now (history and resume).

Events are stored as they were sent, but a reader who pages back or resumes
must see each message as it is now: its latest body, its reactions (and which
are theirs), or a tombstone once it is deleted, so no deleted body leaves the
server again. Live events need none of this: they are the change itself.
"""

from __future__ import annotations

import json
from typing import Any

from realtime.access import Reader
from realtime.db import run_db
from realtime.journal import event_frame
from rooms.events import MESSAGE_CREATED, MESSAGE_UPDATED
from rooms.selectors import Now, ms, now_of

_SHOWN = (MESSAGE_CREATED.name, MESSAGE_UPDATED.name)


def _tombstone(data: dict[str, Any]) -> dict[str, Any]:
    """A message event's data once its message is deleted: the body gone."""
    return {**data, "body": "", "deleted": True}


def message_now(data: dict[str, Any], now: Now) -> dict[str, Any]:
    """The data of a message.created event for the message as it is now (`data`
    itself when nothing changed)."""
    mid = data["id"]
    state = now.states.get(mid)
    if state is not None and state.deleted_at is not None:
        return _tombstone(data)
    changed: dict[str, Any] = {}
    if state is not None and state.version > 1:
        changed.update(body=state.body, version=state.version, edited_at=ms(state.edited_at))
    chips = [{"emoji": emoji, "count": count, "mine": (mid, emoji) in now.mine,
              "version": version}
             for emoji, (count, version) in now.counts.get(mid, {}).items() if count > 0]
    if chips:
        changed["reactions"] = chips
    summary = now.threads.get(mid)
    if summary is not None:
        changed["thread_summary"] = summary
    if mid in now.following:
        changed["following"] = True
    if mid in now.acks:
        changed["ack"] = now.acks[mid]
    return {**data, **changed} if changed else data


async def restate(reader: Reader, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The room kind's `restate` (realtime.access.StreamKind)."""
    return await restate_for(reader.principal.id, rows)


def _announced(sent: list[dict[str, Any]]) -> list[str]:
    return sorted({d["id"] for d in sent if d.get("requires_ack")})


async def messages_now(reader_id: int, sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data of these message.created events (of any rooms), each as it is now;
    one database read for all of them."""
    if not sent:
        return []
    now = await run_db(now_of, sorted({d["id"] for d in sent}), reader_id, _announced(sent))
    return [message_now(d, now) for d in sent]


async def restate_for(reader_id: int, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """`rows` (seq, frame) with every message event showing its message as it is now."""
    events: dict[int, dict[str, Any]] = {}
    for seq, frame in rows:
        if '"type":"message.' in frame:  # a cheap filter; the parse below decides
            event = json.loads(frame)
            if event["type"] in _SHOWN:
                events[seq] = event
    if not events:
        return rows
    now = await run_db(now_of, sorted({e["data"]["id"] for e in events.values()}), reader_id,
                       _announced([e["data"] for e in events.values()]))
    out = []
    for seq, frame in rows:
        event = events.get(seq)
        if event is not None:
            data = event["data"]
            if event["type"] == MESSAGE_CREATED.name:
                event["data"] = message_now(data, now)
            else:
                state = now.states.get(data["id"])
                if state is not None and state.deleted_at is not None:
                    event["data"] = _tombstone(data)
            if event["data"] is not data:
                frame = event_frame(event["stream"], seq, event["type"], event["data"])
        out.append((seq, frame))
    return out
