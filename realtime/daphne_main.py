"""daphne's command line with Colloquy's close handshake and header timeouts.

autobahn drops a connection whose close frame is not answered within
`closeHandshakeTimeout` (1 s by default, and daphne has no option for it). A
client that is slow to read, on a loaded machine, then loses the close frame
behind its backlog and sees a dropped connection instead of 4009. The uvicorn
path waits CLOSE_TIMEOUT_SECONDS for the same thing; this gives daphne the
same limit.

Twisted holds a connection that never finishes its request for 12 hours; a
connection here must finish its first request's headers within
HANDSHAKE_TIMEOUT_SECONDS, as under uvicorn (realtime/uvicorn_http.py).
"""

from __future__ import annotations

import daphne.server  # first: it installs the asyncio Twisted reactor  # isort:skip
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.ws_protocol import WebSocketFactory
from django.conf import settings
from twisted.internet import reactor


class _Factory(WebSocketFactory):  # type: ignore[misc]
    def setProtocolOptions(self, **options: object) -> None:
        options.setdefault("closeHandshakeTimeout", settings.CLOSE_TIMEOUT_SECONDS)
        super().setProtocolOptions(**options)


class _Request(WebRequest):  # type: ignore[misc]
    def gotLength(self, length: Any) -> None:
        # Twisted calls this once the headers are in: the deadline is met.
        deadline = getattr(self.channel, "colloquy_deadline", None)
        if deadline is not None and deadline.active():
            deadline.cancel()
        super().gotLength(length)


class _HTTPFactory(HTTPFactory):  # type: ignore[misc]
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = _Request
        # Twisted wraps the HTTPChannel (for protocol negotiation); requests see the
        # channel itself, and only it gets the transport.
        channel = getattr(protocol, "_channel", protocol)
        channel.colloquy_deadline = reactor.callLater(  # type: ignore[attr-defined]
            settings.HANDSHAKE_TIMEOUT_SECONDS, _expire, channel)
        return protocol


def _expire(channel: Any) -> None:
    if channel.transport is not None:
        channel.transport.abortConnection()


def main() -> None:
    daphne.server.WebSocketFactory = _Factory  # type: ignore[misc]
    daphne.server.HTTPFactory = _HTTPFactory  # type: ignore[misc]
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
