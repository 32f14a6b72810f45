"""The `room:<id>` stream kind: read by the room's members."""

from __future__ import annotations

from realtime.access import StreamKind, register
from rooms.restate import restate
from rooms.selectors import room_ids_for


def _held_by(user_id: int) -> list[str]:
    return [f"room:{room}" for room in room_ids_for(user_id)]


ROOM = register(StreamKind("room", held_by=_held_by, restate=restate))
