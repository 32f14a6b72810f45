"""The wire contract: subprotocols, codecs, error codes, close codes, frame checks.

docs/protocol.md is the prose version of this module; change both together.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from realtime.ids import id_value

SUBPROTOCOL_JSON = "colloquy.v1.json"
SUBPROTOCOL_MSGPACK = "colloquy.v1.msgpack"


class ErrorCode(enum.StrEnum):
    """Stable `code` values of error frames; clients switch on these."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    INTERNAL = "internal"


class CloseCode(enum.IntEnum):
    """Close codes the application sends, and what the client should do.

    All are in the 4000-4999 range: the WebSocket layer under daphne lets an
    application send only 1000 and 3000-4999. Codes such as 1006 (no close
    frame: a process died or the network dropped) and 1011 (the server's own
    error) come from the transport; treat them as "reconnect and resume".
    """

    UNAUTHORIZED = 4001  # the token was revoked: get new credentials
    DEACTIVATED = 4003  # the employee was deactivated: do not reconnect
    REAUTHENTICATE = 4004  # the employee's role changed: reconnect at once and resume
    HEARTBEAT_TIMEOUT = 4008  # nothing heard for 3 heartbeats: reconnect, resume
    SLOW_CONSUMER = 4009  # outbound queue overflowed: reconnect, resume
    FRAME_TOO_LARGE = 4013  # a frame over MAX_FRAME_BYTES: fix the client, then reconnect
    FLOOD = 4029  # kept sending after rate_limited: back off, then reconnect
    TOO_MANY_SOCKETS = 4030  # the employee holds MAX_SOCKETS_PER_EMPLOYEE: close one first
    UNAVAILABLE = 4503  # credentials could not be checked (database down): retry later


class ProtocolError(Exception):
    """An op cannot be served; becomes an error frame with `code`."""

    def __init__(self, code: ErrorCode, message: str, ref: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref  # known before the op could be read (else the socket's own)


class CloseConnection(Exception):
    """The socket must be closed with `code` (after flushing what is queued)."""

    def __init__(self, code: CloseCode, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def bad_request(message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, message)


# --- codecs -----------------------------------------------------------------


@dataclass(frozen=True)
class Codec:
    """How frames travel on one subprotocol: text JSON or binary msgpack."""

    subprotocol: str
    binary: bool
    encode: Callable[[Any], str | bytes]
    decode: Callable[[str | bytes], Any]


def _json_encode(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# No request nests deeper than 3 levels; 32 leaves room and bounds the walk.
MAX_NESTING = 32


def _json_decode(raw: str | bytes) -> Any:
    if isinstance(raw, bytes):
        raise bad_request("expected a text frame on colloquy.v1.json, got a binary frame")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"frame is not valid JSON: {exc}") from None


def storable(text: str) -> bool:
    """No NUL and no unpaired surrogate: what Postgres (and UTF-8) can hold."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_strings(obj: Any, depth: int = 0) -> None:
    """Refuse NUL and unpaired surrogates anywhere in a frame: Postgres cannot
    store them, and one such body must not stall the persister for everyone."""
    if depth > MAX_NESTING:
        raise bad_request(f"frame nests deeper than {MAX_NESTING} levels")
    if isinstance(obj, str):
        if not storable(obj):
            raise bad_request("strings may not contain NUL (\\u0000) or unpaired surrogates")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            check_strings(key, depth + 1)
            check_strings(value, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            check_strings(value, depth + 1)


def _msgpack_encode(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _msgpack_decode(raw: str | bytes) -> Any:
    if isinstance(raw, str):
        raise bad_request("expected a binary frame on colloquy.v1.msgpack, got a text frame")
    try:
        # unpackb caps every container and string at the frame's own length, so a
        # hostile frame cannot make unpacking allocate more than it sent.
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise bad_request(f"frame is not valid msgpack: {exc}") from None
    except Exception as exc:  # msgpack raises assorted types on garbage
        raise bad_request(f"frame is not valid msgpack: {type(exc).__name__}") from None
    return obj


JSON = Codec(SUBPROTOCOL_JSON, False, _json_encode, _json_decode)
MSGPACK = Codec(SUBPROTOCOL_MSGPACK, True, _msgpack_encode, _msgpack_decode)
CODECS = {c.subprotocol: c for c in (JSON, MSGPACK)}


def choose_codec(offered: list[str]) -> Codec | None:
    """The codec for the client's offered subprotocols; JSON when none offered."""
    if not offered:
        return JSON
    for name in offered:
        if name in CODECS:
            return CODECS[name]
    return None


# --- request checks ----------------------------------------------------------


def parse_request(obj: Any) -> tuple[str, Any]:
    """(op, ref) of a decoded frame, or a bad_request error saying what was wrong."""
    if not isinstance(obj, dict):
        raise bad_request(f"a frame must be an object, got {type(obj).__name__}")
    ref = obj.get("ref")
    if ref is not None and not (
        (isinstance(ref, int) and not isinstance(ref, bool) and abs(ref) < 2**53)
        or (isinstance(ref, str) and len(ref) <= 64 and storable(ref))
    ):
        raise bad_request("'ref' must be an integer below 2^53 or a string of at most 64 chars")
    try:
        check_strings(obj)
    except ProtocolError as exc:
        exc.ref = ref
        raise
    op = obj.get("op")
    if not isinstance(op, str) or not op:
        # The ref is valid: echo it, so the client knows which request failed.
        raise ProtocolError(ErrorCode.BAD_REQUEST, "missing field 'op' (string)", ref=ref)
    return op, ref


def field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], *,
          required: bool = True, default: Any = None) -> Any:
    """One typed field of a request; a missing or mistyped one is bad_request."""
    if name not in obj or obj[name] is None:
        if required:
            raise bad_request(f"missing field '{name}'")
        return default
    value = obj[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise bad_request(f"field '{name}' must be {_kind_name(kinds)}, got boolean")
    if not isinstance(value, kinds):
        raise bad_request(
            f"field '{name}' must be {_kind_name(kinds)}, got {type(value).__name__}"
        )
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        raise bad_request(f"field '{name}' is out of range")
    return value


def id_field(obj: dict[str, Any], name: str, *, required: bool = True) -> Any:
    """An id field (realtime.ids): an integer from 1 to 2^53 - 1, else bad_request."""
    value = field(obj, name, int, required=required)
    if value is not None and id_value(value) is None:
        raise bad_request(f"field '{name}' must be a positive integer")
    return value


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", list: "list", dict: "object", bool: "boolean"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def ok(ref: Any, **fields: Any) -> dict[str, Any]:
    return {"op": "ok", "ref": ref, **fields}


def error(ref: Any, code: ErrorCode, message: str) -> dict[str, Any]:
    return {"op": "error", "ref": ref, "code": str(code), "message": message}
