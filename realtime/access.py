"""Stream kinds: what each kind of stream is, who may read it, what access changes mean.

Every stream is named "<kind>:<id>" with a positive integer id. Each app
registers its kinds from its AppConfig.ready; history, resume and live
delivery all ask `can_read` here, so one rule per kind decides who reads it
everywhere. The spine knows one kind itself: `user:<id>`, each employee's own
stream, which carries the events that change what they may read.

A kind whose readers are its members (rooms, boards) says which of its streams
a user holds (`held_by`, read once when a socket opens); from then on events
whose type `grants` or `revokes` access (realtime.schema), sent on the user's
own stream, keep every live socket of that user true, on every process.
`access.granted` / `access.revoked` are the generic such events; an app may
define its own (rooms keeps its documented `room.added` / `room.removed`).

Whoever acts (a socket, the admin, a command) is a `Reader`: its principal
and the member streams it holds, cached by the socket or fetched by
`reader_for` for callers without one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from realtime.auth import Principal
from realtime.ids import parse_stream
from realtime.schema import define


class Reader(Protocol):
    """Who reads or acts, and the member streams they hold."""

    principal: Principal
    granted: set[str]


class Session(Reader, Protocol):
    """A reader on a live socket: an op that grants or revokes access follows the
    change at once, before its event comes back through the bus."""

    def access_granted(self, stream: str, from_seq: int) -> None: ...
    def access_revoked(self, stream: str) -> None: ...


def holds(reader: Reader, stream: str) -> bool:
    """The rule of member kinds: readable while the reader holds the stream."""
    return stream in reader.granted


@dataclass(frozen=True)
class StreamKind:
    name: str
    # Whether `reader` may read `stream` (a valid name of this kind). Called on
    # every history and resume request and for every access change: keep it a
    # lookup, never a query.
    can_read: Callable[[Reader, str], bool] = holds
    # The streams of this kind a user holds, read once per socket at connect (sync,
    # run in a thread). None: the kind has no members (the user kind).
    held_by: Callable[[int], Iterable[str]] | None = None
    # How stored events (seq, frame) are shown to `reader` now, for history and
    # resume: a kind whose events describe things that later change or vanish
    # (an edited or deleted message) rewrites them here. None: as stored.
    restate: Callable[[Reader, list[tuple[int, str]]],
                      Awaitable[list[tuple[int, str]]]] | None = None

    def stream(self, ident: int) -> str:
        return f"{self.name}:{ident}"

    def ident(self, stream: str) -> int:
        """The id of a stream of this kind (already checked by valid_stream)."""
        parsed = parse_stream(stream)
        if parsed is None or parsed[0] != self.name:
            raise ValueError(f"not a {self.name} stream: {stream!r:.80}")
        return parsed[1]


KINDS: dict[str, StreamKind] = {}


def register(kind: StreamKind) -> StreamKind:
    """Add a stream kind (from an AppConfig.ready); the same kind twice is a no-op."""
    known = KINDS.get(kind.name)
    if known is not None and known != kind:
        raise ValueError(f"stream kind {kind.name!r} is registered twice, differently")
    KINDS[kind.name] = kind
    return kind


# How apps rewrite their own events on a user's stream for history and resume
# (notifications drop the preview of a message deleted since): each gets the
# rows and returns them, in registration order.
USER_RESTATERS: list[Callable[[Reader, list[tuple[int, str]]],
                              Awaitable[list[tuple[int, str]]]]] = []


async def _restate_user(reader: Reader, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    for restater in USER_RESTATERS:
        rows = await restater(reader, rows)
    return rows


USER = register(StreamKind(
    "user", can_read=lambda reader, stream: stream == f"user:{reader.principal.id}",
    restate=_restate_user))


def valid_stream(name: object) -> bool:
    """A well-formed name of a registered kind (says nothing about who may read it)."""
    parsed = parse_stream(name)
    return parsed is not None and parsed[0] in KINDS


def kind_of(stream: str) -> StreamKind | None:
    return KINDS.get(stream.partition(":")[0])


def can_read(reader: Reader, stream: str) -> bool:
    kind = kind_of(stream)
    return kind is not None and kind.can_read(reader, stream)


def held_by(user_id: int) -> set[str]:
    """Every member stream a user holds, across all kinds (sync: the database)."""
    return {s for kind in KINDS.values() if kind.held_by is not None
            for s in kind.held_by(user_id)}


@dataclass
class FetchedReader:
    """A reader for callers without a socket (the admin, commands): fetched once."""

    principal: Principal
    granted: set[str]


def reader_for(user: Any, *, staff: bool = False) -> FetchedReader:
    """The Reader of an Employee (sync: reads the database). `staff`: acting in the
    Django admin, which has checked the model permission itself, so the action
    sees an administrator whatever the employee's role."""
    principal = Principal(id=user.pk, username=user.username, name=user.name,
                          role="admin" if staff else user.role, method="system")
    return FetchedReader(principal, held_by(user.pk))


# The generic access events, for kinds with no event of their own.
ACCESS_GRANTED = define(
    "access.granted", {"stream": str, "from_seq": int}, kinds=("user",),
    grants=lambda data: (data["stream"], data["from_seq"]))
ACCESS_REVOKED = define(
    "access.revoked", {"stream": str}, kinds=("user",),
    revokes=lambda data: data["stream"])
