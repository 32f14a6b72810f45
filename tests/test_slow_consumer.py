"""A socket that stops reading is closed with 4009; the room and its sender never stall.

These tests run on an extra server with the rate limit lifted and an outbound
queue of 200 frames. Every client of a test connects to that server (in the
embedded profile it is a second process with its own in-process fan-out).

The stalled reader is a plain TCP socket that stops calling recv(): the kernel
buffers on both sides (a few MB on loopback, the server's send buffer
autotuning included) fill, daphne's transport buffer passes its high-water mark,
the server's outbound queue for that socket fills, and the server must close it
with 4009. A reader that never reads cannot see a close frame queued behind its
unread data, and the server drops the TCP connection CLOSE_TIMEOUT_SECONDS
after sending a close nobody answers (daphne is given the same limit by
realtime/daphne_main.py; autobahn's own default of 1 s lost the close under
CPU load). So the
stalled socket starts reading, from a thread of its own, the moment the server
logs that it is closing it ("closing socket <connection> of user <id>: 4009 …"),
and must then find the 4009 close frame at the end of its backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from colloquy_client import Client, ConnectionLost
from tests.stack import Recorder, Stack, Users, open_client

# uvicorn serves in production; daphne stays supported, so these run on it too.
pytestmark = pytest.mark.also_daphne

QUEUE_FRAMES = 200
FAST_ENV = {"COLLOQUY_RATE_PER_SECOND": "100000", "COLLOQUY_RATE_BURST": "100000",
            "COLLOQUY_EMPLOYEE_RATE_PER_SECOND": "100000",
            "COLLOQUY_EMPLOYEE_RATE_BURST": "100000",
            "COLLOQUY_OUTBOUND_QUEUE_FRAMES": str(QUEUE_FRAMES)}
BODY = "x" * 9000


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=5)  # what this module's tests take, per profile


@pytest.fixture(scope="module")
def fast_server(stack: Stack) -> Iterator[int]:
    """Index of an extra server with no practical rate limit and a 200-frame queue."""
    port = stack.start_server(extra_env=FAST_ENV)
    try:
        yield len(stack.servers) - 1
    finally:
        # Leave the stack as it was: other modules count its servers.
        for i, (proc, p) in enumerate(stack.servers):
            if p == port:
                del stack.servers[i]
                proc.kill()
                proc.wait(10)
                break


class RawSocket:
    """A WebSocket over a blocking TCP socket, read only on demand.

    Blocking on purpose: the watch-and-drain step runs in its own thread, so a busy
    test event loop cannot delay it past autobahn's close handshake timeout."""

    def __init__(self, url: str, token: str) -> None:
        self.token = token
        self.proto = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol("colloquy.v1.json")],
                                    max_size=None)
        self.sock = socket.socket()
        self.pending: list[Any] = []
        self.eof = False

    def open(self) -> dict[str, Any]:
        """Handshake; returns the hello frame."""
        self.sock.settimeout(10)
        uri = self.proto.uri
        self.sock.connect((uri.host, uri.port))
        request = self.proto.connect()
        request.headers["Authorization"] = f"Bearer {self.token}"
        self.proto.send_request(request)
        self._flush()
        response = self._next_event()
        assert isinstance(response, Response) and response.status_code == 101, response
        return self.next_json()

    def _flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                try:
                    self.sock.sendall(data)
                except OSError:
                    return

    def _next_event(self) -> Any:
        while not self.pending:
            if self.eof:
                return None
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                raise
            except OSError:  # reset: the server aborted the connection
                data = b""
            if data:
                self.proto.receive_data(data)
            else:
                self.eof = True
                self.proto.receive_eof()
            self.pending.extend(self.proto.events_received())
            self._flush()  # answers pings and the close frame
        return self.pending.pop(0)

    def next_json(self) -> dict[str, Any]:
        while True:
            event = self._next_event()
            assert event is not None, "connection closed"
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                return json.loads(event.data)

    def send_json(self, frame: dict[str, Any]) -> None:
        self.proto.send_text(json.dumps(frame).encode())
        self._flush()

    def drain(self, idle: float = 3.0) -> tuple[list[dict[str, Any]], int | None]:
        """Read to the end: the text frames still coming and the close code received
        (None when the server sent no close frame and `idle` seconds passed silently)."""
        frames = []
        self.sock.settimeout(idle)
        while True:
            try:
                event = self._next_event()
            except TimeoutError:
                break
            if event is None:
                break
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                frames.append(json.loads(event.data))
        self.sock.close()
        return frames, self.proto.close_rcvd.code if self.proto.close_rcvd else None


