"""uvicorn's HTTP protocol with a deadline for each request's headers.

uvicorn times out a kept-alive connection between requests, but not one that
never finishes its first request line and headers: a silent or slowloris
connection is held for ever, and enough of them take every file descriptor.
Here each request (a socket's upgrade request included) must finish its headers
within HANDSHAKE_TIMEOUT_SECONDS of its first byte, or of the connect for the
first request, or the connection is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(settings.HANDSHAKE_TIMEOUT_SECONDS,
                                                  self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        log.info("dropped a connection that sent no complete request in %ss",
                 settings.HANDSHAKE_TIMEOUT_SECONDS)
        self.transport.close()
