"""The socket's way out: frames written straight to the transport, with flow control.

ASGI's `send()` builds a frame per call per socket (a header, a UTF-8 encode,
under daphne also autobahn's per-frame bookkeeping and Twisted's two epoll
calls). A fan-out frame is the same bytes for every receiver
(realtime.wsframe), so where we can reach the server's transport we write
those bytes ourselves; the server still owns the handshake, reading, pings
and the close. Writes are whole frames and the loop is single-threaded, so
they never interleave with the server's own frames.

Flow control: the transport tells its protocol when its buffer passes the
high-water mark and when it has drained (asyncio: pause_writing /
resume_writing; Twisted: a push producer). The gate follows that, so the
socket's writer stops handing over frames, its bounded queue fills, and a
client that stopped reading is closed as a slow consumer instead of growing
memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from realtime.wsframe import Outgoing


class WriteGate:
    """Open while the transport's buffer is below its high-water mark."""

    def __init__(self) -> None:
        self.open = True  # read once per delivery: a plain attribute
        self._open = asyncio.Event()
        self._open.set()

    # Twisted IPushProducer (daphne), and our asyncio protocol hooks below.
    def pauseProducing(self) -> None:
        self.open = False
        self._open.clear()

    def resumeProducing(self) -> None:
        self.open = True
        self._open.set()

    def stopProducing(self) -> None:
        self.resumeProducing()  # the connection is gone; let the writer exit

    async def wait_open(self) -> None:
        await self._open.wait()


class Wire:
    """Writes frames for one socket: to the transport when reachable, else via ASGI."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.gate = WriteGate()
        # Set when we hold the transport: write one frame, or many in one call.
        self.write: Callable[[bytes], None] | None = None
        self.write_many: Callable[[list[bytes]], None] | None = None
        self.abort: Callable[[], None] = lambda: None

    async def send_one(self, item: Outgoing) -> None:
        """The ASGI path, for servers whose transport we do not know."""
        await self.send(item.asgi())


def attach(send: Any) -> Wire:
    """Find the transport behind `send` (uvicorn, daphne); otherwise plain ASGI."""
    wire = Wire(send)
    owner = getattr(send, "__self__", None)  # uvicorn: the protocol's bound method
    if owner is not None and _attach_asyncio(wire, owner):
        return wire
    if isinstance(send, functools.partial) and send.args:
        _attach_twisted(wire, send.args[0])  # daphne: partial(server.handle_reply, protocol)
    return wire


def _attach_asyncio(wire: Wire, protocol: Any) -> bool:
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "get_write_buffer_size"):
        return False
    gate = wire.gate
    pause, resume = protocol.pause_writing, protocol.resume_writing

    # The transport calls these on its protocol (the server's); we follow them too.
    def pause_writing() -> None:
        gate.pauseProducing()
        pause()

    def resume_writing() -> None:
        gate.resumeProducing()
        resume()

    lost = protocol.connection_lost

    # Frames fanned out between the disconnect and the socket's own cleanup are
    # dropped here, not written into a closed transport (which logs each one).
    def connection_lost(exc: Exception | None) -> None:
        wire.write = _drop
        wire.write_many = _drop
        gate.stopProducing()
        lost(exc)

    protocol.pause_writing = pause_writing
    protocol.resume_writing = resume_writing
    protocol.connection_lost = connection_lost
    if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
        gate.pauseProducing()
    wire.write = transport.write
    wire.write_many = transport.writelines
    wire.abort = transport.abort
    return True


def _drop(data: Any) -> None:
    """Write into a connection that is gone: nothing to do."""


def _attach_twisted(wire: Wire, protocol: Any) -> None:
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "registerProducer"):
        return
    if getattr(transport, "producer", None) is not None:
        # twisted.web's HTTPChannel registered itself for the upgrade request; left
        # there, a full buffer would make Twisted stop *reading* this socket (the
        # client's pongs and requests), not stop us writing. The HTTP part is over.
        transport.unregisterProducer()
    transport.registerProducer(wire.gate, True)
    wire.write = transport.write
    wire.write_many = transport.writeSequence
    wire.abort = transport.abortConnection
