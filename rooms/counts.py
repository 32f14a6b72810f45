"""Unread counts of rooms, kept by the journal's tallies (realtime.journal.Count).

A room's own messages (not thread replies: those reach the people who follow
the thread through the notification centre) join tallies on the room stream in
the same atomic step that gives them their seq, and a delete takes them out in
the step that appends `message.deleted`. A member's counts are then a few
O(log n) range counts above their read marker:

  unread   = all - by:<me>                  (others' messages after my marker)
  mentions = @<me> + @room - @room-by:<me>  (those that name me, or the room)

No counter per member is written per message, so a message into a room of
thousands costs the same as into a room of two, and no sequence of sends,
edits, deletes, reads, leaves or reconnects can make a count drift: it is
recomputed from the set of messages each time, in one snapshot with the head.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from realtime.journal import Count, Tallied, TallyQuery

ALL = "all"
AT_ROOM = "@room"


def _by(user_id: int) -> str:
    return f"by:{user_id}"


def _at(user_id: int) -> str:
    return f"@{user_id}"


def _at_room_by(user_id: int) -> str:
    return f"@room-by:{user_id}"


def _names(author: int, mentions: Iterable[int], everyone: bool) -> tuple[str, ...]:
    names = [ALL, _by(author), *(_at(u) for u in sorted(set(mentions)) if u != author)]
    if everyone:
        names += [AT_ROOM, _at_room_by(author)]
    return tuple(names)


def on_send(author: int, data: dict[str, Any]) -> Count:
    """The tallies a new top-level message joins."""
    return Count(add=_names(author, data.get("mentions", ()), bool(data.get("mentions_room"))))


def on_delete(seq: int, data: dict[str, Any]) -> Count:
    """Take the message sent as `data` (its message.created data) out of them."""
    names = _names(data["author"]["id"], data.get("mentions", ()),
                   bool(data.get("mentions_room")))
    return Count(drop=(seq,), drop_from=names)


def query(room_id: int, user_id: int, read_seq: int) -> TallyQuery:
    return TallyQuery(f"room:{room_id}", read_seq,
                      (ALL, _by(user_id), _at(user_id), AT_ROOM, _at_room_by(user_id)),
                      last_of=ALL)


@dataclass(frozen=True)
class RoomCounts:
    unread: int
    mentions: int
    head: int  # the room's last seq when counted: events up to it are included
    last: int  # seq of the room's newest message, 0 for none


def of(user_id: int, tallied: Tallied) -> RoomCounts:
    c = tallied.counts
    return RoomCounts(
        unread=c[ALL] - c[_by(user_id)],
        mentions=c[_at(user_id)] + c[AT_ROOM] - c[_at_room_by(user_id)],
        head=tallied.head, last=tallied.last)