def server_log(stack: Stack, index: int) -> Path:
    return stack.tmp / f"server-{stack.servers[index][1]}.log"


def wait_for_log(path: Path, needle: str, give_up: threading.Event) -> None:
    """Block until `needle` is appended to the log; after `give_up` is set, wait 5 s more."""
    seen = b""
    deadline = None
    with path.open("rb") as log:
        while needle.encode() not in seen:
            if give_up.is_set():
                deadline = deadline or time.monotonic() + 5
                if time.monotonic() > deadline:
                    raise AssertionError(f"{needle!r} was never logged")
            chunk = log.read()
            if chunk:
                seen = seen[-len(needle):] + chunk
            else:
                time.sleep(0.005)


def room_seqs(frames: list[dict[str, Any]], stream: str) -> list[int]:
    return [f["seq"] for f in frames
            if f.get("op") == "event" and f["stream"] == stream and f["type"] == "message.created"]


MESSAGES = 1000
IN_FLIGHT = 32  # sends pipelined on the sender's socket


@pytest.fixture(scope="module")
async def firehose(stack: Stack, users: Users, fast_server: int) -> dict[str, Any]:
    """One room, three members: a sender, a steady reader, and a reader that stops
    reading after its first request while the sender sends 1,000 messages of 9 KB."""
    owner, slow_user, steady_user = users.take(), users.take(), users.take()
    sender = await open_client(stack, owner, server=fast_server)
    room = (await sender.request("rooms.create", name="Firehose",
                                 members=[slow_user, steady_user]))["room"]
    stream = f"room:{room['id']}"
    steady = await open_client(stack, steady_user, server=fast_server)
    await steady.request("ping")

    slow = RawSocket(stack.ws_url(fast_server), stack.token(slow_user))
    hello = await asyncio.to_thread(slow.open)
    slow.send_json({"op": "ping", "ref": 1})  # releases live events; then it stops reading
    closing = (f"closing socket {hello['connection']} of user {hello['user']['id']}: "
               f"4009 (outbound queue full)")

    sent = threading.Event()

    def watch() -> tuple[list[dict[str, Any]], int | None]:
        wait_for_log(server_log(stack, fast_server), closing, give_up=sent)
        return slow.drain()

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    slots = asyncio.Semaphore(IN_FLIGHT)

    async def send(i: int) -> dict[str, Any]:
        async with slots:
            return await sender.request("message.send", room=room["id"], body=f"{i} {BODY}",
                                        client_id=f"f-{i}", timeout=30)

    try:
        acks = await asyncio.gather(*(send(i) for i in range(MESSAGES)))
    finally:
        sent.set()
    seqs = sorted(a["seq"] for a in acks)
    bodies = {a["seq"]: f"{i} {BODY}" for i, a in enumerate(acks)}
    # On a timeout, test_steady_member_gets_every_message_in_order says what is missing.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_until_seq(steady, stream, seqs[-1]), 30)
    try:
        received, code = await watcher
        closed = True
    except AssertionError:  # never closed: test_stalled_reader_is_closed_… fails on it
        received, code, closed = [], None, False
    await sender.close()
    return {"stream": stream, "seqs": seqs, "bodies": bodies, "steady": steady,
            "slow_user": slow_user, "slow_hello": hello, "slow_frames": received,
            "slow_closed": closed, "slow_close": code}


