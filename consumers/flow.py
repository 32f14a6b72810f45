"""Write-side flow control: know when the client has stopped reading.

Under uvicorn, `await send(...)` itself waits while the socket's write buffer
is full. daphne's send never waits (Twisted buffers without bound), so we
register a Twisted push producer on the connection: Twisted pauses it when the
transport's buffer passes its high-water mark and resumes it when drained.
Either way the writer stops draining our bounded outbound queue, which then
fills, and the socket is closed as a slow consumer instead of growing memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any


class WriteGate:
    """An open/closed gate the writer waits on; Twisted opens and closes it.

    `direct`, when set, writes one frame into the transport synchronously. It is
    set under daphne, whose ASGI send never suspends anyway: while nothing is
    queued and the gate is open, a frame then skips the queue and the writer
    task's wake-up, so fan-out costs no task switch per delivery.
    """

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self.direct: Callable[[str | bytes], None] | None = None

    # IPushProducer, called by Twisted on the event loop's thread.
    def pauseProducing(self) -> None:
        self._open.clear()

    def resumeProducing(self) -> None:
        self._open.set()

    def stopProducing(self) -> None:
        self._open.set()  # the connection is gone; let the writer exit

    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait_open(self) -> None:
        await self._open.wait()


def attach_gate(send: Any, binary: bool) -> WriteGate:
    """A gate wired to daphne's transport when `send` is daphne's; otherwise always open."""
    gate = WriteGate()
    protocol = None
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]  # daphne: partial(server.handle_reply, protocol)
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "registerProducer"):
        return gate
    if getattr(transport, "producer", None) is not None:
        # twisted.web's HTTPChannel registered itself for the upgrade request; left
        # there, a full buffer would make Twisted stop *reading* this socket (the
        # client's pongs and requests), not stop us writing. The HTTP part is over.
        transport.unregisterProducer()
    transport.registerProducer(gate, True)
    server_send = getattr(protocol, "serverSend", None)
    if server_send is not None:
        gate.direct = functools.partial(server_send, binary=binary)
    return gate
