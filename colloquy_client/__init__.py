"""A small asyncio client for the Colloquy wire protocol (docs/protocol.md).

    client = Client("ws://127.0.0.1:8000/ws/", token="cq_…")
    await client.connect()
    room = (await client.request("rooms.create", name="Ops", members=["alan"]))["room"]
    await client.request("message.send", room=room["id"], body="hi", client_id="c-1")
    event = await client.next_event()

It keeps the last seq of every stream it has seen. With `auto_reconnect`, a
dropped socket is reopened with backoff and jitter, and the first request on
the new socket is `resume` with those seqs, so nothing is missed or repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
from collections.abc import Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["OP_METHODS", "Client", "ColloquyError", "ConnectionLost"]

JSON = "colloquy.v1.json"
MSGPACK = "colloquy.v1.msgpack"


class ColloquyError(Exception):
    """The server answered a request with an error frame."""

    def __init__(self, code: str, message: str, frame: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.frame = frame


class ConnectionLost(Exception):
    """The socket closed before the reply arrived; `code` is the close code."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}) {reason}".strip())
        self.code = code
        self.reason = reason


class Client:
    def __init__(
        self, url: str, *, token: str | None = None, ticket: str | None = None,
        codec: str = "json", headers: dict[str, str] | None = None,
        auto_reconnect: bool = False, ticket_factory: Callable[[], Any] | None = None,
        max_size: int = 16 * 2**20,
    ) -> None:
        self.url = url
        self.token = token
        self.ticket = ticket
        self.ticket_factory = ticket_factory
        self.subprotocol = MSGPACK if codec == "msgpack" else JSON
        self.headers = dict(headers or {})
        self.auto_reconnect = auto_reconnect
        self.max_size = max_size
        self.hello: dict[str, Any] | None = None
        self.last_seq: dict[str, int] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.duplicates = 0  # stream events that arrived with an already-seen seq
        self.close_code: int | None = None
        self.close_reason = ""
        self.reconnects = 0
        # "connecting", "connected", "reconnecting", "resumed" (after a reconnect, once
        # the replay is in), "closed"; each change is told to every `on_state` callback.
        self.state = "connecting"
        self.replayed = 0  # events the last resume replayed (the missed ones)
        self.on_state: list[Callable[[str], Any]] = []
        self._resume_ref: int | None = None
        self._replaying = 0
        self._live = asyncio.Event()  # set while requests may go out (after any resume)
        self._refs = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None
        self._reconnecting = False
        self._closed_by_us = False
        self._ready = asyncio.Event()

    # --- connection ------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, **options: Any) -> Client:
        """A client connected and started: its first request is `resume`, so live
        events flow from here on (`connect()` alone leaves that first request to you)."""
        client = cls(url, **options)
        await client.connect()
        await client.resume()
        return client

    @classmethod
    async def login(cls, url: str, username: str, password: str, **options: Any) -> Client:
        """Client.open for the employee: fetches a token (POST /api/auth/token) from
        the server at `url` (its base URL or its /ws/ address) first."""
        from colloquy_client.auth import fetch_token, socket_url

        token = await fetch_token(url, username, password)
        return await cls.open(socket_url(url), token=token, **options)

    @property
    def binary(self) -> bool:
        return self.subprotocol == MSGPACK

    def _set_state(self, state: str) -> None:
        self.state = state
        if state in ("connected", "resumed", "closed"):
            self._live.set()  # "closed" too: a waiting send must learn it is over
        else:
            self._live.clear()
        for callback in list(self.on_state):
            callback(state)

    async def connect(self) -> dict[str, Any]:
        """Open the socket and wait for hello; returns the hello frame."""
        await self._open()
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read_loop())
        self._pinger = loop.create_task(self._ping_loop())
        await self._ready.wait()
        assert self.hello is not None
        self._set_state("connected")
        return self.hello

    async def _open(self) -> None:
        url = self.url
        headers = dict(self.headers)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        ticket = self.ticket
        if self.ticket_factory is not None:
            ticket = await self.ticket_factory()
        if ticket:
            url += ("&" if "?" in url else "?") + f"ticket={ticket}"
            self.ticket = None  # single use
        self._ws = await connect(
            url, additional_headers=headers, subprotocols=[self.subprotocol],
            max_size=self.max_size, open_timeout=10, ping_interval=20,
        )
        self.hello = self._decode(await self._ws.recv())
        if not self._ready.is_set():
            # First connect: where each stream stood is the resume point for streams
            # on which no event arrives before a disconnect. (On a reconnect, rooms
            # joined meanwhile are caught up by the server from their room.added.)
            for stream, seq in self.hello.get("streams", {}).items():
                self.last_seq.setdefault(stream, seq)
        else:
            # Streams this socket can no longer read (rooms left while away) would
            # make the whole resume forbidden.
            readable = self.hello.get("streams", {})
            for stream in [s for s in self.last_seq if s not in readable]:
                del self.last_seq[stream]
        self._ready.set()

    async def close(self) -> None:
        self._closed_by_us = True
        self._set_state("closed")
        if self._ws is not None:
            await self._ws.close()
        if self._pinger is not None:
            self._pinger.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Wait for the server to close the socket; returns the close code."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    # --- frames ----------------------------------------------------------------

    def _encode(self, frame: dict[str, Any]) -> str | bytes:
        if self.binary:
            return msgpack.packb(frame, use_bin_type=True)
        return json.dumps(frame)

    def _decode(self, raw: str | bytes) -> dict[str, Any]:
        if isinstance(raw, bytes):
            return msgpack.unpackb(raw, raw=False)
        return json.loads(raw)

    async def send_raw(self, raw: str | bytes) -> None:
        """Send a frame exactly as given (tests of bad input use this)."""
        assert self._ws is not None
        await self._ws.send(raw)

    async def request(self, op: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        """Send {"op": op, "ref": …, **fields}; return the ok frame or raise ColloquyError."""
        ref = next(self._refs)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            assert self._ws is not None
            await self._ws.send(self._encode({"op": op, "ref": ref, **fields}))
            reply = await asyncio.wait_for(future, timeout)
        except ConnectionClosed as exc:
            raise ConnectionLost(exc.rcvd.code if exc.rcvd else None) from None
        finally:
            self._pending.pop(ref, None)
        if reply["op"] == "error":
            raise ColloquyError(reply["code"], reply["message"], reply)
        return reply

    # --- rooms, messages, presence (docs/protocol.md, sections 4 and 5) --------

    async def ping(self) -> dict[str, Any]:
        return await self.request("ping")

    async def rooms(self) -> list[dict[str, Any]]:
        """rooms.list: my rooms, each with its counts and last message."""
        return list((await self.request("rooms.list"))["rooms"])

    async def create_room(self, name: str, members: list[str] | None = None, *,
                          kind: str = "group", **options: Any) -> dict[str, Any]:
        """rooms.create: the room (a direct conversation: kind="direct", one member)."""
        reply = await self.request("rooms.create", name=name, members=members or [],
                                   kind=kind, **options)
        return dict(reply["room"])

    async def invite(self, room: int, users: list[str]) -> list[str]:
        """rooms.invite: the usernames that were not members before."""
        return list((await self.request("rooms.invite", room=room, users=users))["added"])

    async def leave(self, room: int) -> dict[str, Any]:
        return await self.request("rooms.leave", room=room)

    async def members(self, room: int) -> list[dict[str, Any]]:
        """rooms.members: user objects, by id."""
        return list((await self.request("rooms.members", room=room))["members"])

    async def send(self, room: int, body: str, *, client_id: str | None = None,
                   thread: str | None = None, within: float = 60.0) -> dict[str, Any]:
        """message.send: {"id", "seq", "ts", "duplicate"}; one `client_id` is made
        when none is given. With auto_reconnect, a send cut off by a lost socket is
        sent again once the client has reconnected and resumed, with the same
        client_id, for up to `within` seconds: the server stores it once whether or
        not the first try reached it (the reply then says `duplicate`)."""
        fields: dict[str, Any] = {"room": room, "body": body,
                                  "client_id": client_id or secrets.token_hex(16)}
        if thread is not None:
            fields["thread"] = thread
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                return await self.request("message.send", **fields)
            except ConnectionLost:
                left = deadline - asyncio.get_running_loop().time()
                if not self.auto_reconnect or self.state == "closed" or left <= 0:
                    raise
                if self._ws_closed():
                    # The reader notices the drop a moment after the request did; wait
                    # for the socket that replaces this one.
                    self._live.clear()
                await asyncio.wait_for(self._live.wait(), left)
                if self.state == "closed":
                    raise

    def _ws_closed(self) -> bool:
        from websockets.protocol import State

        return self._ws is None or self._ws.protocol.state is not State.OPEN

    async def history(self, room: int, *, before: int | None = None, after: int | None = None,
                      limit: int = 50) -> list[dict[str, Any]]:
        """history of a room: its events, oldest first (`before`/`after`: seq bounds)."""
        fields: dict[str, Any] = {"stream": f"room:{room}", "limit": limit}
        if before is not None:
            fields["before"] = before
        if after is not None:
            fields["after"] = after
        return list((await self.request("history", **fields))["events"])

    async def resume(self) -> dict[str, Any]:
        """resume from every stream's last seq, until nothing is left to replay (a
        reconnect sends it by itself). As the socket's first request it also starts
        live events: the server holds them until then (protocol.md, "Connecting")."""
        reply = await self.request("resume", streams=dict(self.last_seq))
        while reply.get("more"):
            reply = await self.request("resume", streams=dict(reply["more"]))
        return reply

    async def mark_read(self, room: int, seq: int) -> int:
        """read: my marker in the room now (markers only move forward)."""
        return int((await self.request("read", room=room, seq=seq))["seq"])

    async def set_presence(self, status: str) -> dict[str, Any]:
        """presence.set: "online" or "away" (away sticks until set online again)."""
        return await self.request("presence.set", status=status)

    async def query_presence(self, users: list[int]) -> list[dict[str, Any]]:
        """presence.query: [{"user", "status", "last_seen"}], in the order asked."""
        return list((await self.request("presence.query", users=users))["users"])

    async def subscribe_presence(self, users: list[int]) -> list[dict[str, Any]]:
        """presence.subscribe: replaces this socket's watched list; the state now."""
        return list((await self.request("presence.subscribe", users=users))["users"])

    async def typing(self, room: int, *, active: bool = True,
                     thread: str | None = None) -> bool:
        """typing: whether the server relayed it (at most one per few seconds)."""
        fields: dict[str, Any] = {"room": room, "active": active}
        if thread is not None:
            fields["thread"] = thread
        return bool((await self.request("typing", **fields))["relayed"])

    async def search_employees(self, query: str = "", *, limit: int = 20
                               ) -> list[dict[str, Any]]:
        """employees.search: the directory, by name, username, title or department."""
        return list((await self.request("employees.search", query=query,
                                        limit=limit))["employees"])

    # --- edits, deletes, reactions (docs/protocol.md, section 6) ---------------

    async def edit_message(self, room: int, message: str, body: str) -> dict[str, Any]:
        """message.edit: the ok frame carries the new `version` (`seq` null: unchanged)."""
        return await self.request("message.edit", room=room, message=message, body=body)

    async def delete_message(self, room: int, message: str) -> dict[str, Any]:
        """message.delete: ok again (`seq` null) if it was deleted already."""
        return await self.request("message.delete", room=room, message=message)

    async def message_versions(self, room: int, message: str) -> list[dict[str, Any]]:
        """message.versions: every body the message had, oldest first."""
        reply = await self.request("message.versions", room=room, message=message)
        return list(reply["versions"])

    async def react(self, room: int, message: str, emoji: str) -> dict[str, Any]:
        """reaction.add: idempotent; the ok frame carries the emoji's `count`."""
        return await self.request("reaction.add", room=room, message=message, emoji=emoji)

    async def unreact(self, room: int, message: str, emoji: str) -> dict[str, Any]:
        """reaction.remove: idempotent, like react."""
        return await self.request("reaction.remove", room=room, message=message, emoji=emoji)

    # --- threads (docs/protocol.md, "Threads") ------------------------------------

    async def reply(self, room: int, thread: str, body: str, client_id: str) -> dict[str, Any]:
        """message.send with `thread`: a reply in the thread of that message."""
        return await self.request("message.send", room=room, thread=thread, body=body,
                                  client_id=client_id)

    async def thread_history(self, room: int, thread: str, *, before: int | None = None,
                             limit: int = 50) -> list[dict[str, Any]]:
        """history with `thread`: the thread's replies (message.created events), oldest first."""
        fields: dict[str, Any] = {"stream": f"room:{room}", "thread": thread, "limit": limit}
        if before is not None:
            fields["before"] = before
        return list((await self.request("history", **fields))["events"])

    async def follow_thread(self, room: int, message: str) -> dict[str, Any]:
        """thread.follow: idempotent (`seq` null when already following)."""
        return await self.request("thread.follow", room=room, message=message)

    async def unfollow_thread(self, room: int, message: str) -> dict[str, Any]:
        """thread.unfollow: idempotent, like follow_thread."""
        return await self.request("thread.unfollow", room=room, message=message)

    async def search(self, query: str, *, room: int | None = None, before: int | None = None,
                     limit: int = 20) -> dict[str, Any]:
        """search: {"results": [...], "before": the cursor for the next page, or None}."""
        fields: dict[str, Any] = {"query": query, "limit": limit}
        if room is not None:
            fields["room"] = room
        if before is not None:
            fields["before"] = before
        reply = await self.request("search", **fields)
        return {"results": reply["results"], "before": reply["before"]}

    # --- the notification centre (docs/protocol.md, "Notifications") ------------

    async def announce(self, room: int, body: str, client_id: str) -> dict[str, Any]:
        """message.send with requires_ack: every other member is asked to acknowledge."""
        return await self.request("message.send", room=room, body=body, client_id=client_id,
                                  requires_ack=True)

    async def ack_message(self, room: int, message: str) -> dict[str, Any]:
        """message.ack: acknowledge the announcement as it is now (idempotent)."""
        return await self.request("message.ack", room=room, message=message)

    async def acks(self, room: int, message: str) -> dict[str, Any]:
        """acks.list: who has acknowledged the current version and who has not."""
        return await self.request("acks.list", room=room, message=message)

    # --- round tables ------------------------------------------------------------

    async def roundtable(self, roundtable: int, *, chat: bool = False) -> dict[str, Any]:
        """roundtable.get: the whole state; this socket follows the round table's
        stream from the snapshot's seq on (and resume carries on from there)."""
        reply = await self.request("roundtable.get", roundtable=roundtable, chat=chat)
        stream = f"roundtable:{roundtable}"
        self.last_seq[stream] = max(self.last_seq.get(stream, 0), reply["seq"])
        return reply

    async def roundtables(self) -> list[dict[str, Any]]:
        """roundtables.list: upcoming, live and past round tables I may see."""
        return (await self.request("roundtables.list"))["roundtables"]

    async def create_roundtable(self, title: str, starts_at: int, hosts: list[str], *,
                                moderators: list[str] | None = None,
                                audience: dict[str, Any] | None = None,
                                description: str = "", premoderation: bool = False,
                                stream_url: str = "") -> dict[str, Any]:
        """roundtable.create (executives, administrators): {"roundtable", "seq"}.
        `audience`: {"kind": "everyone"} (the default), {"kind": "departments",
        "departments": [...]} or {"kind": "room", "room": id}."""
        return await self.request(
            "roundtable.create", title=title, starts_at=starts_at, hosts=hosts,
            moderators=moderators or [], audience=audience or {"kind": "everyone"},
            description=description, premoderation=premoderation, stream_url=stream_url)

    async def start_roundtable(self, roundtable: int) -> dict[str, Any]:
        """roundtable.start: scheduled → live (hosts, moderators)."""
        return await self.request("roundtable.start", roundtable=roundtable)

    async def end_roundtable(self, roundtable: int) -> dict[str, Any]:
        """roundtable.end: live → ended (hosts, moderators)."""
        return await self.request("roundtable.end", roundtable=roundtable)

    async def ask(self, roundtable: int, body: str, client_id: str, *,
                  anonymous: bool = False) -> dict[str, Any]:
        return await self.request("question.ask", roundtable=roundtable, body=body,
                                  client_id=client_id, anonymous=anonymous)

    async def edit_question(self, question: int, body: str) -> dict[str, Any]:
        """question.edit: my own question, while unanswered."""
        return await self.request("question.edit", question=question, body=body)

    async def withdraw_question(self, question: int) -> dict[str, Any]:
        """question.withdraw: my own question, while unanswered."""
        return await self.request("question.withdraw", question=question)

    async def vote(self, question: int, up: bool = True) -> dict[str, Any]:
        return await self.request("question.vote", question=question, up=up)

    async def moderate(self, question: int, action: str, *, reason: str = "",
                       into: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"question": question, "action": action, "reason": reason}
        if into is not None:
            fields["into"] = into
        return await self.request("question.moderate", **fields)

    async def pin(self, roundtable: int, question: int | None) -> dict[str, Any]:
        return await self.request("question.pin", roundtable=roundtable, question=question)

    async def answer(self, question: int, answer: str = "") -> dict[str, Any]:
        return await self.request("question.answer", question=question, answer=answer)

    async def counts(self) -> list[dict[str, Any]]:
        """Each of my rooms' read marker, unread and mentions, as of its `head` seq
        (colloquy_client.counts.Counts keeps them current from events)."""
        return (await self.request("counts"))["rooms"]

    async def notifications(self, *, before: int | None = None, limit: int = 30,
                            unread_only: bool = False) -> dict[str, Any]:
        """notifications.list: {"notifications", "unread", "before"} (newest first)."""
        fields: dict[str, Any] = {"limit": limit, "unread_only": unread_only}
        if before is not None:
            fields["before"] = before
        reply = await self.request("notifications.list", **fields)
        return {k: reply[k] for k in ("notifications", "unread", "before")}

    async def read_notifications(self, ids: list[int] | None = None, *,
                                 up_to: int | None = None) -> dict[str, Any]:
        """notifications.read: these ids, or everything up to `up_to`."""
        fields: dict[str, Any] = {"ids": ids} if ids is not None else {"up_to": up_to}
        return await self.request("notifications.read", **fields)

    async def receipts(self, room: int, message: str) -> dict[str, Any]:
        """receipts: {"message", "seq", "read_by": [{user, seq, at}], "members"}."""
        reply = await self.request("receipts", room=room, message=message)
        return {k: reply[k] for k in ("message", "seq", "read_by", "members")}

    async def notification_prefs(self, off: list[str] | None = None) -> list[str]:
        """notifications.prefs: turn these kinds off (all others on); None: just read them."""
        fields: dict[str, Any] = {"off": off} if off is not None else {}
        return list((await self.request("notifications.prefs", **fields))["off"])

    async def mute_room(self, room: int, level: str, until: int | None = None
                        ) -> dict[str, Any]:
        """rooms.mute: "all", "mentions" or "nothing", until `until` (ms) if given."""
        fields: dict[str, Any] = {"room": room, "level": level}
        if until is not None:
            fields["until"] = until
        return await self.request("rooms.mute", **fields)

    async def next_event(self, timeout: float = 10.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def events_of(self, type_: str, count: int, timeout: float = 10.0,
                        stream: str | None = None) -> list[dict[str, Any]]:
        """The next `count` events of one type (others are skipped)."""
        found: list[dict[str, Any]] = []

        async def collect() -> None:
            while len(found) < count:
                event = await self.events.get()
                if event["type"] == type_ and (stream is None or event["stream"] == stream):
                    found.append(event)

        await asyncio.wait_for(collect(), timeout)
        return found

    def drain_events(self) -> list[dict[str, Any]]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    async def _ping_loop(self) -> None:
        """The server closes a socket that says nothing for 3 heartbeats (4008)."""
        while True:
            await asyncio.sleep((self.hello or {}).get("heartbeat_s", 25))
            ws = self._ws
            if ws is None or self._reconnecting:
                continue  # after a reconnect, resume must be the first request
            with contextlib.suppress(ConnectionClosed):
                await ws.send(self._encode({"op": "ping", "ref": "heartbeat"}))

    # --- reading ---------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op in ("ok", "error"):
            if self._resume_ref is not None and frame.get("ref") == self._resume_ref:
                self._resumed(frame)
                return
            future = self._pending.get(frame.get("ref"))
            if future is not None and not future.done():
                future.set_result(frame)
            return
        if op == "event":
            seq = frame.get("seq")
            if seq is not None:
                stream = frame["stream"]
                if seq <= self.last_seq.get(stream, 0):
                    self.duplicates += 1
                    return
                self.last_seq[stream] = seq
                if self._resume_ref is not None:
                    self._replaying += 1
                kind = frame.get("type")
                if kind == "room.added":
                    room = f"room:{frame['data']['room']['id']}"
                    self.last_seq.setdefault(room, frame["data"]["seq"] - 1)
                elif kind == "room.removed":
                    self.last_seq.pop(f"room:{frame['data']['room']['id']}", None)
            self.events.put_nowait(frame)

    async def _read_loop(self) -> None:
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for raw in ws:
                    self._on_frame(self._decode(raw))
            except ConnectionClosed:
                pass
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason or ""
            # 4001: the token was revoked; 4003: the employee was deactivated. Coming
            # back would be refused (docs/protocol.md, "Close codes").
            final = (self._closed_by_us or not self.auto_reconnect
                     or self.close_code in (4001, 4003))
            # The state first: a request that fails next knows whether to wait.
            self._set_state("closed" if final else "reconnecting")
            lost = ConnectionLost(self.close_code, self.close_reason)
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            if final:
                return
            await self._reconnect()

    async def _reconnect(self) -> None:
        self._reconnecting = True
        try:
            await self._reopen_and_resume()
        finally:
            self._reconnecting = False

    async def _reopen_and_resume(self) -> None:
        delay = 0.05
        while True:
            # Jitter spreads a thousand clients reconnecting after a restart.
            await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                await self._open()
            except (TimeoutError, OSError, ConnectionClosed, Exception):
                delay = min(delay * 2, 2.0)
                continue
            self.reconnects += 1
            break
        # resume must be the first request so missed events come before live ones.
        self._replaying = 0
        await self._send_resume(dict(self.last_seq))

    async def _send_resume(self, streams: dict[str, int]) -> None:
        ref = next(self._refs)
        self._resume_ref = ref
        assert self._ws is not None
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(self._encode({"op": "resume", "ref": ref, "streams": streams}))

    def _resumed(self, reply: dict[str, Any]) -> None:
        """The resume's reply: again from where a long replay stopped, else done."""
        more = (reply.get("more") or {}) if reply.get("op") == "ok" else {}
        if more:
            asyncio.get_running_loop().create_task(self._send_resume(dict(more)))
            return
        self._resume_ref = None
        self.replayed = self._replaying
        self._set_state("resumed")


# Every op of docs/protocol.md and the Client method that sends it (docs/client.md).
OP_METHODS: dict[str, str] = {
    "ping": "ping", "rooms.list": "rooms", "counts": "counts",
    "rooms.create": "create_room", "rooms.invite": "invite", "rooms.leave": "leave",
    "rooms.members": "members", "message.send": "send", "message.edit": "edit_message",
    "message.delete": "delete_message", "message.versions": "message_versions",
    "message.ack": "ack_message", "acks.list": "acks", "reaction.add": "react",
    "reaction.remove": "unreact", "thread.follow": "follow_thread",
    "thread.unfollow": "unfollow_thread", "history": "history", "resume": "resume",
    "read": "mark_read", "presence.set": "set_presence", "presence.query": "query_presence",
    "presence.subscribe": "subscribe_presence", "typing": "typing",
    "employees.search": "search_employees", "search": "search",
    "notifications.list": "notifications", "notifications.read": "read_notifications",
    "notifications.prefs": "notification_prefs", "rooms.mute": "mute_room",
    "receipts": "receipts", "roundtable.create": "create_roundtable",
    "roundtable.start": "start_roundtable", "roundtable.end": "end_roundtable",
    "roundtables.list": "roundtables", "roundtable.get": "roundtable",
    "question.ask": "ask", "question.edit": "edit_question",
    "question.withdraw": "withdraw_question", "question.vote": "vote",
    "question.moderate": "moderate", "question.pin": "pin", "question.answer": "answer",
}
