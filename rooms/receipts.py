"""Read receipts: moved read markers of small rooms, gathered per process into
one receipt.updated per room per RECEIPT_COALESCE_MS (realtime.gather).

A receipt event is a hint for what `receipts` answers from the read markers
themselves: a process that dies while gathering loses its pending hint, never
a marker (the markers are in the database before anything is gathered).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from realtime.events import send_event
from realtime.gather import Gathered
from rooms.access import ROOM
from rooms.events import RECEIPT_UPDATED


async def _announce(room_id: int, reads: dict[int, dict[str, Any]]) -> None:
    await send_event(ROOM.stream(room_id), RECEIPT_UPDATED, {
        "room": room_id, "reads": [reads[uid] for uid in sorted(reads)]})


_receipts = Gathered(lambda: settings.RECEIPT_COALESCE_MS / 1000, _announce)


def gather(room_id: int, read: dict[str, Any]) -> None:
    """Announce this read with the room's others of the next RECEIPT_COALESCE_MS
    (a user's latest read wins)."""
    _receipts.add(room_id, read["user"]["id"], read)
