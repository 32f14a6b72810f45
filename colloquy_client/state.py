"""What a client knows about its employee's rooms, kept current from events.

`LocalState.load(client)` takes `rooms.list` once; `apply(frame)` then follows
every event frame the client receives, so the room list, each room's unread and
mention counts (by the rule in colloquy_client.counts), its last message and its
newest messages stay right without asking again. After a reconnect the client
resumes, and the missed events pass through `apply` like live ones, so nothing
is counted twice or missed. A room that appears (`room.added`) is listed at
once; its name comes with the event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from colloquy_client.counts import Counts
from colloquy_client.events import Message, Person

# Messages kept per room for a view that shows the newest (older ones: `history`).
RECENT = 200


class _Requester(Protocol):
    async def request(self, op: str, timeout: float = 10.0, **fields: Any
                      ) -> dict[str, Any]: ...


@dataclass
class Room:
    id: int
    name: str
    kind: str  # "group" or "direct"
    last_seq: int = 0
    last_message: Message | None = None
    members: dict[int, Person] = field(default_factory=dict)
    recent: deque[Message] = field(default_factory=lambda: deque(maxlen=RECENT))

    def title(self, me: int) -> str:
        """Its name; a direct conversation is named after the other person."""
        if self.kind == "direct":
            others = [p.name or p.username for p in self.members.values() if p.id != me]
            return others[0] if others else "(direct)"
        return self.name


class LocalState:
    def __init__(self, me: int) -> None:
        self.me = me
        self.rooms: dict[int, Room] = {}
        self.counts = Counts(me)

    async def load(self, client: _Requester) -> None:
        """The room list and counts, fresh (at start, or to start again)."""
        listed = (await client.request("rooms.list"))["rooms"]
        fresh: dict[int, Room] = {}
        for r in listed:
            room = self.rooms.get(r["id"]) or Room(r["id"], r["name"], r["kind"])
            room.name, room.kind = r["name"], r["kind"]
            room.last_seq = max(room.last_seq, r["last_seq"])
            if r.get("last_message"):
                room.last_message = Message.of(r["last_message"])
            fresh[room.id] = room
        self.rooms = fresh
        self.counts.load(listed)

    async def load_members(self, client: _Requester, room_id: int) -> None:
        reply = await client.request("rooms.members", room=room_id)
        self.rooms[room_id].members = {m["id"]: Person.of(m) for m in reply["members"]}

    def unread(self, room_id: int) -> int:
        return self.counts.room(room_id).unread if room_id in self.counts.rooms else 0

    def mentions(self, room_id: int) -> int:
        return self.counts.room(room_id).mentions if room_id in self.counts.rooms else 0

    def find(self, name_or_id: str) -> Room | None:
        """A room by its id, its name, or (direct) the other person's username."""
        if name_or_id.isdigit() and int(name_or_id) in self.rooms:
            return self.rooms[int(name_or_id)]
        wanted = name_or_id.lstrip("#@").casefold()
        for room in self.rooms.values():
            if room.name.casefold() == wanted or any(
                    p.username.casefold() == wanted and p.id != self.me
                    for p in room.members.values() if room.kind == "direct"):
                return room
        return None

    def apply(self, frame: dict[str, Any]) -> None:
        """Follow one event frame (any type; those that change nothing are ignored)."""
        if frame.get("op") != "event":
            return
        type_, data, stream = frame["type"], frame.get("data") or {}, frame["stream"]
        if type_ == "room.added":
            info = data["room"]
            room = Room(info["id"], info.get("name", ""), info.get("kind", "group"))
            room.members = {m["id"]: Person.of(m) for m in info.get("members", [])}
            self.rooms.setdefault(room.id, room)
            # Counted from the event on: everything before was before I joined.
            self.counts.room(room.id).snapshot(0, 0, 0, int(data.get("seq", 1)) - 1)
        elif type_ in ("room.removed", "room.deleted"):
            gone = data["room"]["id"] if isinstance(data["room"], dict) else data["room"]
            self.rooms.pop(int(gone), None)
        self.counts.apply(frame)
        if not stream.startswith("room:"):
            return
        room = self.rooms.get(int(stream[5:]))
        if room is None:
            return
        seq = frame.get("seq")
        if seq is not None:
            room.last_seq = max(room.last_seq, seq)
        if type_ == "message.created":
            message = Message.of(data, seq)
            if not message.thread:
                room.recent.append(message)
                room.last_message = message
        elif type_ in ("message.updated", "message.deleted"):
            self._changed(room, data, deleted=type_ == "message.deleted")
        elif type_ == "member.joined":
            room.members[data["user"]["id"]] = Person.of(data["user"])
        elif type_ == "member.left":
            room.members.pop(data["user"]["id"], None)
        elif type_ == "room.created" and data.get("room", {}).get("members"):
            room.members = {m["id"]: Person.of(m) for m in data["room"]["members"]}

    def _changed(self, room: Room, data: dict[str, Any], *, deleted: bool) -> None:
        """An edit or delete of a message we hold: replaced by its newer version."""
        for i, m in enumerate(room.recent):
            if m.id != data.get("id"):
                continue
            version = int(data.get("version") or m.version)
            if version < m.version:
                return
            deleted = deleted or bool(data.get("deleted"))
            changed = Message(m.id, m.room, m.seq, m.author,
                              "" if deleted else str(data.get("body", m.body)), m.ts,
                              m.client_id, m.thread, m.mentions, version,
                              data.get("edited_at", m.edited_at), deleted)
            room.recent[i] = changed
            if room.last_message and room.last_message.id == m.id:
                room.last_message = changed
            return
