"""Moves journal entries into the database in batches; acknowledges after commit.

Every writer module in WRITERS gets each batch inside one transaction and does
one bulk INSERT … ON CONFLICT DO NOTHING, so a batch retried after a crash
stores nothing twice. Entries are acknowledged only after the commit.

Services: `manage.py persister` (any number of processes) reads the Redis
Stream P:journal through the consumer group "persisters"; entries a dead
persister left pending are claimed by a live one after PERSIST_CLAIM_IDLE_MS.
Embedded: a thread in the server process reads the SQLite journal.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import DataError, close_old_connections, transaction

from realtime.journal import PendingEntry

log = logging.getLogger(__name__)

WRITERS = ["realtime.writer", "rooms.writer"]


def _writers() -> list[Callable[[list[PendingEntry]], None]]:
    return [importlib.import_module(name).persist for name in WRITERS]


def write_batch(entries: list[PendingEntry]) -> None:
    with transaction.atomic():
        for persist in _writers():
            persist(entries)


def write_with_retry(entries: list[PendingEntry], stop: threading.Event | None = None) -> None:
    """Write a batch, retrying with capped backoff while the database is down.

    An entry the database refuses as data (DataError: a value it cannot store)
    would stall the journal forever if retried with its batch; the batch is then
    written entry by entry and the refused ones are logged and skipped. The
    socket layer refuses such values up front, so this is a last line of defence.
    """
    delay = 0.2
    while True:
        try:
            close_old_connections()
            write_batch(entries)
            return
        except DataError:
            _write_one_by_one(entries)
            return
        except Exception as exc:
            log.warning("persist of %d entries failed (%s); retrying in %.1fs",
                        len(entries), type(exc).__name__, delay)
            if stop is not None and stop.is_set():
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _write_one_by_one(entries: list[PendingEntry]) -> None:
    for entry in entries:
        try:
            write_batch([entry])
        except DataError as exc:
            log.error("skipping journal entry %s#%d: the database refuses it (%s)",
                      entry.stream, entry.seq, type(exc).__name__)


# --- embedded ----------------------------------------------------------------


def start_embedded_persister(path: Path) -> threading.Thread:
    thread = threading.Thread(
        target=_embedded_loop, args=(path,), name="persister", daemon=True
    )
    thread.start()
    return thread


def _embedded_loop(path: Path) -> None:
    from realtime.journal_local import LocalJournalReader

    reader = LocalJournalReader(path, settings.JOURNAL_WINDOW)
    while True:
        try:
            entries = reader.pending(settings.PERSIST_BATCH)
            if not entries:
                time.sleep(0.05)
                continue
            write_with_retry(entries)
            reader.ack(entries)
        except Exception:
            log.exception("embedded persister error; continuing")
            time.sleep(1)


# --- services ----------------------------------------------------------------


class RedisPersister:
    def __init__(self, name: str | None = None) -> None:
        import redis

        from realtime.journal_redis import GROUP, key

        self.redis = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=30, socket_connect_timeout=5
        )
        self.stream = key("journal")
        self.group = GROUP
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.key = key
        self.last_claim = 0.0

    def ensure_group(self) -> None:
        import redis

        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def next_batch(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        now = time.monotonic()
        if now - self.last_claim > settings.PERSIST_CLAIM_IDLE_MS / 2000:
            self.last_claim = now
            # Entries a crashed persister read but never acknowledged.
            _, claimed, *_ = self.redis.xautoclaim(
                self.stream, self.group, self.name, settings.PERSIST_CLAIM_IDLE_MS,
                start_id="0-0", count=settings.PERSIST_BATCH,
            )
            if claimed:
                log.info("claimed %d entries from a stalled persister", len(claimed))
                return claimed
        # New entries; our own unacknowledged ones come back through the claim above.
        reply = self.redis.xreadgroup(
            self.group, self.name, {self.stream: ">"}, count=settings.PERSIST_BATCH, block=1000
        )
        return reply[0][1] if reply else []

    def run(self, stop: threading.Event) -> None:
        import redis

        self.ensure_group()
        log.info("persister %s reading %s", self.name, self.stream)
        while not stop.is_set():
            try:
                rows = self.next_batch()
            except redis.RedisError as exc:
                log.warning("persister lost redis (%s); retrying", type(exc).__name__)
                time.sleep(1)
                self._ensure_group_quietly()
                continue
            if not rows:
                continue
            entries = [
                PendingEntry(rid.decode(), f[b"s"].decode(), int(f[b"q"]), f[b"f"].decode())
                for rid, f in rows if f  # a claimed entry deleted meanwhile has no fields
            ]
            if entries:
                write_with_retry(entries, stop)
            self._ack_with_retry([rid for rid, _ in rows], entries, stop)

    def _ack_with_retry(self, ids: list[bytes], entries: list[PendingEntry],
                        stop: threading.Event) -> None:
        """The batch is committed; acknowledging it is idempotent, so keep trying.
        (Given up on stop, the entries are claimed and rewritten: harmless.)"""
        import redis

        delay = 0.2
        while True:
            try:
                self._ack(ids, entries)
                return
            except redis.RedisError as exc:
                if stop.is_set():
                    return
                log.warning("ack of %d entries failed (%s); retrying in %.1fs",
                            len(ids), type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _ensure_group_quietly(self) -> None:
        import redis

        with contextlib.suppress(redis.RedisError):
            self.ensure_group()

    def _ack(self, ids: list[bytes], entries: list[PendingEntry]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.xrange(self.stream, count=1)
        oldest = pipe.execute()[2]
        # The journal keeps every entry not yet committed, by any persister, in
        # append order, which within a stream is seq order. So an entry older than
        # the oldest one left is committed, and so is every earlier seq of its
        # stream: only those may leave a window. (Another persister may still hold
        # a newer seq of the same stream than ours, or an older one.)
        horizon = _id_key(oldest[0][0].decode()) if oldest else None
        # Streams whose trim had to wait for an older entry: "<seq>|<journal id>".
        later_key = self.key("trimlater")
        waiting = [
            PendingEntry(jid, stream.decode(), int(seq), "")
            for stream, value in self.redis.hgetall(later_key).items()
            for seq, _, jid in [value.decode().partition("|")]
        ]
        floors: dict[str, int] = {}
        deferred: dict[str, PendingEntry] = {}
        for e in [*waiting, *entries]:
            if horizon is None or _id_key(e.entry_id) < horizon:
                floors[e.stream] = max(floors.get(e.stream, 0), e.seq)
            elif e.seq > getattr(deferred.get(e.stream), "seq", 0):
                deferred[e.stream] = e
        pipe = self.redis.pipeline(transaction=False)
        for stream, committed in floors.items():
            floor = committed - settings.JOURNAL_WINDOW
            if floor > 0:
                pipe.xtrim(self.key("win", stream), minid=f"{floor + 1}-0", approximate=True)
        done = [w.stream for w in waiting if w.stream not in deferred]
        if done:
            pipe.hdel(later_key, *done)
        for stream, e in deferred.items():
            pipe.hset(later_key, stream, f"{e.seq}|{e.entry_id}")
        pipe.execute()


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)
