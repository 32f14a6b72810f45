"""A lean WebSocket client for load: a raw asyncio Protocol, no library.

Why not `websockets`: a thousand receiving sockets through a full client
library cost the load process more CPU than the server under test spends on
them. Here the handshake is written by hand, server→client frames (never
masked, RFC 6455 §5.1) are parsed in place from the received bytes, and a
delivery is recognised without decoding the frame: every benchmark message
body carries a marker ``~~<message id>:<send time µs>~~`` that appears
verbatim in JSON text frames, in msgpack binary frames and in the baselines'
frames alike. Only frames without the marker (hello, ok, error) are decoded.

Client→server frames are masked as the RFC requires (a fresh 4-byte key per
frame, XOR done with one big-int operation).

Clock: ``time.monotonic_ns()`` is CLOCK_MONOTONIC, shared by every process on
the machine, so a timestamp written by the sender process is comparable with
the receipt time in another process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import select
import time
from collections.abc import Callable
from typing import Any

import msgpack

MARK_RE = re.compile(rb"~~(\d+):(\d+)~~")
REACTION_RE = re.compile(rb'"message":"([0-9a-f]{32})".*?"version":(\d+)')
_getrandbits = random.getrandbits


def now_us() -> int:
    return time.monotonic_ns() // 1000


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    key = _getrandbits(32).to_bytes(4, "big")
    if n:
        stream = (key * ((n >> 2) + 1))[:n]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(
            n, "big")
    return head + key + payload


class Sink:
    """Where the receivers of one measurement step record what arrived."""

    __slots__ = ("count", "dups", "hi", "last", "lat", "late", "lo", "on_event", "on_marker",
                 "react")

    def __init__(self, lo: int = 0, hi: int = 1 << 62) -> None:
        self.lo, self.hi = lo, hi  # message ids that belong to this step
        self.count = 0  # unique (receiver, message) receipts
        self.dups = 0
        self.late = 0  # markers from an earlier step
        self.lat: list[int] = []  # µs, send → receipt, one per unique receipt
        self.last = 0  # µs, time of the latest unique receipt
        self.on_marker: Callable[[WS, int, int], None] | None = None
        # Reaction steps: (message id, version → send time µs). A reaction event has
        # no body to carry a marker; its `version` counts the sender's changes.
        self.react: tuple[bytes, dict[int, int]] | None = None
        # Events without a marker that a step reads whole (a round table's seqs and
        # rankings): called with (socket, the frame's bytes, receipt time µs).
        self.on_event: Callable[[WS, bytes, int], None] | None = None


class WS(asyncio.Protocol):
    """One client socket. `kind` is "colloquy" (expects hello), or "plain"."""

    def __init__(self, sid: int, host: str, port: int, path: str,
                 headers: dict[str, str] | None = None, subprotocol: str | None = None,
                 kind: str = "colloquy") -> None:
        self.sid = sid
        self.host, self.port, self.path = host, port, path
        self.headers = headers or {}
        self.subprotocol = subprotocol
        self.binary = subprotocol is not None and subprotocol.endswith("msgpack")
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        for fut in (self.opened, self.ready):  # failures are counted by the caller
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.upgraded = False
        self.closed = False
        self.close_code: int | None = None
        self.buf = b""
        self.frag: list[bytes] = []
        self.frag_op = 0
        self.hello: dict[str, Any] | None = None
        # Delivery accounting (set by the load worker).
        self.sink: Sink | None = None
        self.seen: set[int] = set()
        # Replies: ref → (send time µs, callback(frame, now_us) or None).
        self.pending: dict[int, tuple[int, Any]] = {}
        self.on_reply: Callable[[WS, dict[str, Any], int], None] | None = None
        self.last_send = 0.0
        self.fast: tuple[FastReader, int] | None = None

    # --- asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}",
            "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {self.subprotocol}")
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.fast is not None:
            self.fast[0].drop(self.fast[1])
            self.fast = None
        for fut in (self.opened, self.ready):
            if not fut.done():
                fut.set_exception(ConnectionError(f"closed before ready ({self.close_code})"))

    def leave_fast_reader(self) -> None:
        """Back to the loop's own reading: a socket whose reply times matter (the
        sender's acks) is then read when it is readable, not in the next batch."""
        if self.fast is not None:
            self.fast[0].drop(self.fast[1])
            self.fast = None
            t = self.transport
            if t is not None and not t.is_closing():
                t.resume_reading()

    def data_received(self, data: bytes) -> None:
        now = now_us()
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            status = data[:data.find(b"\r\n")]
            if b" 101 " not in status + b" ":
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(status.decode("latin1")))
                self.transport.close()  # type: ignore[union-attr]
                return
            self.upgraded = True
            self.opened.set_result(None)
            if self.kind != "colloquy" and not self.ready.done():
                self.ready.set_result({})
            data = data[end + 4:]
        if data:
            self.feed(data, now)

    def feed(self, data: bytes, now: int) -> None:
        """Every complete frame in `data` (after what was left over last time)."""
        if self.buf:
            data = self.buf + data
            self.buf = b""
        n = len(data)
        pos = 0
        while n - pos >= 2:
            b0 = data[pos]
            ln = data[pos + 1] & 0x7F
            hdr = 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = (data[pos + 2] << 8) | data[pos + 3]
                hdr = 4
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = int.from_bytes(data[pos + 2:pos + 10], "big")
                hdr = 10
            start = pos + hdr
            end = start + ln
            if end > n:
                break
            op = b0 & 0x0F
            if b0 & 0x80 and op in (1, 2):
                self._message(data, start, end, op, now)
            elif op in (0, 1, 2):
                self._fragment(data[start:end], op, bool(b0 & 0x80), now)
            elif op == 9:  # ping → pong with the same payload
                self._write(mask_frame(0xA, data[start:end]))
            elif op == 8:
                payload = data[start:end]
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.transport is not None and not self.transport.is_closing():
                    self._write(mask_frame(0x8, payload[:2]))
                    self.transport.close()
                self.closed = True
            pos = end
        if pos < n:
            self.buf = data[pos:]

    # --- frames -----------------------------------------------------------------

    def _fragment(self, part: bytes, op: int, fin: bool, now: int) -> None:
        if op:
            self.frag_op = op
            self.frag = []
        self.frag.append(part)
        if fin:
            whole = b"".join(self.frag)
            self.frag = []
            self._message(whole, 0, len(whole), self.frag_op, now)

    def _message(self, data: bytes, start: int, end: int, op: int, now: int) -> None:
        # The whole marker, digits included: msgpack can carry the bytes "~~"
        # elsewhere (seq 32382 is 0x7e7e).
        m = MARK_RE.search(data, start, end)
        # A reply can echo the marker too (question.ask answers with the question, body
        # and all): it is a reply to match with its request, not a delivery.
        if m is not None and data.startswith(b'{"op":"ok"', start):
            m = None
        if m is not None:
            mid = int(m[1])
            sink = self.sink
            if sink is not None:
                if sink.on_marker is not None:
                    sink.on_marker(self, mid, now)
                elif mid < sink.lo or mid >= sink.hi:
                    sink.late += 1
                elif mid in self.seen:
                    sink.dups += 1
                else:
                    self.seen.add(mid)
                    sink.count += 1
                    sink.last = now
                    sink.lat.append(now - int(m[2]))
            return
        if self.kind != "colloquy":
            return
        payload = data[start:end]
        sink = self.sink
        if sink is not None and sink.react is not None and b'"type":"reaction.' in payload:
            self._reaction(sink, sink.react, payload, now)
            return
        if sink is not None and sink.on_event is not None and payload[:13] == b'{"op":"event"':
            sink.on_event(self, payload, now)
            return
        # Events without a marker (room.added, member.joined…) are skipped unread.
        if payload[:13] == b'{"op":"event"' or b"\xa5event" in payload[:12]:
            return
        try:
            frame = msgpack.unpackb(payload, raw=False) if op == 2 else json.loads(payload)
        except ValueError:
            return
        kind = frame.get("op")
        if kind == "hello":
            self.hello = frame
            if not self.ready.done():
                self.ready.set_result(frame)
        elif kind in ("ok", "error"):
            ref = frame.get("ref")
            entry = self.pending.pop(ref, None) if isinstance(ref, int) else None
            if entry is not None:
                sent, callback = entry
                if callback is not None:
                    callback(frame, now - sent, now)

    def _reaction(self, sink: Sink, react: tuple[bytes, dict[int, int]], payload: bytes,
                  now: int) -> None:
        m = REACTION_RE.search(payload)
        if m is None:
            return
        message, sent_at = react
        version = int(m[2])
        if m[1] != message:
            sink.late += 1
        elif version in self.seen:
            sink.dups += 1
        elif version in sent_at:
            self.seen.add(version)
            sink.count += 1
            sink.last = now
            sink.lat.append(now - sent_at[version])

    # --- sending ----------------------------------------------------------------

    def _write(self, raw: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(raw)

    def send_data(self, payload: bytes, binary: bool) -> None:
        self.last_send = time.monotonic()
        self._write(mask_frame(2 if binary else 1, payload))

    def request(self, frame: dict[str, Any], callback: Any = None) -> None:
        """Send a Colloquy op in this socket's codec; `callback(reply, latency_us, now)`."""
        ref = frame.get("ref")
        if isinstance(ref, int):
            self.pending[ref] = (now_us(), callback)
        if self.binary:
            self.send_data(msgpack.packb(frame, use_bin_type=True), True)
        else:
            self.send_data(json.dumps(frame, separators=(",", ":")).encode(), False)

    def close(self) -> None:
        if self.fast is not None:  # unregister before the fd is closed (and reused)
            self.fast[0].drop(self.fast[1])
            self.fast = None
        if self.transport is not None and not self.transport.is_closing():
            self._write(mask_frame(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()
        self.closed = True


class FastReader:
    """Reads every open socket through one epoll set, in batches, with one tight loop.

    asyncio costs a selector event, a Handle and a callback per readable socket;
    a server fanning a message out writes its thousand frames one by one, so a
    reader woken per readable socket handles one or two frames per wake-up and
    pays the loop's overhead for each. Here, after the handshake, a socket's
    transport stops reading (pause_reading) and its fd joins one epoll set.
    When that set becomes readable the reader waits `window` seconds (1 ms) and
    then drains every ready socket in one loop, and keeps polling every
    `window` while there is data (re-arming the loop's reader once a poll finds
    nothing). Receipt times are therefore late by at most the window plus the
    batch's own processing: latencies err high, never low.

    Per ready socket: one ``os.read`` (64 KiB: a larger request makes CPython
    allocate, and glibc mmap, a buffer that size on every call, ~15 µs), one
    clock read, a walk over the frame headers, and for each final text/binary
    frame one compiled-regex search for the ``~~<id>:<send µs>~~`` marker;
    dedupe in the socket's set of ints. Anything else (a frame without a
    marker, a fragment, ping, close, a leftover partial frame, a sink with
    its own callback) goes through ``WS.feed``, the general parser.
    """

    window = 0.001
    BATCH = 128  # sockets read per pass; a full pass continues after the loop's I/O

    def __init__(self) -> None:
        self.ep = select.epoll()
        self.epfd = self.ep.fileno()
        self.by_fd: dict[int, WS] = {}
        self.loop = asyncio.get_running_loop()
        self.armed = False
        self.ticking = False
        # Counters for the step reports: loop wake-ups, reads, frames by the fast path.
        self.wakes = 0
        self.reads = 0
        self.fast_frames = 0
        self._arm()

    def _arm(self) -> None:
        if not self.armed:
            self.loop.add_reader(self.epfd, self._ready)
            self.armed = True

    def stats(self) -> dict[str, int]:
        return {"wakes": self.wakes, "reads": self.reads, "fast_frames": self.fast_frames}

    def adopt(self, sock: WS) -> None:
        t = sock.transport
        if t is None or t.is_closing():
            return
        raw = t.get_extra_info("socket")
        if raw is None:
            return
        t.pause_reading()
        fd = raw.fileno()
        sock.fast = (self, fd)
        self.by_fd[fd] = sock
        self.ep.register(fd, select.EPOLLIN)

    def drop(self, fd: int) -> None:
        if self.by_fd.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self.ep.unregister(fd)

    def _ready(self) -> None:
        # Readable: stop watching, and read everything one window from now.
        self.loop.remove_reader(self.epfd)
        self.armed = False
        if not self.ticking:
            self.ticking = True
            self.loop.call_later(self.window, self._tick)

    def _tick(self) -> None:
        self.wakes += 1
        n = self._drain()
        if n >= self.BATCH:
            # More sockets are ready: go on at once, but after the loop's own I/O
            # (the sender's acks), so one pass never holds them for milliseconds.
            self.loop.call_soon(self._tick)
        elif n:
            self.loop.call_later(self.window, self._tick)
        else:
            self.ticking = False
            self._arm()

    def _drain(self) -> int:
        by_fd = self.by_fd
        read = os.read
        clock = time.monotonic_ns
        search = MARK_RE.search
        events = self.ep.poll(0, self.BATCH)
        fast = 0
        for fd, _ in events:
            sock = by_fd.get(fd)
            if sock is None:
                continue
            try:
                data = read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            now = clock() // 1000  # after the read: never earlier than the bytes' arrival
            if not data:  # the peer closed: hand the socket back to its transport
                self.drop(fd)
                sock.fast = None
                t = sock.transport
                if t is not None and not t.is_closing():
                    t.resume_reading()
                continue
            sink = sock.sink
            if sock.buf or sink is None or sink.on_marker is not None:
                sock.feed(data, now)
                continue
            n = len(data)
            pos = 0
            seen = sock.seen
            while pos < n:
                if n - pos < 2:
                    sock.feed(data[pos:], now)
                    break
                b0 = data[pos]
                ln = data[pos + 1] & 0x7F
                if ln < 126:
                    start = pos + 2
                elif ln == 126 and n - pos >= 4:
                    ln = (data[pos + 2] << 8) | data[pos + 3]
                    start = pos + 4
                else:  # 64-bit length, or a header cut short: the general parser
                    sock.feed(data[pos:], now)
                    break
                end = start + ln
                if end > n:
                    sock.feed(data[pos:], now)
                    break
                m = search(data, start, end) if b0 == 0x81 or b0 == 0x82 else None
                if m is None:
                    sock.feed(data[pos:end], now)
                else:
                    mid = int(m[1])
                    if mid < sink.lo or mid >= sink.hi:
                        sink.late += 1
                    elif mid in seen:
                        sink.dups += 1
                    else:
                        seen.add(mid)
                        sink.count += 1
                        sink.last = now
                        sink.lat.append(now - int(m[2]))
                    fast += 1
                pos = end
        self.reads += len(events)
        self.fast_frames += fast
        return len(events)


_fast: FastReader | None = None


def reader_stats() -> dict[str, int]:
    return _fast.stats() if _fast is not None else {"wakes": 0, "reads": 0, "fast_frames": 0}


async def open_ws(sock: WS, timeout: float = 30.0, fast: bool = True) -> WS:
    """Connect, upgrade and (Colloquy) wait for hello; then read through FastReader."""
    global _fast
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        await loop.create_connection(lambda: sock, sock.host, sock.port)
        await sock.opened
        await sock.ready
    if fast:
        if _fast is None:
            _fast = FastReader()
        _fast.adopt(sock)
    return sock