async def test_sender_gets_every_ack_while_a_member_stalls(firehose: dict[str, Any]) -> None:
    assert firehose["seqs"] == list(range(2, 2 + MESSAGES))


async def test_steady_member_gets_every_message_in_order(firehose: dict[str, Any]) -> None:
    steady: Recorder = firehose["steady"]
    assert room_seqs(steady.frames, firehose["stream"]) == firehose["seqs"]
    assert [f["data"]["body"] for f in steady.frames if f.get("type") == "message.created"] == [
        firehose["bodies"][s] for s in firehose["seqs"]]
    assert steady.duplicates == 0
    assert steady.close_code is None  # never closed for being slow
    await steady.close()


async def test_stalled_reader_is_closed_with_4009_after_an_unbroken_prefix(
        firehose: dict[str, Any]) -> None:
    received = firehose["slow_frames"]
    assert firehose["slow_closed"], (
        f"the server never closed the stalled socket: {MESSAGES} messages of {len(BODY)} "
        f"characters and no 'closing socket … 4009' in its log")
    assert firehose["slow_close"] == 4009, (
        f"the server closed the stalled socket, but its close frame never arrived: the "
        f"connection ended after {len(received)} frames with no close frame")
    [ok] = [f for f in received if f.get("op") != "event"]  # the ping's reply, nothing else
    assert ok == {"op": "ok", "ref": 1, "ts": ok["ts"]}
    got = room_seqs(received, firehose["stream"])
    assert got == list(range(2, 2 + len(got)))  # in order, no gap, until it was cut off
    assert len(got) < MESSAGES


async def test_stalled_reader_resume_recovers_everything(
        stack: Stack, fast_server: int, firehose: dict[str, Any]) -> None:
    stream, seqs = firehose["stream"], firehose["seqs"]
    got = room_seqs(firehose["slow_frames"], stream)
    last = got[-1] if got else 1
    positions = {**firehose["slow_hello"]["streams"], stream: last}
    back = await open_client(stack, firehose["slow_user"], server=fast_server,
                             last_seq=positions)
    try:
        ok = await back.request("resume", streams={stream: last}, timeout=15)
    except ConnectionLost as exc:
        pytest.fail(f"the resuming socket was closed ({exc}): replaying {seqs[-1] - last} "
                    f"events must not overflow its own outbound queue of {QUEUE_FRAMES} frames")
    assert ok == {"op": "ok", "ref": ok["ref"], "streams": {stream: seqs[-1]}, "more": {}}
    assert got + room_seqs(back.frames, stream) == seqs
    assert back.duplicates == 0
    await back.close()


async def _until_seq(client: Client, stream: str, seq: int) -> None:
    while client.last_seq.get(stream, 0) < seq:  # noqa: ASYNC110 - the client has no hook
        await asyncio.sleep(0.05)


async def test_socket_that_never_sends_a_request_is_closed_4009_when_held_events_overflow(
        stack: Stack, users: Users, fast_server: int) -> None:
    owner, idle_user = users.take(), users.take()
    sender = await open_client(stack, owner, server=fast_server)
    room = (await sender.request("rooms.create", name="Held", members=[idle_user]))["room"]
    idle = RawSocket(stack.ws_url(fast_server), stack.token(idle_user))
    await asyncio.to_thread(idle.open)  # hello read; no request ever sent: events are held
    for i in range(QUEUE_FRAMES + 1):
        await sender.request("message.send", room=room["id"], body=f"h{i}", client_id=f"h-{i}")
    frames, code = await asyncio.to_thread(idle.drain)
    held_back = [f for f in frames if f.get("op") != "event" or "seq" in f]  # presence may pass
    assert (held_back, code) == ([], 4009)
    await sender.close()
