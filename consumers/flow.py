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
import contextlib
import functools
from typing import Any


class WriteGate:
    """An open/closed gate the writer waits on; Twisted opens and closes it."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

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


def attach_gate(send: Any) -> WriteGate:
    """A gate wired to daphne's transport when `send` is daphne's; otherwise always open."""
    gate = WriteGate()
    protocol = None
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]  # daphne: partial(server.handle_reply, protocol)
    register = getattr(protocol, "registerProducer", None)
    if register is not None and getattr(protocol, "transport", None) is not None:
        # RuntimeError: a producer is already registered; keep the always-open gate.
        with contextlib.suppress(RuntimeError):
            register(gate, True)
    return gate
