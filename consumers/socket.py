"""One employee WebSocket: lifecycle, parse → dispatch, outbound queue, close codes.

A plain ASGI application rather than a channels consumer: channels' dispatch
hops to a thread before every handler to close stale DB connections, and this
socket never touches the ORM, so it does not pay for that (see DESIGN.md).

Ordering rules a client can rely on (docs/protocol.md, "Ordering"):
- Everything the server writes goes through one bounded outbound queue, so
  replies and events leave in the order they were produced.
- Live events are held until the client's first request. If that request is
  `resume`, the missed events come first, then the held ones, with nothing
  repeated; otherwise the held events are released before the reply.
- Within a stream, a socket never receives a seq twice or out of order.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack
from django.conf import settings

from consumers.flow import Wire, attach
from realtime import access, runtime, streams
from realtime.auth import Principal
from realtime.db import run_db
from realtime.protocol import (
    CloseCode,
    CloseConnection,
    Codec,
    ErrorCode,
    ProtocolError,
    choose_codec,
    error,
    ok,
    parse_request,
)
from realtime.ratelimit import TokenBucket
from realtime.wsframe import Outgoing

log = logging.getLogger(__name__)

# Events fetched per journal read while replaying a stream (at most half the
# outbound queue, so one page never overflows it).
REPLAY_PAGE = min(500, max(1, settings.OUTBOUND_QUEUE_FRAMES // 2))


# Attempts at a catch-up replay (room joined, bus reconnected) before giving up
# and leaving it to the client's resume; spaced 0.2 s doubling to 2 s.
CATCH_UP_TRIES = 6


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


def limits() -> dict[str, Any]:
    """The limits announced in hello (docs/protocol.md, "Limits")."""
    return {
        "max_frame_bytes": settings.MAX_FRAME_BYTES,
        "max_body_chars": settings.MAX_BODY_CHARS,
        "rate_per_second": settings.RATE_PER_SECOND,
        "rate_burst": settings.RATE_BURST,
        "outbound_queue_frames": settings.OUTBOUND_QUEUE_FRAMES,
        "history_max_limit": settings.HISTORY_MAX_LIMIT,
        "resume_max_events": settings.RESUME_MAX_EVENTS,
        "max_client_id_chars": settings.MAX_CLIENT_ID_CHARS,
    }


class ColloquySocket:
    def __init__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.principal: Principal = scope["principal"]
        self.user_id = self.principal.id
        self.token_id = self.principal.token_id
        self.connection_id = uuid.uuid4().hex[:16]
        self.state = State.CONNECTING
        self.codec: Codec | None = None
        self.binary = False
        # The member streams this user holds (realtime.access): read at connect,
        # kept true by access events on the user's own stream.
        self.granted: set[str] = set()
        self.streams: set[str] = set()  # what the hub delivers to this socket
        self.sent: dict[str, int] = {}  # stream → last seq written to this socket
        self.held: list[tuple[str, int | None, Outgoing]] | None = []
        self.paused: dict[str, list[tuple[int | None, Outgoing]]] = {}
        # Frame bytes when the wire is direct, else Outgoing for ASGI's send().
        self.out: deque[Any] = deque()
        # Runs only while frames wait (queue non-empty or a close to send): most
        # writes go straight to the transport, and 10,000 idle sockets should not
        # each hold a task.
        self.writer: asyncio.Task[None] | None = None
        self.drained = asyncio.Event()  # set when the queue is at most half full
        self.wire: Wire | None = None
        self.close_code = 1000  # set by close_soon before the writer sends it
        self.bucket = TokenBucket(settings.RATE_PER_SECOND, settings.RATE_BURST)
        self.quota: Any = None  # realtime.quota.EmployeeQuota, the runtime's
        self.last_heard = time.monotonic()
        self.last_active = self.last_heard  # last request other than ping (presence: away)
        self.presence = "online"
        self.away_by_choice = False  # presence.set away sticks until presence.set online
        self.typing_rooms: set[int] = set()  # rooms where a typing event was relayed
        self.tasks: set[asyncio.Task[Any]] = set()
        self.replay_lock = asyncio.Lock()

    # --- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Called once per socket by the ASGI server: handshake, then read until closed."""
        message = await self.receive()
        if message["type"] != "websocket.connect":
            return
        self.codec = choose_codec(self.scope.get("subprotocols") or [])
        if self.codec is None:
            await self.send({"type": "websocket.close", "code": 4000})
            return
        self.binary = self.codec.binary
        rt = await runtime.get()
        self.quota = rt.quota
        accept: dict[str, Any] = {"type": "websocket.accept"}
        if self.scope.get("subprotocols"):
            accept["subprotocol"] = self.codec.subprotocol
        if not await rt.quota.claim(self.user_id, self.connection_id):
            # Accepted only to say why, with a code the client must not retry blindly.
            await self.send(accept)
            await self.send({"type": "websocket.close",
                             "code": int(CloseCode.TOO_MANY_SOCKETS)})
            log.info("socket refused: user %s holds %s sockets", self.user_id,
                     settings.MAX_SOCKETS_PER_EMPLOYEE)
            return
        try:
            await self._open(rt, accept)
        finally:
            await rt.quota.release(self.user_id, self.connection_id)

    async def _open(self, rt: runtime.Runtime, accept: dict[str, Any]) -> None:
        assert self.codec is not None
        self.granted = await run_db(access.held_by, self.user_id)
        await self.send(accept)
        self.state = State.OPEN
        self.wire = attach(self.send)
        # Our own connect line: the servers' access logs would print the query
        # string, where a one-time ticket may travel.
        log.info("socket %s opened by user %s (%s, %s)", self.connection_id, self.user_id,
                 self.principal.method, self.codec.subprotocol)
        hub = rt.hub
        hub.attach(self)
        try:
            self._subscribe(access.USER.stream(self.user_id))
            for stream in self.granted:
                self._subscribe(stream)
            self.sent.update(await rt.journal.heads(sorted(self.streams)))
            self._enqueue(Outgoing(self.codec.encode({
                "op": "hello", "connection": self.connection_id, "user": self.principal.public(),
                # What the client may offer (announcements, say); the server checks anyway.
                "role": self.principal.role,
                "heartbeat_s": settings.HEARTBEAT_SECONDS, "limits": limits(),
                "streams": dict(self.sent),
            })))
            try:
                await rt.presence.connected(self)
                await self._reader()
            finally:
                if self.writer is not None:
                    self.writer.cancel()
        finally:
            self.state = State.CLOSED
            hub.detach(self, self.streams)
            rt.presence.disconnected(self)
            for task in self.tasks:
                task.cancel()

    async def _reader(self) -> None:
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive":
                continue
            self.last_heard = time.monotonic()
            raw = message.get("bytes")
            if raw is None:
                raw = message.get("text", "")
            if self.state is not State.OPEN:
                continue
            try:
                await self._on_frame(raw)
            except CloseConnection as exc:
                self.close_soon(exc.code, exc.reason)

    def _start_writer(self) -> None:
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._writer())

    async def _writer(self) -> None:
        """Drains the outbound queue, then exits; waits while the client's TCP window is full."""
        wire = self.wire
        assert wire is not None
        gate, out = wire.gate, self.out
        half = settings.OUTBOUND_QUEUE_FRAMES // 2
        try:
            while out:
                if not gate.open:
                    await gate.wait_open()
                    continue
                if wire.write_many is not None:
                    # Everything queued leaves in one write: one syscall, not one per frame.
                    batch = list(out)
                    out.clear()
                    try:
                        wire.write_many(batch)
                    except Exception:  # the peer went away; its disconnect follows
                        self.state = State.CLOSED
                        out.clear()
                else:
                    await wire.send_one(out.popleft())
                if len(out) <= half:
                    self.drained.set()
            if self.state is State.CLOSING:
                self.state = State.CLOSED
                try:
                    # A client that stopped reading never drains what is ahead of the close.
                    await asyncio.wait_for(
                        self.send({"type": "websocket.close", "code": self.close_code}),
                        settings.CLOSE_TIMEOUT_SECONDS)
                except TimeoutError:
                    wire.abort()
                except Exception:  # already disconnected: nothing to close
                    log.debug("close of socket %s found it gone", self.connection_id)
        finally:
            self.writer = None

    def close_soon(self, code: int, reason: str = "") -> None:
        """Close with `code` once the writer gets to it; drops what is still queued."""
        if self.state is not State.OPEN:
            return
        log.info("closing socket %s of user %s: %s (%s)", self.connection_id, self.user_id,
                 code, reason)
        self.state = State.CLOSING
        self.close_code = int(code)  # daphne's WebSocket layer rejects int subclasses
        self.out.clear()
        if self.wire is not None:
            self.wire.gate.resumeProducing()
        self.drained.set()
        self._start_writer()

    # --- inbound ---------------------------------------------------------------

    async def _on_frame(self, raw: str | bytes) -> None:
        assert self.codec is not None
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))
        if size > settings.MAX_FRAME_BYTES:
            raise CloseConnection(CloseCode.FRAME_TOO_LARGE,
                                  f"frame of {size} bytes; the limit is {settings.MAX_FRAME_BYTES}")
        ref: Any = None
        first = self.held is not None
        # Every frame takes a token, garbage included, so a flood of junk is a flood.
        allowed = self.bucket.take()
        mine = allowed and self.quota.take(self.user_id)  # all the employee's sockets
        if allowed and not mine:
            self.bucket.strikes += 1
        if not mine and self.bucket.strikes >= settings.FLOOD_STRIKES:
            raise CloseConnection(CloseCode.FLOOD, "kept sending after rate_limited")
        try:
            if not allowed:
                ref = self._ref_of(raw)
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"more than {settings.RATE_PER_SECOND:g} ops per second; slow down",
                )
            if not mine:
                ref = self._ref_of(raw)
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"more than {settings.EMPLOYEE_RATE_PER_SECOND:g} ops per second across"
                    " your connections; slow down")
            request = self.codec.decode(raw)
            op, ref = parse_request(request)
            from consumers.ops import OPS
            from realtime.ops import APP_OPS

            handler = OPS.get(op) or APP_OPS.get(op)
            if handler is None:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"unknown op {op!r}")
            if first and op != "resume":
                self.release_held()
            if op != "ping":
                await self._active()
            result = await handler(self, request)
            self._reply(ok(ref, **result))
        except ProtocolError as exc:
            self._reply(error(ref if ref is not None else exc.ref, exc.code, exc.message))
        except CloseConnection:
            raise
        except Exception:
            log.exception("op failed on socket %s", self.connection_id)
            self._reply(error(ref, ErrorCode.INTERNAL, "the server failed; the op may be retried"))
        finally:
            if first:
                self.release_held()

    async def _active(self) -> None:
        self.last_active = time.monotonic()
        if self.presence == "away" and not self.away_by_choice:
            self.presence = "online"
            await (await runtime.get()).presence.status_changed(self)

    def _ref_of(self, raw: str | bytes) -> Any:
        """The request's ref if the frame is readable, for a rate_limited answer."""
        assert self.codec is not None
        try:
            return parse_request(self.codec.decode(raw))[1]
        except ProtocolError as exc:
            return exc.ref

    def _reply(self, frame: dict[str, Any]) -> None:
        assert self.codec is not None
        self._enqueue(Outgoing(self.codec.encode(frame)))

    # --- outbound --------------------------------------------------------------

    def _enqueue(self, item: Outgoing) -> None:
        if self.state is not State.OPEN:
            return
        out = self.out
        wire = self.wire
        if wire is None or wire.write is None:
            if len(out) >= settings.OUTBOUND_QUEUE_FRAMES:
                self.close_soon(CloseCode.SLOW_CONSUMER, "outbound queue full")
                return
            out.append(item)
            self._start_writer()
            return
        if not out and wire.gate.open:
            try:
                wire.write(item.wire)  # nothing queued ahead of it: write now
            except Exception:  # the peer just went away; its disconnect follows
                self.state = State.CLOSED
            return
        if len(out) >= settings.OUTBOUND_QUEUE_FRAMES:
            self.close_soon(CloseCode.SLOW_CONSUMER, "outbound queue full")
            return
        out.append(item.wire)
        self._start_writer()

    def _emit(self, stream: str, seq: int | None, item: Outgoing) -> None:
        if seq is not None:
            if seq <= self.sent.get(stream, 0):
                return  # already written (replay and live overlap)
            self.sent[stream] = seq
        self._enqueue(item)

    def encode_frame(self, frame: str) -> Outgoing:
        """A stored JSON event frame in this socket's codec."""
        if self.binary:
            return Outgoing(msgpack.packb(json.loads(frame), use_bin_type=True))
        return Outgoing(frame)

    def push(self, stream: str, seq: int | None, item: Outgoing) -> None:
        """Called by the hub for each live frame on a stream this socket holds."""
        wire = self.wire
        if (self.held is None and not self.out and self.state is State.OPEN
                and wire is not None and wire.gate.open and wire.write is not None
                and stream not in self.paused):
            # The common case, inlined (this runs once per member per event):
            # nothing held or queued, so the frame goes to the transport now.
            if seq is not None:
                sent = self.sent
                if seq <= sent.get(stream, 0):
                    return  # already written (replay and live overlap)
                sent[stream] = seq
            try:
                wire.write(item.wire)
            except Exception:  # the peer just went away; its disconnect follows
                self.state = State.CLOSED
            return
        if self.held is not None:
            if len(self.held) >= settings.OUTBOUND_QUEUE_FRAMES:
                self.close_soon(CloseCode.SLOW_CONSUMER, "too many events before first request")
                return
            self.held.append((stream, seq, item))
        elif stream in self.paused:
            waiting = self.paused[stream]
            if len(waiting) >= settings.OUTBOUND_QUEUE_FRAMES:
                self.close_soon(CloseCode.SLOW_CONSUMER, "live events outran a replay")
                return
            waiting.append((seq, item))
        else:
            self._emit(stream, seq, item)

    def push_many(self, stream: str, items: list[tuple[int | None, Outgoing]]) -> None:
        """Several live frames of one stream at once (a backlog): one write for all."""
        wire = self.wire
        if (self.held is None and not self.out and self.state is State.OPEN
                and wire is not None and wire.gate.open and wire.write_many is not None
                and stream not in self.paused):
            sent = self.sent
            last = sent.get(stream, 0)
            frames = []
            for seq, item in items:
                if seq is not None:
                    if seq <= last:
                        continue  # already written (replay and live overlap)
                    last = seq
                frames.append(item.wire)
            if last:
                sent[stream] = last
            try:
                wire.write_many(frames)
            except Exception:  # the peer just went away; its disconnect follows
                self.state = State.CLOSED
            return
        for seq, item in items:
            self.push(stream, seq, item)

    def release_held(self) -> None:
        held, self.held = self.held, None
        for stream, seq, item in held or ():
            self.push(stream, seq, item)

    # --- streams ---------------------------------------------------------------

    def _subscribe(self, stream: str) -> None:
        if stream not in self.streams:
            self.streams.add(stream)
            runtime_hub().subscribe(self, stream)

    def _unsubscribe(self, stream: str) -> None:
        if stream in self.streams:
            self.streams.discard(stream)
            runtime_hub().unsubscribe(self, stream)
        self.sent.pop(stream, None)
        self.paused.pop(stream, None)

    @property
    def rooms(self) -> set[int]:
        """The rooms this user is in (presence is announced to their members)."""
        return {int(s[5:]) for s in self.granted if s.startswith("room:")}

    def can_read(self, stream: str) -> bool:
        return access.can_read(self, stream)

    async def replay(self, stream: str, after: int, max_events: int,
                     seen: Callable[[str], None] | None = None,
                     keep_paused_on_error: bool = False) -> bool:
        """Write the stream's events after `after` (then what arrived meanwhile).

        Live frames of the stream are held from here (or from the caller's own
        pause) until the replay is written. `seen` is called with each replayed
        frame. Returns True when `max_events` were written and more may follow.
        """
        async with self.replay_lock:
            self.paused.setdefault(stream, [])
            self.sent[stream] = after
            written = 0
            failed = False
            try:
                while written < max_events:
                    # A replay is paced by the client's reading: it never fills
                    # more than half the outbound queue.
                    await self._wait_drained()
                    if self.state is not State.OPEN:
                        return False
                    want = min(REPLAY_PAGE, max_events - written)
                    page = await streams.read(stream, after=self.sent[stream], limit=want,
                                              reader=self)
                    for seq, frame in page:
                        self._emit(stream, seq, self.encode_frame(frame))
                        if seen is not None:
                            seen(frame)
                    written += len(page)
                    if len(page) < want:
                        return False
                return True
            except Exception:
                failed = True
                raise
            finally:
                if not (failed and keep_paused_on_error):
                    self.flush_paused(stream)

    def flush_paused(self, stream: str) -> None:
        """Release the live frames held for a stream, skipping seqs already written."""
        for seq, item in self.paused.pop(stream, ()):
            self._emit(stream, seq, item)

    async def _wait_drained(self) -> None:
        half = settings.OUTBOUND_QUEUE_FRAMES // 2
        while len(self.out) > half and self.state is State.OPEN:
            self.drained.clear()
            await self.drained.wait()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _catch_up(self, stream: str, after: int) -> None:
        delay = 0.2
        for attempt in range(CATCH_UP_TRIES):
            try:
                # A failed try keeps live frames held, so the next one neither
                # skips nor repeats a seq.
                if attempt:  # go on from what the failed try already wrote
                    after = self.sent.get(stream, after)
                if await self.replay(stream, after, settings.RESUME_MAX_EVENTS,
                                     keep_paused_on_error=True):
                    log.info("catch-up on %s stopped at the resume limit", stream)
                return
            except Exception as exc:  # e.g. a pooled Redis connection the restart cut
                if attempt == CATCH_UP_TRIES - 1 or self.state is not State.OPEN:
                    log.exception("catch-up of %s failed; the client can resume", stream)
                    self.flush_paused(stream)
                    return
                log.warning("catch-up of %s failed (%s); retrying", stream,
                            type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    # --- called by the hub -------------------------------------------------------

    def access_granted(self, stream: str, from_seq: int) -> None:
        """This user may now read `stream` (joined, on any process): send it from `from_seq`."""
        if stream in self.granted or self.state is not State.OPEN:
            return
        self.granted.add(stream)
        if not self.can_read(stream):
            return  # the kind's own rule (a role, say) still says no
        self._subscribe(stream)
        self.paused.setdefault(stream, [])  # live frames wait for the catch-up
        self._spawn(self._catch_up(stream, from_seq - 1))

    def access_revoked(self, stream: str) -> None:
        """This user may no longer read `stream` (left or removed): stop at once, everywhere."""
        self.granted.discard(stream)
        self._unsubscribe(stream)
        if self.principal.role == "guest":
            # Whom a guest may watch depends on their rooms: their subscriptions stop
            # now, and those to people they still share a room with resume once the
            # database says who that is (meanwhile those people's rooms tell them).
            from presence.actions import revisit_watch

            hub = runtime_hub()
            watched = set(hub.watching.get(self, set()))
            hub.watch(self, set())
            self._spawn(revisit_watch(self, watched))

    def resync(self) -> None:
        """The bus reconnected: fetch from the journal whatever went past meanwhile."""
        if self.state is not State.OPEN:
            return
        for stream in tuple(self.streams):
            # Where this socket stood when the bus came back, and live frames held
            # from now: the catch-up then neither skips nor repeats a seq.
            after = self.sent.get(stream, 0)
            self.paused.setdefault(stream, [])
            self._spawn(self._catch_up(stream, after))

    def idle_for(self, now: float) -> float:
        return now - self.last_heard


def runtime_hub() -> Any:
    rt = runtime.current()
    assert rt is not None, "runtime not started"
    return rt.hub


async def websocket_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await ColloquySocket(scope, receive, send).run()
