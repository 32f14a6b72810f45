"""The op table: parse each request's fields, call one action or selector, shape the reply.

Handlers are called by ColloquySocket._on_frame with the decoded request and
return the fields of the ok frame; they raise ProtocolError for error frames.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings

from core.selectors import search_employees
from notifications import actions as notification_actions
from notifications import selectors as notification_selectors
from presence import actions as presence_actions
from realtime import streams
from realtime.access import kind_of, valid_stream
from realtime.db import run_db
from realtime.ids import id_value
from realtime.protocol import ErrorCode, ProtocolError, bad_request, field, id_field
from realtime.schema import EVENTS
from rooms import actions, selectors
from rooms.access import ROOM
from rooms.search import Cursor
from rooms.search import results as search_messages

if TYPE_CHECKING:
    from consumers.socket import ColloquySocket

Handler = Callable[["ColloquySocket", dict[str, Any]], Awaitable[dict[str, Any]]]


def _room(req: dict[str, Any]) -> int:
    return int(id_field(req, "room"))


def _usernames(req: dict[str, Any], name: str) -> list[str]:
    users = field(req, name, list, required=False, default=[])
    if not all(isinstance(u, str) and 0 < len(u) <= 150 for u in users):
        raise bad_request(f"field '{name}' must be a list of usernames")
    return users


def _stream(name: Any) -> str:
    if not valid_stream(name):
        raise bad_request(f"a stream is '<kind>:<id>' ('room:<id>', 'user:<id>', ...),"
                          f" got {name!r:.80}")
    return str(name)


def _readable(sock: ColloquySocket, stream: str) -> None:
    if not sock.can_read(stream):
        raise ProtocolError(ErrorCode.FORBIDDEN, f"you cannot read {stream}")


async def ping(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    """A heartbeat; any frame counts, this one just has nothing else to do."""
    return {"ts": int(time.time() * 1000)}


async def rooms_list(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return {"rooms": await selectors.list_rooms(sock.user_id)}


async def counts(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    rooms = await selectors.room_counts(sock.user_id)
    return {"rooms": rooms, "unread": sum(r["unread"] for r in rooms),
            "mentions": sum(r["mentions"] for r in rooms),
            "notifications": await run_db(notification_selectors.unread_count, sock.user_id)}


async def rooms_create(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    room, follow_from = await actions.create_room(
        sock, name=field(req, "name", str, required=False, default=""),
        kind=field(req, "kind", str, required=False, default="group"),
        usernames=_usernames(req, "members"),
        members_announce=field(req, "members_announce", bool, required=False, default=False),
    )
    if follow_from is not None:
        # Usable by the next frame, before room.added comes back through the bus.
        sock.access_granted(ROOM.stream(room["id"]), follow_from)
    return {"room": room}


async def rooms_invite(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.invite(sock, room_id=_room(req), usernames=_usernames(req, "users"))


async def rooms_leave(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    room = _room(req)
    result = await actions.leave(sock, room_id=room)
    sock.access_revoked(ROOM.stream(room))
    return result


async def rooms_members(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.members(sock, room_id=_room(req))


async def message_send(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    room = _room(req)
    reply = await actions.send_message(
        sock, room_id=room, body=field(req, "body", str),
        client_id=field(req, "client_id", str), thread=field(req, "thread", str, required=False),
        requires_ack=field(req, "requires_ack", bool, required=False, default=False),
    )
    if room in sock.typing_rooms:
        sock.typing_rooms.discard(room)
        await presence_actions.message_sent(sock, room)
    return reply


def _message(req: dict[str, Any]) -> str:
    return field(req, "message", str)


async def message_edit(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.edit_message(sock, room_id=_room(req), message_id=_message(req),
                                      body=field(req, "body", str))


async def message_delete(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.delete_message(sock, room_id=_room(req), message_id=_message(req))


async def message_versions(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.message_versions(sock, room_id=_room(req), message_id=_message(req))


async def message_ack(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.ack_message(sock, room_id=_room(req), message_id=_message(req))


async def acks_list(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.list_acks(sock, room_id=_room(req), message_id=_message(req))


async def reaction_add(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.react(sock, room_id=_room(req), message_id=_message(req),
                               emoji=field(req, "emoji", str), add=True)


async def thread_follow(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.follow_thread(sock, room_id=_room(req), message_id=_message(req),
                                       following=True)


async def thread_unfollow(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.follow_thread(sock, room_id=_room(req), message_id=_message(req),
                                       following=False)


async def reaction_remove(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.react(sock, room_id=_room(req), message_id=_message(req),
                               emoji=field(req, "emoji", str), add=False)


async def history(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    stream = _stream(field(req, "stream", str))
    before = field(req, "before", int, required=False)
    after = field(req, "after", int, required=False)
    limit = field(req, "limit", int, required=False, default=50)
    if before is not None and after is not None:
        raise bad_request("give 'before' or 'after', not both")
    if not 1 <= limit <= settings.HISTORY_MAX_LIMIT:
        raise bad_request(f"field 'limit' must be 1 to {settings.HISTORY_MAX_LIMIT}")
    if (before is not None and before < 0) or (after is not None and after < 0):
        raise bad_request("seq cursors are never negative")
    _readable(sock, stream)
    thread = field(req, "thread", str, required=False)
    if thread is None:
        rows = await streams.read(stream, after=after, before=before, limit=limit, reader=sock)
        return {"stream": stream, "events": [json.loads(frame) for _, frame in rows]}
    if kind_of(stream) is not ROOM:
        raise bad_request("field 'thread' pages a room's thread: 'stream' must be a room")
    rows = await actions.thread_page(sock, room_id=ROOM.ident(stream),
                                     message_id=thread, before=before, after=after,
                                     limit=limit)
    return {"stream": stream, "thread": thread,
            "events": [json.loads(frame) for _, frame in rows]}


async def resume(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    """Replays each stream after the given seq; the events precede this reply."""
    wanted = field(req, "streams", dict)
    if len(wanted) > len(sock.streams) + 1:
        raise bad_request("more streams than this socket can read")
    positions: dict[str, int] = {}
    for name, last in wanted.items():
        stream = _stream(name)
        if isinstance(last, bool) or not isinstance(last, int) or not 0 <= last < 2**62:
            raise bad_request(f"the last seq for {stream} must be a non-negative integer")
        positions[stream] = last
    for stream in positions:
        _readable(sock, stream)
    # Streams granted while the client was away (rooms joined): the granting event,
    # replayed from the user stream, says from which seq the client has to hear them.
    joined: dict[str, int] = {}

    def note_joins(frame: str) -> None:
        event = json.loads(frame)
        kind = EVENTS.get(event["type"])
        if kind is not None and kind.grants is not None:
            stream, from_seq = kind.grants(event["data"])
            joined[stream] = from_seq - 1

    more: dict[str, int] = {}
    for stream in sorted(positions, key=lambda s: not s.startswith("user:")):
        note = note_joins if stream.startswith("user:") else None
        if await sock.replay(stream, positions[stream], settings.RESUME_MAX_EVENTS, note):
            more[stream] = sock.sent[stream]
    for stream, after in joined.items():
        if stream not in positions and sock.can_read(stream):
            positions[stream] = after
            if await sock.replay(stream, after, settings.RESUME_MAX_EVENTS):
                more[stream] = sock.sent[stream]
    sock.release_held()
    return {"streams": {s: sock.sent.get(s, positions[s]) for s in positions}, "more": more}


async def read(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    seq = field(req, "seq", int)
    return await actions.mark_read(sock, room_id=_room(req), seq=seq)


def _user_ids(req: dict[str, Any]) -> list[int]:
    users = field(req, "users", list)
    if not all(id_value(u) is not None for u in users):
        raise bad_request("field 'users' must be a list of user ids (positive integers)")
    return list(dict.fromkeys(users))


async def presence_set(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await presence_actions.set_status(sock, field(req, "status", str))


async def presence_query(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await presence_actions.query(sock, _user_ids(req))


async def presence_subscribe(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await presence_actions.subscribe(sock, _user_ids(req))


async def typing(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    room = _room(req)
    thread = field(req, "thread", str, required=False, default="")
    if len(thread) > 64:
        raise bad_request("field 'thread' must be at most 64 characters")
    active = field(req, "active", bool, required=False, default=True)
    reply = await presence_actions.typing(sock, room, thread, active)
    if active and reply["relayed"]:
        sock.typing_rooms.add(room)
    return reply


async def employees_search(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    """The directory, for picking colleagues; guests may not browse it."""
    query = field(req, "query", str, required=False, default="")
    limit = field(req, "limit", int, required=False, default=20)
    if len(query) > 100 or not 1 <= limit <= 50:
        raise bad_request("'query' is at most 100 characters and 'limit' 1 to 50")
    if sock.principal.role == "guest":
        raise ProtocolError(ErrorCode.FORBIDDEN, "guests cannot browse the directory")
    return {"employees": await run_db(search_employees, query.strip(), limit)}


async def search(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    """Messages of the rooms I am in now (or of one), newest first. `before` in the
    reply continues the search (null: no more)."""
    query = field(req, "query", str).strip()
    room = field(req, "room", int, required=False)
    after_page = field(req, "before", str, required=False)
    limit = field(req, "limit", int, required=False, default=20)
    before = Cursor.parse(after_page) if after_page is not None else None
    if after_page is not None and before is None:
        raise bad_request("field 'before' must be the `before` of a previous search reply")
    if not query:
        raise bad_request("field 'query' must not be empty")
    if len(query) > settings.SEARCH_MAX_QUERY_CHARS:
        raise ProtocolError(ErrorCode.TOO_LARGE, "a query is at most"
                            f" {settings.SEARCH_MAX_QUERY_CHARS} characters")
    if not 1 <= limit <= settings.SEARCH_MAX_LIMIT:
        raise bad_request(f"field 'limit' must be 1 to {settings.SEARCH_MAX_LIMIT}")
    if room is not None:
        actions.require_member(sock, room)
    rooms = [room] if room is not None else sorted(sock.rooms)
    return await run_db(search_messages, query, rooms, before=before, limit=limit)


async def notifications_list(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    """My notification centre, newest first; `unread` counts all unread."""
    before = field(req, "before", int, required=False)
    limit = field(req, "limit", int, required=False, default=30)
    unread_only = field(req, "unread_only", bool, required=False, default=False)
    if not 1 <= limit <= settings.NOTIFICATIONS_MAX_LIMIT:
        raise bad_request(f"field 'limit' must be 1 to {settings.NOTIFICATIONS_MAX_LIMIT}")
    return await run_db(notification_selectors.list_for, sock.principal.id, before=before,
                        limit=limit, unread_only=unread_only)


async def notifications_read(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await notification_actions.mark_read(
        sock, ids=field(req, "ids", list, required=False),
        up_to=field(req, "up_to", int, required=False))


async def notifications_prefs(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await notification_actions.set_prefs(sock, off=field(req, "off", list,
                                                                required=False))


async def rooms_mute(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.mute_room(sock, room_id=_room(req), level=field(req, "level", str),
                                   until=field(req, "until", int, required=False))


async def receipts(sock: ColloquySocket, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.read_receipts(sock, room_id=_room(req), message_id=_message(req))


OPS: dict[str, Handler] = {
    "ping": ping,
    "rooms.list": rooms_list,
    "counts": counts,
    "rooms.create": rooms_create,
    "rooms.invite": rooms_invite,
    "rooms.leave": rooms_leave,
    "rooms.members": rooms_members,
    "message.send": message_send,
    "message.edit": message_edit,
    "message.delete": message_delete,
    "message.versions": message_versions,
    "message.ack": message_ack,
    "acks.list": acks_list,
    "reaction.add": reaction_add,
    "reaction.remove": reaction_remove,
    "thread.follow": thread_follow,
    "thread.unfollow": thread_unfollow,
    "history": history,
    "resume": resume,
    "read": read,
    "presence.set": presence_set,
    "presence.query": presence_query,
    "presence.subscribe": presence_subscribe,
    "typing": typing,
    "employees.search": employees_search,
    "search": search,
    "notifications.list": notifications_list,
    "notifications.read": notifications_read,
    "notifications.prefs": notifications_prefs,
    "rooms.mute": rooms_mute,
    "receipts": receipts,
}
