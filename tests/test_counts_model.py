"""Counts and notification lists are never wrong: random sequences, checked after each step.

One employee has two devices, one on each server process (one process in the
embedded profile). Two colleagues and the employee send, reply, mention, react,
edit, delete, read, mute, leave and rejoin, and the devices drop and resume
their sockets. After every step each device's counts, kept from events by the
client library (colloquy_client.counts), and its notification list, kept from
`notification.created` / `notification.read`, must equal what a fresh
connection fetches; no notification may reach a device twice or not at all.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colloquy_client.counts import Counts
from tests.stack import LoopThread, Recorder, Stack, Users, send, until

EXAMPLES = int(os.environ.get("COLLOQUY_COUNTS_EXAMPLES", "6"))
STEPS = st.lists(st.tuples(st.sampled_from(
    ["send", "send", "reply", "react", "edit", "delete", "read", "read", "mute", "leave",
     "reconnect", "read_notifications"]), st.integers(0, 10_000)), min_size=4, max_size=14)
MUTE_LEVELS = ["mentions", "nothing", "all"]


class Device(Recorder):
    """A device of the employee: counts and a notification list kept from events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tally: Counts | None = None
        self.notes: dict[int, bool] = {}  # id -> read
        self.delivered: dict[int, int] = {}  # notification id -> events that carried it
        self.reload = False

    def _on_frame(self, frame: dict[str, Any]) -> None:
        seq = frame.get("seq")
        fresh = (frame.get("op") == "event" and seq is not None
                 and seq > self.last_seq.get(frame["stream"], 0))
        super()._on_frame(frame)
        if fresh and self.tally is not None:
            self._apply(frame)

    def _apply(self, frame: dict[str, Any]) -> None:
        assert self.tally is not None
        self.tally.apply(frame)
        type_, data = frame["type"], frame["data"]
        if type_ == "room.added":
            self.reload = True  # a client asks for the new room's counts
        elif type_ == "notification.created":
            self.delivered[data["id"]] = self.delivered.get(data["id"], 0) + 1
            self.notes.setdefault(data["id"], False)
        elif type_ == "notification.read":
            for nid in self.notes:
                if (data["ids"] is not None and nid in data["ids"]) or (
                        data["up_to"] is not None and nid <= data["up_to"]):
                    self.notes[nid] = True

    async def load(self) -> None:
        """What a client does on connect: counts, then the notification centre."""
        if self.tally is None:
            self.tally = Counts(self.user["id"])
        self.tally.load(await self.counts())
        listed = await self.notifications(limit=100)
        for n in listed["notifications"]:
            self.notes[n["id"]] = n["read"] or self.notes.get(n["id"], False)
        self.reload = False


async def fetch_fresh(stack: Stack, name: str, server: int) -> tuple[
        dict[str, int], dict[int, tuple[int, int]], dict[int, bool]]:
    """(stream heads at hello, counts, notification list) through a new socket."""
    fresh = Recorder(stack.ws_url(server), token=stack.token(name))
    await fresh.connect()
    try:
        assert fresh.hello is not None
        heads = dict(fresh.hello["streams"])
        counts = Counts(fresh.user["id"])
        counts.load(await fresh.counts())
        listed = await fresh.notifications(limit=100)
        return heads, counts.view(), {n["id"]: n["read"] for n in listed["notifications"]}
    finally:
        await fresh.close()


@dataclass
class Sent:
    id: str
    seq: int
    author: str
    room: int
    reply: bool
    deleted: bool = False


@dataclass
class World:
    stack: Stack
    me: str
    others: list[str]
    clients: dict[str, Recorder]
    devices: list[Device]
    rooms: list[int]
    member_of: dict[int, bool]  # me in each room
    sent: list[Sent] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def client_of(self, name: str) -> Recorder:
        return self.devices[0] if name == self.me else self.clients[name]

    def cid(self) -> str:
        return f"c{next(self.ids)}"

    def live(self, room: int | None = None) -> list[Sent]:
        return [m for m in self.sent if not m.deleted and (room is None or m.room == room)]


async def build(stack: Stack, users: Users) -> World:
    me, x, y = users.take(), users.take(), users.take()
    clients = {}
    for name, server in ((x, 1), (y, 0)):
        clients[name] = Recorder(stack.ws_url(server % len(stack.servers)),
                                 token=stack.token(name))
        await clients[name].connect()
    a = await clients[x].request("rooms.create", name="Both", members=[me, y])
    b = await clients[x].request("rooms.create", name="Pair", members=[me])
    devices = []
    for server in (0, 1):
        d = Device(stack.ws_url(server % len(stack.servers)), token=stack.token(me))
        await d.connect()
        await d.load()
        devices.append(d)
    rooms = [a["room"]["id"], b["room"]["id"]]
    return World(stack, me, [x, y], clients, devices, rooms, {r: True for r in rooms})


