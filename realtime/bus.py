"""Fan-out between processes: one subscription per stream per process.

RedisBus: a process subscribes to P:ev:<stream> while at least one of its
sockets holds that stream, and hands every frame to its Hub. The journal's
append script publishes, so there is exactly one PUBLISH per event whatever the
room's size, and no per-member Redis work. LocalBus: the embedded profile's
single process; the journal hands frames straight to the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError

from realtime.events import Hub
from realtime.journal_redis import event_channel

log = logging.getLogger(__name__)

# How often the embedded server looks for control rows from other processes.
# Deactivation must close sockets within a second; four looks a second is cheap.
CONTROL_POLL_SECONDS = 0.25


class LocalBus:
    def __init__(self, hub: Hub, journal_path: Path) -> None:
        self.hub = hub
        self.journal_path = journal_path
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        task = asyncio.get_running_loop().create_task(self._poll_control())
        self._tasks.add(task)

    def publish_local(self, stream: str, seq: int, frame: str) -> None:
        """A durable frame, committed by the local journal."""
        self.hub.deliver(stream, seq, frame)

    async def publish(self, stream: str, frame: str) -> None:
        """An ephemeral frame (no seq)."""
        self.hub.deliver(stream, None, frame)

    async def publish_presence(self, message: dict[str, Any]) -> None:
        self.hub.presence(message)

    async def _poll_control(self) -> None:
        db = sqlite3.connect(self.journal_path, check_same_thread=False)
        try:
            last = await asyncio.to_thread(
                lambda: db.execute("SELECT coalesce(max(id), 0) FROM control").fetchone()[0]
            )
            while True:
                await asyncio.sleep(CONTROL_POLL_SECONDS)
                rows = await asyncio.to_thread(self._control_after, db, last)
                for row_id, payload in rows:
                    last = row_id
                    self.hub.control(json.loads(payload))
        finally:
            db.close()

    @staticmethod
    def _control_after(db: sqlite3.Connection, last: int) -> list[tuple[int, str]]:
        return db.execute(
            "SELECT id, payload FROM control WHERE id>? ORDER BY id", (last,)
        ).fetchall()


class RedisBus:
    def __init__(self, hub: Hub, url: str, control_channel: str, presence_channel: str,
                 publisher: aredis.Redis) -> None:
        self.hub = hub
        self.control_channel = control_channel
        self.presence_channel = presence_channel
        # A dedicated connection: pub/sub reads block indefinitely, so no socket
        # timeout; the health check notices a dead Redis instead.
        self.client = aredis.Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=5, health_check_interval=10
        )
        # The process's shared client: its pool waits for a free connection under a
        # burst instead of raising "Too many connections" (see DESIGN.md pitfalls).
        self.publisher = publisher
        self.wanted: set[str] = {control_channel, presence_channel}
        self.subscribed: set[str] = set()
        self._changed = asyncio.Event()
        self._pubsub: aredis.client.PubSub | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        hub = self.hub
        hub.on_first = lambda stream: self._want(event_channel(stream), True)
        hub.on_last = lambda stream: self._want(event_channel(stream), False)
        task = asyncio.get_running_loop().create_task(self._run())
        self._tasks.add(task)

    async def publish(self, stream: str, frame: str) -> None:
        # The envelope with an empty seq: ephemeral. (Durable frames are published
        # by the journal's append script, "<seq>\n<frame>".)
        await self.publisher.publish(event_channel(stream), "\n" + frame)

    async def publish_presence(self, message: dict[str, Any]) -> None:
        await self.publisher.publish(self.presence_channel, json.dumps(message))

    def _want(self, channel: str, on: bool) -> None:
        if on:
            self.wanted.add(channel)
        else:
            self.wanted.discard(channel)
        self._changed.set()

    async def _sync_subscriptions(self) -> None:
        # Batched: a thousand sockets connecting at once become one SUBSCRIBE.
        pubsub = self._pubsub
        while pubsub is not None:
            await self._changed.wait()
            self._changed.clear()
            add = self.wanted - self.subscribed
            drop = self.subscribed - self.wanted
            if add:
                await pubsub.subscribe(*add)
                self.subscribed |= add
            if drop:
                await pubsub.unsubscribe(*drop)
                self.subscribed -= drop

    async def _run(self) -> None:
        backoff = 0.1
        first = True
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            syncer: asyncio.Task[None] | None = None
            try:
                self.subscribed = set(self.wanted)
                await pubsub.subscribe(*self.subscribed)
                self._pubsub = pubsub
                syncer = asyncio.get_running_loop().create_task(self._sync_subscriptions())
                self._changed.set()
                if not first:
                    log.warning("redis bus reconnected; sockets catch up from the journal")
                    self.hub.resync_all()
                first = False
                backoff = 0.1
                await self._pump(pubsub)
            except (RedisError, OSError) as exc:
                log.warning("redis bus lost (%s); reconnecting in %.1fs", type(exc).__name__,
                            backoff)
            finally:
                self._pubsub = None
                if syncer is not None:
                    syncer.cancel()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _pump(self, pubsub: aredis.client.PubSub) -> None:
        prefix = len(event_channel(""))
        control = self.control_channel.encode()
        presence = self.presence_channel.encode()
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if msg is None or msg["type"] != "message":
                continue
            channel: bytes = msg["channel"]
            if channel == control:
                self.hub.control(json.loads(msg["data"]))
                continue
            if channel == presence:
                self.hub.presence(json.loads(msg["data"]))
                continue
            try:
                seq, _, frame = msg["data"].decode().partition("\n")
                self.hub.deliver(channel[prefix:].decode(), int(seq) if seq else None, frame)
            except Exception:  # one bad frame must not stop fan-out for everyone
                log.exception("fan-out failed for a frame on %s", channel[:prefix + 40])
