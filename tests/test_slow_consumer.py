"""A socket that stops reading is closed with 4009; the room and its sender never stall.

These tests run on an extra server with the rate limit lifted and an outbound
queue of 200 frames, so a few hundred KB of backlog overflows it. Every client
of a test connects to that server (in the embedded profile it is a second
process with its own in-process fan-out).

A reader that never reads cannot see a close frame queued behind its unread
data, and daphne (autobahn) aborts the TCP connection 1 s after sending a close
nobody answers. So the stalled socket starts reading the moment the server logs
that it is closing it ("closing socket <connection> of user <id>: 4009 …") and
must then find the 4009 close frame at the end of its backlog.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from colloquy_client import Client
from tests.stack import Stack

QUEUE_FRAMES = 200
FAST_ENV = {"COLLOQUY_RATE_PER_SECOND": "100000", "COLLOQUY_RATE_BURST": "100000",
            "COLLOQUY_OUTBOUND_QUEUE_FRAMES": str(QUEUE_FRAMES)}
BODY = "x" * 3000


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
                proc.terminate()
                proc.wait(10)
                break


class Recorder(Client):
    """The test client, keeping every frame after hello in arrival order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[dict[str, Any]] = []

    def _on_frame(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        super()._on_frame(frame)


async def open_client(stack: Stack, username: str, server: int,
                      last_seq: dict[str, int] | None = None) -> Recorder:
    client = Recorder(stack.ws_url(server), token=stack.token(username))
    client.last_seq.update(last_seq or {})
    await client.connect()
    return client


class RawSocket:
    """A WebSocket over a plain TCP socket with a tiny receive buffer, read only on demand."""

    def __init__(self, url: str, token: str, rcvbuf: int = 4096) -> None:
        self.url, self.token, self.rcvbuf = url, token, rcvbuf
        self.proto = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol("colloquy.v1.json")],
                                    max_size=None)
        self.sock = socket.socket()
        self.pending: list[Any] = []
        self.eof = False

    async def open(self) -> dict[str, Any]:
        """Handshake; returns the hello frame."""
        loop = asyncio.get_running_loop()
        # Before connect, so the window is small from the SYN on (no autotuning).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        self.sock.setblocking(False)
        uri = self.proto.uri
        await loop.sock_connect(self.sock, (uri.host, uri.port))
        request = self.proto.connect()
        request.headers["Authorization"] = f"Bearer {self.token}"
        self.proto.send_request(request)
        await self._flush()
        response = await self._next_event()
        assert isinstance(response, Response) and response.status_code == 101, response
        return await self.next_json()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        for data in self.proto.data_to_send():
            if data:
                try:
                    await loop.sock_sendall(self.sock, data)
                except OSError:
                    return

    async def _next_event(self) -> Any:
        loop = asyncio.get_running_loop()
        while not self.pending:
            if self.eof:
                return None
            try:
                data = await loop.sock_recv(self.sock, 1 << 16)
            except OSError:  # reset: the server aborted the connection
                data = b""
            if data:
                self.proto.receive_data(data)
            else:
                self.eof = True
                self.proto.receive_eof()
            self.pending.extend(self.proto.events_received())
            await self._flush()  # answers pings and the close frame
        return self.pending.pop(0)

    async def next_json(self) -> dict[str, Any]:
        while True:
            event = await self._next_event()
            assert event is not None, "connection closed"
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                return json.loads(event.data)

    async def send_json(self, frame: dict[str, Any]) -> None:
        self.proto.send_text(json.dumps(frame).encode())
        await self._flush()

    async def drain(self) -> tuple[list[dict[str, Any]], int | None]:
        """Read to the end: every text frame still coming, and the close code received."""
        frames = []
        while (event := await self._next_event()) is not None:
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                frames.append(json.loads(event.data))
        self.sock.close()
        return frames, self.proto.close_rcvd.code if self.proto.close_rcvd else None


def server_log(stack: Stack, index: int) -> Path:
    return stack.tmp / f"server-{stack.servers[index][1]}.log"


