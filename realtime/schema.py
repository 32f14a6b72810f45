"""Event types: each app declares the events it emits, with the shape of their data.

An app's `<app>/events.py` calls `define(...)` once per type at import (its
AppConfig.ready imports it), so the registry holds every type before the first
socket opens. `send_event` takes an `EventType`, never a bare string, and with
settings.CHECK_EVENT_SCHEMAS on (the test suite turns it on) every event is
checked against its schema before it is stored or sent: a frame that does not
match is a bug in the action that built it, and fails loudly there.

A schema is plain data: `int`, `str`, `bool`, `Maybe(x)` (x or null), `[x]`
(a list of x), or a dict of field → schema where `Opt(x)` marks a field that
may be left out. No other fields are allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar


@dataclass(frozen=True)
class Maybe:
    """The value, or null."""

    of: Any


@dataclass(frozen=True)
class Opt:
    """A field that may be absent."""

    of: Any


_E = TypeVar("_E", bound="EventType")

# The public face of an employee inside events (realtime.auth.Principal.public).
USER = {"id": int, "username": str, "name": str}


@dataclass(frozen=True)
class EventType:
    name: str
    schema: dict[str, Any]
    # The stream kinds it may be sent on ("room", "user", ...; "presence" for the
    # presence pseudo-stream).
    kinds: tuple[str, ...]
    # Sent on a user's own stream, it changes what that user's sockets read:
    # `grants` gives (stream, from_seq) to start following, `revokes` the stream
    # to stop (realtime.access; handled in one place, the socket).
    grants: Callable[[dict[str, Any]], tuple[str, int]] | None = None
    revokes: Callable[[dict[str, Any]], str] | None = None

    durable: ClassVar[bool] = True

    def __str__(self) -> str:
        return self.name


class DurableEvent(EventType):
    """Journaled: a seq on its stream, stored, replayed, persisted."""


class EphemeralEvent(EventType):
    """No seq, never journaled or persisted (typing, presence)."""

    durable = False


EVENTS: dict[str, EventType] = {}

_Grants = Callable[[dict[str, Any]], tuple[str, int]] | None
_Revokes = Callable[[dict[str, Any]], str] | None


def _add(event: _E) -> _E:
    known = EVENTS.get(event.name)
    if known is not None and known != event:
        raise ValueError(f"event type {event.name!r} is defined twice, differently")
    EVENTS[event.name] = event
    return event


def define(name: str, schema: dict[str, Any], *, kinds: tuple[str, ...],
           grants: _Grants = None, revokes: _Revokes = None) -> DurableEvent:
    """Register a durable event type (the same definition twice is a no-op)."""
    return _add(DurableEvent(name, schema, kinds, grants, revokes))


def define_ephemeral(name: str, schema: dict[str, Any], *,
                     kinds: tuple[str, ...]) -> EphemeralEvent:
    """Register an ephemeral event type."""
    return _add(EphemeralEvent(name, schema, kinds))


class EventSchemaError(ValueError):
    """An action built an event whose data does not match its type's schema."""


def problems(schema: Any, value: Any, at: str = "data") -> list[str]:
    """What is wrong with `value` against `schema` (empty: it matches)."""
    if isinstance(schema, Maybe):
        return [] if value is None else problems(schema.of, value, at)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{at} must be an object, got {type(value).__name__}"]
        found: list[str] = []
        for key in value.keys() - schema.keys():
            found.append(f"{at}.{key} is not a field of this event")
        for key, sub in schema.items():
            if key not in value:
                if not isinstance(sub, Opt):
                    found.append(f"{at}.{key} is missing")
                continue
            found += problems(sub.of if isinstance(sub, Opt) else sub, value[key], f"{at}.{key}")
        return found
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{at} must be a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in problems(schema[0], item, f"{at}[{i}]")]
    if schema is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, schema)
    return [] if ok else [f"{at} must be {schema.__name__}, got {type(value).__name__}"]


def check(stream: str, event: EventType, data: dict[str, Any]) -> None:
    kind = stream.partition(":")[0]
    found = [] if kind in event.kinds else [f"{event.name} is not sent on {kind} streams"]
    found += problems(event.schema, data)
    if found:
        raise EventSchemaError(f"{event.name} on {stream}: " + "; ".join(sorted(found)))


def encode(stream: str, event: EventType, data: dict[str, Any]) -> str:
    """The JSON frame of an event with no seq (ephemeral). Durable frames are built
    by the journal around their seq (realtime.journal.frame_parts)."""
    return json.dumps({"op": "event", "stream": stream, "type": event.name, "data": data},
                      separators=(",", ":"), ensure_ascii=False)