async def step(w: World, kind: str, n: int) -> None:
    """Run one step; a step that does not apply now (nothing to delete) does nothing."""
    people = [w.me, *w.others]
    author = people[n % 3]
    room = w.rooms[(n // 3) % 2]
    if author == w.me and not w.member_of[room]:
        author = w.others[0]
    if room == w.rooms[1] and author == w.others[1]:
        author = w.others[0]  # the second colleague is not in the pair room
    client = w.client_of(author)
    mention = f" @{w.me}" if n % 4 == 0 else (" @room" if n % 7 == 0 else "")
    if kind == "send":
        ack = await send(client, room, f"m{n}{mention}", w.cid())
        w.sent.append(Sent(ack["id"], ack["seq"], author, room, False))
    elif kind == "reply":
        roots = [m for m in w.live(room) if not m.reply]
        if roots:
            root = roots[n % len(roots)]
            ack = await client.reply(room, root.id, f"r{n}{mention}", w.cid())
            w.sent.append(Sent(ack["id"], ack["seq"], author, room, True))
    elif kind in ("react", "edit", "delete"):
        live = [m for m in w.live() if kind == "react" or m.author in (w.me, *w.others)]
        live = [m for m in live if w.member_of[m.room] or m.author != w.me]
        if not live:
            return
        m = live[n % len(live)]
        if kind == "react":
            reactor = [p for p in people if p != m.author and (
                p != w.me or w.member_of[m.room]) and (
                m.room == w.rooms[0] or p != w.others[1])]
            if reactor:
                await w.client_of(reactor[n % len(reactor)]).react(m.room, m.id, "tada")
        elif kind == "edit":
            await w.client_of(m.author).edit_message(m.room, m.id, f"e{n}{mention}")
        else:
            await w.client_of(m.author).delete_message(m.room, m.id)
            m.deleted = True
    elif kind == "read":
        device = w.devices[n % 2]
        if w.member_of[room]:
            head = device.last_seq.get(f"room:{room}", 0)
            await device.request("read", room=room, seq=head if n % 3 else head // 2)
    elif kind == "mute":
        if w.member_of[room]:
            await w.devices[n % 2].mute_room(room, MUTE_LEVELS[n % 3])
    elif kind == "leave":
        pair = w.rooms[1]
        if w.member_of[pair]:
            await w.devices[n % 2].request("rooms.leave", room=pair)
        else:
            await w.clients[w.others[0]].request("rooms.invite", room=pair, users=[w.me])
        w.member_of[pair] = not w.member_of[pair]
    elif kind == "reconnect":
        old = w.devices[n % 2]
        await old.close()
        again = Device(old.url, token=old.token)
        again.last_seq.update(old.last_seq)
        again.tally, again.notes, again.delivered = old.tally, old.notes, old.delivered
        await again.connect()  # resumes from last_seq: what it missed, once
        await again.request("ping")
        w.devices[n % 2] = again
    elif kind == "read_notifications":
        device = w.devices[n % 2]
        unread = sorted(i for i, read in device.notes.items() if not read)
        if unread:
            if n % 2:
                await device.read_notifications([unread[n % len(unread)]])
            else:
                await device.read_notifications(up_to=unread[-1])


async def check(w: World, after: str) -> None:
    heads, counts, notes = await fetch_fresh(w.stack, w.me, 0)
    for device in w.devices:
        await until(lambda d=device: all(d.last_seq.get(s, 0) >= h for s, h in heads.items()),
                    f"the device to catch up after {after}")
        if device.reload:
            await device.load()
        assert device.tally is not None
        assert device.tally.view() == counts, after
        assert device.notes == notes, after
        assert all(times == 1 for times in device.delivered.values()), after
    # Nothing missed: every notification listed reached each device once, by event
    # or in the list it loaded.
    for device in w.devices:
        assert set(notes) <= set(device.notes), after


async def close(w: World) -> None:
    for c in [*w.clients.values(), *w.devices]:
        await c.close()


def test_counts_and_notification_lists_match_a_fresh_fetch_after_every_step(
        stack: Stack) -> None:
    users = Users(stack, 3 * (EXAMPLES + 2))
    loop = LoopThread()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(STEPS)
    def run(steps: list[tuple[str, int]]) -> None:
        async def play() -> None:
            w = await build(stack, users)
            try:
                await check(w, "the start")
                for i, (kind, n) in enumerate(steps):
                    await step(w, kind, n)
                    await check(w, f"step {i} ({kind} {n})")
            finally:
                await close(w)

        loop.run(play(), timeout=180)

    try:
        run()
    finally:
        loop.stop()
