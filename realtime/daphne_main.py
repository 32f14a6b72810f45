"""daphne's command line with Colloquy's close handshake timeout.

autobahn drops a connection whose close frame is not answered within
`closeHandshakeTimeout` (1 s by default, and daphne has no option for it). A
client that is slow to read, on a loaded machine, then loses the close frame
behind its backlog and sees a dropped connection instead of 4009. The uvicorn
path waits CLOSE_TIMEOUT_SECONDS for the same thing; this gives daphne the
same limit.
"""

from __future__ import annotations

import daphne.server  # first: it installs the asyncio Twisted reactor  # isort:skip
from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketFactory
from django.conf import settings


class _Factory(WebSocketFactory):  # type: ignore[misc]
    def setProtocolOptions(self, **options: object) -> None:
        options.setdefault("closeHandshakeTimeout", settings.CLOSE_TIMEOUT_SECONDS)
        super().setProtocolOptions(**options)


def main() -> None:
    daphne.server.WebSocketFactory = _Factory  # type: ignore[misc]
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
