"""This process's side of presence: register sockets, stay alive, sweep, announce.

- A socket opening registers its connection and evaluates its user in one
  script call, and announces online at once if that is a change. A socket
  closing is removed, and the user is re-evaluated only after
  PRESENCE_OFFLINE_DELAY_SECONDS, so a reload makes no pair of events.
- Every PRESENCE_REFRESH_SECONDS one script call pushes this *process's*
  "alive until" forward (its number of sockets does not matter) and names the
  processes whose time has passed. Their users are re-evaluated (a connection
  counts only while its process is alive) and announced, then forgotten: a
  process killed with open sockets takes its users offline within
  PRESENCE_TTL_SECONDS plus one period. Idle sockets turn away here too.
- A change is published once on the presence channel, naming the user's rooms
  with at most PRESENCE_MAX_ROOM_MEMBERS members; every process hands it to its
  sockets in those rooms and to those that subscribed to the user. Bigger rooms
  are not told: there a connect storm would be O(members²) frames, and members
  follow the people they look at with presence.subscribe / presence.query.
- Offline times are collected and written as one upsert per refresh period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any

from django.conf import settings

from presence.events import PRESENCE
from presence.store import Change, PresenceStore
from realtime.db import run_db
from realtime.events import send_presence

log = logging.getLogger(__name__)

# Room member counts are cached this long: a room crossing
# PRESENCE_MAX_ROOM_MEMBERS changes behaviour within this time, on every process.
ROOM_SIZE_CACHE_SECONDS = 60.0


def now_ms() -> int:
    return int(time.time() * 1000)


def new_process_id() -> str:
    """Unique per process and per registration; names the host for operators."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RoomSizes:
    """Member counts per room, cached; concurrent misses share one query."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[int, float]] = {}  # room → (members, fresh until)
        self.pending: dict[int, asyncio.Future[None]] = {}

    async def of(self, rooms: set[int]) -> dict[int, int]:
        mono = time.monotonic()
        stale = {r for r in rooms if self.known.get(r, (0, 0.0))[1] <= mono}
        waits = {self.pending[r] for r in stale if r in self.pending}
        fetch = sorted(r for r in stale if r not in self.pending)
        if fetch:
            done = asyncio.get_running_loop().create_future()
            for r in fetch:
                self.pending[r] = done
            try:
                from presence.selectors import member_counts

                counts = await run_db(member_counts, fetch)
                if len(self.known) > 100_000:  # forget rooms nobody asked about lately
                    self.known = {r: v for r, v in self.known.items() if v[1] > mono}
                for r in fetch:
                    self.known[r] = (counts.get(r, 0), mono + ROOM_SIZE_CACHE_SECONDS)
            finally:
                for r in fetch:
                    del self.pending[r]
                done.set_result(None)
        for wait in waits:
            await wait
        return {r: self.known.get(r, (0, 0.0))[0] for r in rooms}  # unknown: announce

    async def small(self, rooms: set[int], limit: int) -> list[int]:
        """The rooms with at most `limit` members."""
        if limit <= 0 or not rooms:
            return []
        return sorted(r for r, n in (await self.of(rooms)).items() if n <= limit)


class PresenceTracker:
    def __init__(self, store: PresenceStore, hub: Any) -> None:
        self.store = store
        self.hub = hub
        self.proc = new_process_id()
        self.registered = False
        self._register_lock = asyncio.Lock()
        self.room_sizes = RoomSizes()
        self.unsaved: dict[int, int] = {}  # user → last seen ms, for the next batch
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._spawn(self._refresh_loop())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _alive_until(self) -> int:
        return now_ms() + int(settings.PRESENCE_TTL_SECONDS * 1000)

    async def _ensure_registered(self) -> None:
        if self.registered:
            return
        async with self._register_lock:
            if not self.registered:
                await self.store.beat(self.proc, self._alive_until(), now_ms(), new=True)
                self.registered = True

    # --- socket lifecycle -------------------------------------------------------

    async def connected(self, sock: Any) -> None:
        await self._ensure_registered()
        await self._update(sock)

    def disconnected(self, sock: Any) -> None:
        self._spawn(self._gone(sock.user_id, sock.connection_id, set(sock.rooms)))

    async def _gone(self, user: int, conn: str, rooms: set[int]) -> None:
        try:
            await self.store.remove(self.proc, user, conn)
            await asyncio.sleep(settings.PRESENCE_OFFLINE_DELAY_SECONDS)
            await self.reevaluate([user], rooms)
        except Exception:
            log.exception("presence update for user %s failed; the sweep will retry", user)

    async def status_changed(self, sock: Any) -> None:
        await self._update(sock)

    async def _update(self, sock: Any) -> None:
        change = await self.store.update(self.proc, sock.user_id, sock.connection_id,
                                         sock.presence, now_ms())
        await self._announce(sock.user_id, change, sock.rooms)

    async def reevaluate(self, users: list[int], rooms: set[int] | None = None) -> None:
        """Fold these users' live connections again; announce what changed."""
        for user, change in (await self.store.evaluate(users, now_ms())).items():
            await self._announce(user, change, rooms)

    async def _announce(self, user: int, change: Change | None, rooms: set[int] | None) -> None:
        if change is None:
            return
        _, status, seen = change
        if status != "online":
            self.unsaved[user] = seen
        if rooms is None:
            rooms = await self._rooms_of(user)
        told = await self.room_sizes.small(set(rooms), settings.PRESENCE_MAX_ROOM_MEMBERS)
        await send_presence(PRESENCE, {"user": user, "status": status, "last_seen": seen},
                            user=user, rooms=told)

    async def _rooms_of(self, user: int) -> set[int]:
        for sock in self.hub.users.get(user, ()):
            return set(sock.rooms)
        from rooms.selectors import room_ids_for

        return await run_db(room_ids_for, user)

    # --- periodic work -----------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.refresh()
                await self.flush_last_seen()
            except Exception:
                log.exception("presence refresh failed; next period retries")
            await asyncio.sleep(settings.PRESENCE_REFRESH_SECONDS)

    async def refresh(self) -> None:
        """Stay alive (one call), turn idle sockets away, sweep dead processes."""
        await self._ensure_registered()
        alive, dead = await self.store.beat(self.proc, self._alive_until(), now_ms())
        if not alive:
            await self._reregister()
        await self._mark_idle()
        for proc in dead:
            if proc != self.proc:
                await self.sweep(proc)

    async def _reregister(self) -> None:
        """Our entry was swept (we were cut off too long) or lost: come back under a
        new id, so the old one's sweep cannot remove what we register now."""
        old, self.proc = self.proc, new_process_id()
        log.warning("presence: process %s was given up for dead; registering again as %s",
                    old, self.proc)
        await self.store.beat(self.proc, self._alive_until(), now_ms(), new=True)
        socks = [s for group in tuple(self.hub.users.values()) for s in tuple(group)]
        await self.store.register(self.proc, [(s.user_id, s.connection_id, s.presence)
                                              for s in socks])
        for sock in socks:  # closed while we registered: take it out again
            if sock not in self.hub.users.get(sock.user_id, ()):
                await self.store.remove(self.proc, sock.user_id, sock.connection_id)
        await self.reevaluate(sorted({s.user_id for s in socks}))

    async def _mark_idle(self) -> None:
        idle_after = settings.PRESENCE_AWAY_AFTER_SECONDS
        mono = time.monotonic()
        for socks in tuple(self.hub.users.values()):
            for sock in tuple(socks):
                if sock.presence == "online" and mono - sock.last_active > idle_after:
                    sock.presence = "away"
                    await self._update(sock)

    async def sweep(self, proc: str) -> None:
        """A process stopped refreshing: its connections no longer count."""
        log.info("presence: sweeping the connections of dead process %s", proc)
        await self.reevaluate(await self.store.users_of(proc))
        await self.store.forget(proc, now_ms())

    async def flush_last_seen(self) -> None:
        if not self.unsaved:
            return
        batch, self.unsaved = self.unsaved, {}
        from presence.writer import persist_last_seen

        try:
            await run_db(persist_last_seen, batch)
        except Exception:
            for user, seen in batch.items():  # keep them for the next batch
                self.unsaved.setdefault(user, seen)
            raise

    async def read(self, users: list[int]) -> dict[int, dict[str, Any]]:
        """Current status and last seen of each user, for presence.query/subscribe."""
        live = await self.store.read(users)
        missing = [u for u, (_, seen) in live.items() if seen is None]
        stored: dict[int, int] = {}
        if missing:
            from presence.writer import last_seen_of

            stored = await run_db(last_seen_of, missing)
        return {
            u: {"user": u, "status": status,
                "last_seen": seen if seen is not None else stored.get(u)}
            for u, (status, seen) in live.items()
        }
