"""Outgoing frames, built once and written as-is to every socket that gets them.

A server-to-client WebSocket frame is never masked (RFC 6455 section 5.1), so
the complete frame of an event, header and payload, is the same bytes for
every receiver that speaks the same codec. The hub builds it once per codec
per event; each socket then only hands those bytes to its transport.
"""

from __future__ import annotations

import struct

_TEXT = 0x81  # FIN + opcode 1
_BINARY = 0x82  # FIN + opcode 2


def ws_frame(payload: str | bytes) -> bytes:
    """One unfragmented, unmasked frame: text for str, binary for bytes."""
    if isinstance(payload, str):
        first, body = _TEXT, payload.encode("utf-8")
    else:
        first, body = _BINARY, payload
    size = len(body)
    if size < 126:
        return bytes((first, size)) + body
    if size < 65536:
        return struct.pack("!BBH", first, 126, size) + body
    return struct.pack("!BBQ", first, 127, size) + body


class Outgoing:
    """A payload for the socket (str: text, bytes: binary) and its frame bytes.

    Built once and shared, so a frame going to a thousand sockets is framed
    once; a server we cannot write to directly takes `payload` through ASGI.
    """

    __slots__ = ("payload", "wire")

    def __init__(self, payload: str | bytes) -> None:
        self.payload = payload
        self.wire = ws_frame(payload)

    def asgi(self) -> dict[str, str | bytes | None]:
        payload = self.payload
        if isinstance(payload, str):
            return {"type": "websocket.send", "text": payload}
        return {"type": "websocket.send", "bytes": payload}
