"""notification.created on a user's stream, shown as its message is now (history
and resume): the preview of a message deleted since is gone, of one edited since
is its latest text, as notifications.list shows them."""

from __future__ import annotations

import json

from notifications.events import NOTIFICATION_CREATED
from notifications.selectors import previews_now, shown
from realtime.access import Reader
from realtime.db import run_db
from realtime.journal import event_frame


async def restate(reader: Reader, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    found = {seq: json.loads(frame) for seq, frame in rows
             if '"type":"notification.created"' in frame}
    found = {seq: e for seq, e in found.items() if e["type"] == NOTIFICATION_CREATED.name
             and e["data"]["message"]}
    if not found:
        return rows
    now = await run_db(previews_now, {e["data"]["message"] for e in found.values()})
    out = []
    for seq, frame in rows:
        event = found.get(seq)
        if event is not None and event["data"]["message"] in now:
            data = event["data"]
            data["preview"] = shown(data["preview"], data["message"], now)
            frame = event_frame(event["stream"], seq, event["type"], data)
        out.append((seq, frame))
    return out
