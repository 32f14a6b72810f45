"""Typed views of the server's event frames (docs/protocol.md, "Events").

A frame stays a plain dict on the wire and in `Client.events`; these classes are
for code that would rather write `event.room` and `message.body` than index
dicts. `Event.of(frame)` never fails on a type it does not know: a newer server
may send types this client has not heard of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    name: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> Person:
        return cls(int(data["id"]), str(data["username"]), str(data.get("name") or ""))


@dataclass(frozen=True)
class Message:
    """A message as message.created and history carry it (as it is now)."""

    id: str
    room: int
    seq: int | None
    author: Person
    body: str
    ts: int
    client_id: str | None = None
    thread: str | None = None
    mentions: tuple[int, ...] = ()
    version: int = 1
    edited_at: int | None = None
    deleted: bool = False

    @classmethod
    def of(cls, data: dict[str, Any], seq: int | None = None) -> Message:
        return cls(
            id=str(data["id"]), room=int(data["room"]), seq=seq,
            author=Person.of(data["author"]), body=str(data.get("body", "")),
            ts=int(data.get("ts", 0)), client_id=data.get("client_id"),
            thread=data.get("thread"), mentions=tuple(data.get("mentions") or ()),
            version=int(data.get("version") or 1), edited_at=data.get("edited_at"),
            deleted=bool(data.get("deleted")))


@dataclass(frozen=True)
class Event:
    """One event frame: its stream, type, seq (None for typing and presence) and data."""

    stream: str
    type: str
    seq: int | None
    data: dict[str, Any] = field(repr=False)

    @classmethod
    def of(cls, frame: dict[str, Any]) -> Event:
        return cls(str(frame.get("stream", "")), str(frame.get("type", "")),
                   frame.get("seq"), dict(frame.get("data") or {}))

    @property
    def room(self) -> int | None:
        """The room the event is about, if any (its stream, or `data.room`)."""
        if self.stream.startswith("room:"):
            return int(self.stream[5:])
        room = self.data.get("room")
        if isinstance(room, dict):
            return int(room["id"])
        return int(room) if isinstance(room, int) else None

    @property
    def message(self) -> Message | None:
        """The message of a message.created, else None."""
        if self.type != "message.created":
            return None
        return Message.of(self.data, self.seq)
