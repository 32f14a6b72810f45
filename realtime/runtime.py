"""This process's real-time singletons (journal, bus, hub), built on first use.

Built lazily inside the server's event loop: daphne has no lifespan events, and
management commands that never open a socket should not connect to anything.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass
class Runtime:
    journal: Any  # realtime.journal.Journal
    bus: Any  # realtime.bus.LocalBus | RedisBus
    hub: Any  # realtime.events.Hub
    presence: Any = None  # presence.tracker.PresenceTracker
    typing: Any = None  # presence.store.TypingGate
    redis: Any = None  # redis.asyncio.Redis in the services profile
    quota: Any = None  # realtime.quota.EmployeeQuota


_runtime: Runtime | None = None
_lock: asyncio.Lock | None = None
_background: set[asyncio.Task[None]] = set()


async def get() -> Runtime:
    global _runtime, _lock
    if _runtime is not None:
        return _runtime
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _runtime is None:
            _runtime = _build()
            task = asyncio.get_running_loop().create_task(_sweep_idle(_runtime.hub))
            _background.add(task)
    return _runtime


def _new_hub() -> Any:
    from realtime.events import Hub

    return Hub(slice_sockets=settings.FANOUT_SLICE_SOCKETS,
               merge_frames=settings.FANOUT_MERGE_FRAMES)


def _build() -> Runtime:
    from presence.store import (
        LocalPresenceStore,
        LocalTypingGate,
        RedisPresenceStore,
        RedisTypingGate,
    )
    from presence.tracker import PresenceTracker
    from realtime.quota import EmployeeQuota

    hub = _new_hub()
    if settings.PROFILE == "services":
        import redis.asyncio as aredis

        from realtime import control
        from realtime.bus import RedisBus
        from realtime.journal_redis import RedisJournal

        pool = aredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=settings.REDIS_POOL_SIZE,
            timeout=settings.REDIS_POOL_TIMEOUT,
            socket_timeout=10,
            socket_connect_timeout=5,
        )
        client = aredis.Redis.from_pool(pool)
        bus = RedisBus(hub, settings.REDIS_URL, control.channel(),
                       f"{settings.REDIS_PREFIX}:presence", client)
        journal = RedisJournal(client)
        bus.start()
        store = RedisPresenceStore(client, settings.REDIS_PREFIX, settings.PRESENCE_TTL_SECONDS)
        tracker = PresenceTracker(store, hub)
        tracker.start()
        quota = EmployeeQuota(client, settings.REDIS_PREFIX)
        quota.start()
        return Runtime(journal, bus, hub, tracker,
                       RedisTypingGate(client, settings.REDIS_PREFIX), client, quota)

    from realtime import control
    from realtime.bus import LocalBus
    from realtime.journal_local import LocalJournal
    from realtime.persister import start_embedded_persister

    path = control.journal_path()
    bus = LocalBus(hub, path)
    journal = LocalJournal(path, bus.publish_local, settings.DEDUPE_TTL_SECONDS)
    bus.start()
    start_embedded_persister(path)
    tracker = PresenceTracker(LocalPresenceStore(), hub)
    tracker.start()
    return Runtime(journal, bus, hub, tracker, LocalTypingGate(), quota=EmployeeQuota())


def current() -> Runtime | None:
    """The runtime if it is built (sync callers on the loop, after the first socket)."""
    return _runtime


async def _sweep_idle(hub: Any) -> None:
    """Close sockets that sent nothing for 3 heartbeats (a vanished client)."""
    from realtime.protocol import CloseCode

    period = settings.HEARTBEAT_SECONDS
    while True:
        await asyncio.sleep(period)
        now = time.monotonic()
        for socks in tuple(hub.users.values()):
            for sock in tuple(socks):
                if sock.idle_for(now) > 3 * period:
                    sock.close_soon(int(CloseCode.HEARTBEAT_TIMEOUT), "no heartbeat")


def use_journal_only() -> Runtime:
    """This process's runtime for a management command that calls actions: appends
    go to the shared journal (in the services profile its append script publishes
    them to every server's bus), and nothing else starts: no hub, no persister, no
    presence. Embedded, a server running meanwhile does not hear of these events
    live; its clients read them on their next history or resume. Call it inside
    the loop the command's actions run on (redis.asyncio binds to it)."""
    global _runtime
    hub = _new_hub()
    if settings.PROFILE == "services":
        import redis.asyncio as aredis

        from realtime.journal_redis import RedisJournal

        client = aredis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
        _runtime = Runtime(RedisJournal(client), None, hub, redis=client)
    else:
        from realtime import control
        from realtime.journal_local import LocalJournal

        _runtime = Runtime(LocalJournal(control.journal_path(), lambda *_: None,
                                        settings.DEDUPE_TTL_SECONDS), None, hub)
    return _runtime
