"""Unread counts kept current from events, exactly (docs/protocol.md, "Counts").

The server answers counts as a snapshot: a read marker, the counts above it,
and `head`, the room's seq they were counted at (`rooms.list`, `counts`, and
every `read.updated`). The events after the head change them: a message by
someone else above the marker adds one, its `message.deleted` takes it away.
Snapshots arrive by two routes (a reply, an event on the user stream) in any
order, so each is kept only if its (marker, head) is not older than the one
held, and the room's counting events above the marker are kept, so that a
snapshot counted at an older head is completed by them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Change:
    message: int  # the message's seq
    sign: int  # +1 sent, -1 deleted
    mentions_me: bool


@dataclass
class RoomCounts:
    me: int
    marker: int = 0
    head: int = -1  # no snapshot yet
    base_unread: int = 0
    base_mentions: int = 0
    changes: dict[int, _Change] = field(default_factory=dict)  # by event seq

    def snapshot(self, marker: int, unread: int, mentions: int, head: int) -> None:
        if (marker, head) < (self.marker, self.head):
            return  # older than what is held
        self.marker, self.head = marker, head
        self.base_unread, self.base_mentions = unread, mentions
        # Nothing at or below the marker can count again: markers only move on.
        self.changes = {s: c for s, c in self.changes.items() if c.message > marker}

    def event(self, seq: int, type_: str, data: dict[str, Any]) -> None:
        if type_ == "message.created":
            self._change(seq, seq, 1, data["author"]["id"], data)
        elif type_ == "message.deleted":
            self._change(seq, data["seq"], -1, data["author"], data)

    def _change(self, seq: int, message: int, sign: int, author: int,
                data: dict[str, Any]) -> None:
        if data.get("thread") or author == self.me or message <= self.marker:
            return  # not counted: a thread reply, my own, or read already
        named = self.me in data.get("mentions", ()) or bool(data.get("mentions_room"))
        self.changes[seq] = _Change(message, sign, named)

    def _after_head(self) -> list[_Change]:
        return [c for s, c in self.changes.items() if s > self.head]

    @property
    def unread(self) -> int:
        return self.base_unread + sum(c.sign for c in self._after_head())

    @property
    def mentions(self) -> int:
        return self.base_mentions + sum(c.sign for c in self._after_head() if c.mentions_me)


@dataclass
class Counts:
    """Every room's counts for the employee `me`."""

    me: int
    rooms: dict[int, RoomCounts] = field(default_factory=dict)

    def room(self, room_id: int) -> RoomCounts:
        return self.rooms.setdefault(room_id, RoomCounts(self.me))

    def load(self, rooms: list[dict[str, Any]]) -> None:
        """From `counts` (or `rooms.list`, whose `last_seq` is the head)."""
        listed = set()
        for r in rooms:
            listed.add(r["id"])
            self.room(r["id"]).snapshot(r["read_seq"], r["unread"], r["mentions"],
                                        r["head"] if "head" in r else r["last_seq"])
        for gone in set(self.rooms) - listed:
            del self.rooms[gone]

    def apply(self, frame: dict[str, Any]) -> None:
        """Feed every event frame; those that change no count are ignored."""
        stream, type_, data = frame["stream"], frame["type"], frame["data"]
        if type_ == "read.updated":
            self.room(data["room"]).snapshot(data["seq"], data["unread"], data["mentions"],
                                             data["head"])
        elif type_ == "room.removed":  # I left, or was removed
            self.rooms.pop(data["room"]["id"], None)
        elif type_ == "room.deleted":
            self.rooms.pop(data["room"], None)
        elif stream.startswith("room:") and int(stream[5:]) in self.rooms:
            self.room(int(stream[5:])).event(frame["seq"], type_, data)

    def totals(self) -> dict[str, int]:
        return {"unread": sum(r.unread for r in self.rooms.values()),
                "mentions": sum(r.mentions for r in self.rooms.values())}

    def view(self) -> dict[int, tuple[int, int]]:
        """(unread, mentions) of each room."""
        return {rid: (r.unread, r.mentions) for rid, r in sorted(self.rooms.items())}