async def wait_for_log(path: Path, needle: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while needle not in path.read_text(errors="replace"):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{needle!r} not logged within {timeout}s")
        await asyncio.sleep(0.02)


def room_seqs(frames: list[dict[str, Any]], stream: str) -> list[int]:
    return [f["seq"] for f in frames
            if f.get("op") == "event" and f["stream"] == stream and f["type"] == "message.created"]


async def test_reader_that_stops_reading_is_closed_4009_and_room_keeps_flowing(
        stack: Stack, fast_server: int) -> None:
    owner, slow_user, steady_user = stack.new_user(), stack.new_user(), stack.new_user()
    sender = await open_client(stack, owner, fast_server)
    room = (await sender.request("rooms.create", name="Firehose",
                                 members=[slow_user, steady_user]))["room"]
    rid, stream = room["id"], f"room:{room['id']}"
    steady = await open_client(stack, steady_user, fast_server)
    await steady.request("ping")

    slow = RawSocket(stack.ws_url(fast_server), stack.token(slow_user))
    hello = await slow.open()
    await slow.send_json({"op": "ping", "ref": 1})  # releases live events; then it stops reading
    closing = (f"closing socket {hello['connection']} of user {hello['user']['id']}: "
               f"4009 (outbound queue full)")

    async def watch() -> tuple[list[dict[str, Any]], int | None]:
        await wait_for_log(server_log(stack, fast_server), closing, timeout=60)
        return await slow.drain()

    watcher = asyncio.create_task(watch())
    acks = []
    for i in range(1500):
        acks.append(await sender.request("message.send", room=rid, body=f"{i} {BODY}",
                                         client_id=f"f-{i}"))
    seqs = [a["seq"] for a in acks]
    assert seqs == list(range(2, 1502))  # every ack arrived, one seq each

    received, code = await asyncio.wait_for(watcher, 30)
    assert code == 4009
    assert received[0] == {"op": "ok", "ref": 1, "ts": received[0]["ts"]}
    got = room_seqs(received, stream)
    assert got == list(range(2, 2 + len(got)))  # in order, no gap, before it was cut off
    assert len(got) < len(seqs)

    await asyncio.wait_for(_until_seq(steady, stream, seqs[-1]), 30)
    assert room_seqs(steady.frames, stream) == seqs
    assert [f["data"]["body"] for f in steady.frames if f.get("type") == "message.created"] == [
        f"{i} {BODY}" for i in range(1500)]
    assert steady.duplicates == 0
    assert steady.close_code is None  # still open

    # The slow member comes back and resumes from the last event it got.
    last = got[-1] if got else 1
    back = await open_client(stack, slow_user, fast_server,
                             last_seq={stream: last, **{s: v for s, v in hello["streams"].items()
                                                        if s != stream}})
    ok = await back.request("resume", streams={stream: last}, timeout=30)
    assert ok == {"op": "ok", "ref": ok["ref"], "streams": {stream: seqs[-1]}, "more": {}}
    assert got + room_seqs(back.frames, stream) == seqs
    assert back.duplicates == 0
    await asyncio.gather(sender.close(), steady.close(), back.close())


async def _until_seq(client: Client, stream: str, seq: int) -> None:
    while client.last_seq.get(stream, 0) < seq:
        await asyncio.sleep(0.05)


async def test_socket_that_never_sends_a_request_is_closed_4009_when_held_events_overflow(
        stack: Stack, fast_server: int) -> None:
    owner, idle_user = stack.new_user(), stack.new_user()
    sender = await open_client(stack, owner, fast_server)
    room = (await sender.request("rooms.create", name="Held", members=[idle_user]))["room"]
    idle = RawSocket(stack.ws_url(fast_server), stack.token(idle_user), rcvbuf=1 << 20)
    await idle.open()  # hello read; no request ever sent, so live events are held
    for i in range(QUEUE_FRAMES + 1):
        await sender.request("message.send", room=room["id"], body=f"h{i}", client_id=f"h-{i}")
    frames, code = await asyncio.wait_for(idle.drain(), 10)
    assert (frames, code) == ([], 4009)
    await sender.close()
