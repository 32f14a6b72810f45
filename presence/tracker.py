"""This process's side of presence: register sockets, refresh, sweep, announce.

- A socket opening registers its connection and announces online at once if
  that is a change. A socket closing is removed, and the user is re-evaluated
  only after PRESENCE_OFFLINE_DELAY_SECONDS, so a reload makes no pair of events.
- Every PRESENCE_REFRESH_SECONDS one pipeline pushes all local connections'
  expiry forward (and turns idle ones away), then expired entries anywhere are
  swept: a process killed with open sockets leaves entries that simply expire.
- A change is published once on the presence channel; every process hands it
  to the sockets that share a room with that user or subscribed to them.
- Offline times are collected and written as one upsert per refresh period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings

from presence.store import PresenceStore
from realtime.db import run_db

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class PresenceTracker:
    def __init__(self, store: PresenceStore, hub: Any, publish: Any) -> None:
        self.store = store
        self.hub = hub
        self.publish = publish  # async (message dict) → every process's hub.presence
        self.unsaved: dict[int, int] = {}  # user → last seen ms, for the next batch
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        self._spawn(self._refresh_loop())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _expiry(self) -> int:
        return now_ms() + int(settings.PRESENCE_TTL_SECONDS * 1000)

    # --- socket lifecycle -------------------------------------------------------

    async def connected(self, sock: Any) -> None:
        await self.store.upsert([(sock.user_id, sock.connection_id, sock.presence)],
                                self._expiry())
        await self.reevaluate(sock.user_id, sock.rooms)

    def disconnected(self, sock: Any) -> None:
        self._spawn(self._gone(sock.user_id, sock.connection_id, set(sock.rooms)))

    async def _gone(self, user: int, conn: str, rooms: set[int]) -> None:
        try:
            await self.store.remove(user, conn)
            await asyncio.sleep(settings.PRESENCE_OFFLINE_DELAY_SECONDS)
            await self.reevaluate(user, rooms)
        except Exception:
            log.exception("presence update for user %s failed; the sweep will retry", user)

    async def status_changed(self, sock: Any) -> None:
        await self.store.upsert([(sock.user_id, sock.connection_id, sock.presence)],
                                self._expiry())
        await self.reevaluate(sock.user_id, sock.rooms)

    async def reevaluate(self, user: int, rooms: set[int] | None = None) -> None:
        change = await self.store.evaluate(user, now_ms())
        if change is None:
            return
        _, status, seen = change
        if status != "online":
            self.unsaved[user] = seen
        if rooms is None:
            rooms = await self._rooms_of(user)
        await self.publish({"user": user, "status": status, "last_seen": seen,
                            "rooms": sorted(rooms)})

    async def _rooms_of(self, user: int) -> set[int]:
        for sock in self.hub.users.get(user, ()):
            return set(sock.rooms)
        from rooms.selectors import room_ids_for

        return await run_db(room_ids_for, user)

    # --- periodic work -----------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_REFRESH_SECONDS)
            try:
                await self.refresh()
                await self.sweep()
                await self.flush_last_seen()
            except Exception:
                log.exception("presence refresh failed; next period retries")

    async def refresh(self) -> None:
        idle_after = settings.PRESENCE_AWAY_AFTER_SECONDS
        mono = time.monotonic()
        entries, went_idle = [], []
        for socks in tuple(self.hub.users.values()):
            for sock in tuple(socks):
                if sock.presence == "online" and mono - sock.last_active > idle_after:
                    sock.presence = "away"
                    went_idle.append(sock)
                entries.append((sock.user_id, sock.connection_id, sock.presence))
        await self.store.upsert(entries, self._expiry())
        for sock in went_idle:
            await self.reevaluate(sock.user_id, sock.rooms)

    async def sweep(self) -> None:
        for user in await self.store.expired_users(now_ms()):
            await self.reevaluate(user)

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
