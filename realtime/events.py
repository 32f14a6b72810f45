"""send_event(): the one way anything reaches a socket, and the local fan-out hub.

A stream event goes journal.append → (the journal publishes it once) → every
server process holding a socket on that stream → Hub.deliver → each local
socket. The frame is encoded, and its WebSocket frame bytes built, once per
codec per process (realtime.wsframe), whatever the room's size.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, overload

import msgpack
from django.conf import settings

from realtime import runtime
from realtime.journal import Appended, Count
from realtime.schema import EVENTS, DurableEvent, EphemeralEvent, EventType, check, encode
from realtime.wsframe import Outgoing

log = logging.getLogger(__name__)


@overload
async def send_event(stream: str, event: DurableEvent, data: dict[str, Any], *,
                     meta: dict[str, Any] | None = None,
                     idem: tuple[int, str] | None = None,
                     count: Count | None = None) -> Appended: ...
@overload
async def send_event(stream: str, event: EphemeralEvent, data: dict[str, Any]) -> None: ...


async def send_event(
    stream: str, event: EventType, data: dict[str, Any], *,
    meta: dict[str, Any] | None = None, idem: tuple[int, str] | None = None,
    count: Count | None = None,
) -> Appended | None:
    """Send an event on `stream`: the one way anything reaches a socket.

    A durable type is appended to the journal, which assigns its seq, stores it
    and fans it out once; the entry is returned. `idem` (author id, client_id)
    makes it idempotent: a repeat returns the original's seq and `meta` and
    stores and sends nothing. `count` changes the stream's tallies with the
    append (unread badges; realtime.journal.Count). An ephemeral type (typing) is fanned out with no
    seq. Presence, whose audience is computed per process, goes through
    `send_presence`.
    """
    if settings.CHECK_EVENT_SCHEMAS:
        check(stream, event, data)
    rt = await runtime.get()
    if not event.durable:
        await rt.bus.publish(stream, encode(stream, event, data))
        return None
    return await rt.journal.append(stream, event.name, data, meta or {}, idem, count)


async def send_views(stream: str, event: DurableEvent, data: dict[str, Any], *,
                     restricted: str, detail: DurableEvent,
                     detail_data: dict[str, Any]) -> tuple[Appended, Appended]:
    """One event seen two ways: `data` on `stream` for every reader, and the fields
    only some may see on `restricted`, a companion stream of a kind whose read
    rule admits just them (moderators of a round table, say). The detail carries
    `of`, the seq of the public event, so its readers join the two views. Each is
    an ordinary durable event on its own stream: history, resume and live
    delivery give each reader exactly the views they may read, with no rule per
    reader at fan-out. The public event goes first; if the process dies between
    the two appends, the public view stands alone (the detail is lost, never
    shown to the wrong reader)."""
    shown = await send_event(stream, event, data)
    hidden = await send_event(restricted, detail, {**detail_data, "of": shown.seq})
    return shown, hidden


async def send_presence(event: EphemeralEvent, data: dict[str, Any], *, user: int,
                        rooms: list[int]) -> None:
    """Tell everyone who follows `user`'s presence: sockets sharing one of `rooms`
    with them, and sockets that asked to watch them (decided by each process's hub)."""
    if settings.CHECK_EVENT_SCHEMAS:
        check("presence", event, data)
    rt = await runtime.get()
    await rt.bus.publish_presence(
        {"user": user, "rooms": rooms, "frame": encode("presence", event, data)})


def announce(kind: str, **payload: Any) -> None:
    """Tell every server process about an account change (sync, any process)."""
    from realtime import control

    control.announce({"kind": kind, **payload})


class Socket(Protocol):
    """What the hub needs from a connection (consumers.socket.ColloquySocket)."""

    user_id: int
    token_id: int | None  # the API token the socket authenticated with, if any
    binary: bool
    streams: set[str]  # the streams it holds now

    def push(self, stream: str, seq: int | None, item: Outgoing) -> None: ...
    def push_many(self, stream: str, items: list[tuple[int | None, Outgoing]]) -> None: ...
    def access_granted(self, stream: str, from_seq: int) -> None: ...
    def access_revoked(self, stream: str) -> None: ...
    def close_soon(self, code: int, reason: str) -> None: ...
    def resync(self) -> None: ...


class _Frame:
    """One event frame, in each codec it is needed in (msgpack built on demand)."""

    __slots__ = ("frame", "packed", "seq", "text")

    def __init__(self, seq: int | None, frame: str) -> None:
        self.seq = seq
        self.frame = frame
        self.text = Outgoing(frame)
        self.packed: Outgoing | None = None

    def item(self, binary: bool) -> Outgoing:
        if not binary:
            return self.text
        packed = self.packed
        if packed is None:
            packed = self.packed = Outgoing(
                msgpack.packb(json.loads(self.frame), use_bin_type=True))
        return packed


class _FanOut:
    """Frames of one stream on their way to a fixed set of local sockets.

    Resumable part-way. While it waits its turn, later frames for the same
    sockets join it (Hub._fan_out), so a backlog goes out as one write per
    socket rather than one per frame: the fan-out catches up faster the
    further behind it is.
    """

    __slots__ = ("frames", "pos", "stream", "targets", "then")

    def __init__(self, targets: tuple[Socket, ...], stream: str, frame: _Frame,
                 then: Callable[[tuple[Socket, ...], str], None] | None) -> None:
        self.targets = targets
        self.stream = stream
        self.frames = [frame]
        self.pos = 0
        self.then = then

    def run(self, budget: int) -> int:
        """Deliver to up to `budget` more sockets; returns the budget left."""
        targets, stream, frames = self.targets, self.stream, self.frames
        single = frames[0] if len(frames) == 1 else None
        # A socket may have left the stream since this frame was queued (a later
        # room.removed ran first): it gets nothing more from that room. Presence
        # frames go to sockets by interest, not by a stream they hold.
        must_hold = stream != "presence"
        end = min(len(targets), self.pos + budget)
        for sock in targets[self.pos:end]:
            try:
                if must_hold and stream not in sock.streams:
                    continue
                binary = sock.binary
                if single is not None:
                    sock.push(stream, single.seq, single.item(binary))
                else:
                    sock.push_many(stream, [(f.seq, f.item(binary)) for f in frames])
            except Exception:  # one broken socket must not cost the others this frame
                log.exception("delivery to one socket failed on %s", stream)
        budget -= end - self.pos
        self.pos = end
        return budget

    @property
    def done(self) -> bool:
        return self.pos >= len(self.targets)


# How many queued fan-outs of other streams a frame may look past for its own
# stream's: enough for the one or two small ones an op adds beside its main event.
MERGE_LOOKBACK = 8


def _changes_access(frame: str) -> bool:
    """Whether a user-stream frame grants or revokes a stream (room.added, …)."""
    kind = EVENTS.get(json.loads(frame)["type"])
    return kind is not None and (kind.grants is not None or kind.revokes is not None)


class Hub:
    """This process's sockets by stream and by user; fans frames out locally.

    Frames of a stream go out strictly in arrival order, and no frame passes an
    access change (one FIFO of fan-outs, where a frame may join its stream's
    pending fan-out: _fan_out). At most `slice_sockets` deliveries per turn of
    the event loop: a frame into a room of thousands then never holds up acks
    and requests for its whole fan-out.
    """

    def __init__(self, slice_sockets: int = 64, merge_frames: int = 64) -> None:
        self.slice_sockets = slice_sockets
        self.merge_frames = merge_frames
        # Per stream, its sockets as one tuple, kept while membership is unchanged:
        # consecutive frames of a stream share it, which is how they are merged.
        self._targets: dict[str, tuple[Socket, ...]] = {}
        self._jobs: deque[_FanOut] = deque()
        self._draining = False
        self.streams: dict[str, set[Socket]] = {}
        self.users: dict[int, set[Socket]] = {}
        self.watchers: dict[int, set[Socket]] = {}  # user → sockets that presence.subscribe'd
        self.watching: dict[Socket, set[int]] = {}
        self.on_first: Any = None  # bus callback: a stream gained its first local socket
        self.on_last: Any = None  # bus callback: a stream lost its last local socket

    # --- membership of the local map ----------------------------------------

    def attach(self, sock: Socket) -> None:
        self.users.setdefault(sock.user_id, set()).add(sock)

    def detach(self, sock: Socket, streams: set[str]) -> None:
        for stream in list(streams):
            self.unsubscribe(sock, stream)
        self.watch(sock, set())
        mine = self.users.get(sock.user_id)
        if mine is not None:
            mine.discard(sock)
            if not mine:
                del self.users[sock.user_id]

    def subscribe(self, sock: Socket, stream: str) -> None:
        socks = self.streams.get(stream)
        if socks is None:
            socks = self.streams[stream] = set()
            if self.on_first:
                self.on_first(stream)
        socks.add(sock)
        self._targets.pop(stream, None)

    def unsubscribe(self, sock: Socket, stream: str) -> None:
        socks = self.streams.get(stream)
        if socks is None:
            return
        socks.discard(sock)
        self._targets.pop(stream, None)
        if not socks:
            del self.streams[stream]
            if self.on_last:
                self.on_last(stream)

    def watch(self, sock: Socket, users: set[int]) -> None:
        """Replace the set of users whose presence this socket asked to follow."""
        for user in self.watching.pop(sock, set()) - users:
            watchers = self.watchers.get(user)
            if watchers is not None:
                watchers.discard(sock)
                if not watchers:
                    del self.watchers[user]
        if users:
            self.watching[sock] = users
            for user in users:
                self.watchers.setdefault(user, set()).add(sock)

    # --- delivery -------------------------------------------------------------

    def deliver(self, stream: str, seq: int | None, frame: str) -> None:
        """Called by the bus for every frame published on a stream we hold; `seq`
        comes in the bus's envelope (None: ephemeral)."""
        socks = self.streams.get(stream)
        if not socks:
            return
        targets = self._targets.get(stream)
        if targets is None:
            targets = self._targets[stream] = tuple(socks)
        if seq is None:
            # Ephemeral (typing): not echoed to the author's own sockets.
            author = json.loads(frame).get("data", {}).get("user", {}).get("id")
            targets = tuple(s for s in targets if s.user_id != author)
        effects = None
        if stream.startswith("user:") and seq is not None and _changes_access(frame):
            effects = self._user_stream_effects
        self._fan_out(targets, stream, seq, frame, effects)

    def presence(self, message: dict[str, Any]) -> None:
        """A user's presence changed: tell local sockets sharing a room, and watchers."""
        user = int(message["user"])
        targets: set[Socket] = set(self.watchers.get(user, ()))
        for room in message.get("rooms", ()):
            targets.update(self.streams.get(f"room:{room}", ()))
        targets = {s for s in targets if s.user_id != user}
        if targets:
            self._fan_out(tuple(targets), "presence", None, message["frame"])

    def _fan_out(self, targets: tuple[Socket, ...], stream: str, seq: int | None, frame: str,
                 then: Callable[[tuple[Socket, ...], str], None] | None = None) -> None:
        jobs = self._jobs
        if jobs and then is None:
            # The stream's newest fan-out, if it has not started and goes to the same
            # sockets: the frame joins it, so a busy stream is one write per socket.
            # It may pass fan-outs of other streams (a question's question.mine
            # between two question.created) but never an access change: those, with
            # an after-step, always go alone and are never passed.
            for k, job in enumerate(reversed(jobs)):
                if job.stream == stream:
                    if (job.targets is targets and job.pos == 0 and job.then is None
                            and len(job.frames) < self.merge_frames):
                        job.frames.append(_Frame(seq, frame))
                        return
                    break
                if job.then is not None or k >= MERGE_LOOKBACK:
                    break
        jobs.append(_FanOut(targets, stream, _Frame(seq, frame), then))
        if not self._draining:
            self._drain()

    def _drain(self) -> None:
        self._draining = True
        jobs, budget = self._jobs, self.slice_sockets
        try:
            while jobs and budget > 0:
                job = jobs[0]
                budget = job.run(budget)
                if not job.done:
                    break
                jobs.popleft()
                if job.then is not None:
                    try:
                        job.then(job.targets, job.frames[0].frame)
                    except Exception:
                        log.exception("after-delivery step failed on %s", job.stream)
        finally:
            # Whatever happened, the FIFO keeps moving: a stuck flag would stop
            # every fan-out of this process.
            if jobs:
                asyncio.get_running_loop().call_soon(self._drain)  # the rest next turn
            else:
                self._draining = False

    def _user_stream_effects(self, socks: tuple[Socket, ...], frame: str) -> None:
        # Access changes re-aim the user's sockets at once, on every process.
        event = json.loads(frame)
        kind = EVENTS[event["type"]]
        data = event["data"]
        for sock in socks:
            if kind.grants is not None:
                sock.access_granted(*kind.grants(data))
            elif kind.revokes is not None:
                sock.access_revoked(kind.revokes(data))

    def control(self, message: dict[str, Any]) -> None:
        """Called by the bus for account changes announced by any process."""
        kind = message.get("kind")
        if kind == "revoke_stream":  # access ended outside the actions (an ORM delete)
            for sock in tuple(self.users.get(int(message["user"]), ())):
                sock.access_revoked(str(message["stream"]))
            return
        if kind not in ("close_user", "close_token"):
            return
        for sock in tuple(self.users.get(int(message["user"]), ())):
            if kind == "close_token" and sock.token_id != message.get("token"):
                continue
            sock.close_soon(int(message["code"]), str(message.get("reason", "")))

    def resync_all(self) -> None:
        """The bus reconnected: frames may have been missed; each socket catches up."""
        for socks in tuple(self.users.values()):
            for sock in tuple(socks):
                sock.resync()
