"""Moves journal entries into the database in batches; acknowledges after commit.

Each batch is decoded once and handed to every table apps registered (from
their AppConfig.ready, `register_table`). All tables of a batch are written in
one transaction, and entries are acknowledged only after the commit. A batch
may be written twice (retried after a crash, claimed from a stalled persister)
and, with several persisters, after a later batch: nothing may depend on it
being the first or the last.

Two kinds of table:

- `Table`, append-only rows (stream events, messages): inserted, and rows
  already there are skipped on the table's unique keys. On Postgres the rows
  skip the ORM: COPY straight into the table inside a savepoint; if any row is
  stored already, COPY into a staging table (one per table and connection,
  emptied at every commit) and one INSERT … SELECT … ON CONFLICT DO NOTHING.
  Elsewhere (SQLite has no COPY) one bulk_create(ignore_conflicts=True).
- `KeyedTable`, rows that change (edits, deletions of content written
  journal-first): each event yields an `Upsert` or a `Delete` of one key. The
  rule that makes them idempotent in any order: an event carries the whole row,
  and every event of one key is on one stream, so its seq is the row's
  `version` and the newest version wins. An upsert or delete only lands where
  the stored version is older; a delete leaves a tombstone (`deleted`, the
  values nulled) so that an older upsert delivered later changes nothing.
  Within a batch only the newest change of each key is written.

Services: `manage.py persister` (any number of processes) reads the Redis
Stream P:journal through the consumer group "persisters"; entries a dead
persister left pending are claimed by a live one after PERSIST_CLAIM_IDLE_MS.
Embedded: a thread in the server process reads the SQLite journal.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import (
    DataError,
    IntegrityError,
    close_old_connections,
    connection,
    models,
    transaction,
)
from django.utils import timezone

from realtime.journal import PendingEntry

log = logging.getLogger(__name__)

# The tables apps registered, in registration order (= the order of writing).
TABLES: list[Table | KeyedTable] = []


def register_table(table: Table | KeyedTable) -> None:
    """Add a table the persister writes (from an AppConfig.ready); twice is a no-op."""
    if table not in TABLES:
        TABLES.append(table)


@dataclass(frozen=True, slots=True)
class Event:
    """A journal entry with its frame decoded, once for all writers."""

    entry: PendingEntry
    type: str
    data: Any  # the frame's "data"


@dataclass(frozen=True)
class Table:
    """One writer's table: `rows` yields, for a batch, tuples of `fields` in order.
    Fields left out must be auto_now(_add): the batch's time is added to each row."""

    model: type[models.Model]
    fields: tuple[str, ...]
    rows: Callable[[list[Event]], Iterable[tuple[Any, ...]]]

    @cached_property
    def stamped(self) -> int:
        """How many columns after `fields` get the batch's time."""
        return len(self.copy_sql.columns) - len(self.fields)

    @cached_property
    def copy_sql(self) -> _CopySql:
        meta, q = self.model._meta, connection.ops.quote_name
        left_out = [f for f in meta.concrete_fields
                    if f.attname not in self.fields and not f.primary_key]
        for f in left_out:
            if not (getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)):
                raise TypeError(f"{meta.label}.{f.name} has no value in the persister's rows")
        columns = [q(meta.get_field(f).column) for f in self.fields] + [
            q(f.column) for f in left_out]
        real, stage, listed = (q(meta.db_table), "pg_temp." + q(f"persist_{meta.db_table}"),
                               ", ".join(columns))
        return _CopySql(
            columns=columns,
            direct=f"COPY {real} ({listed}) FROM STDIN",
            # AS SELECT … WITH NO DATA: the real columns' types (and length limits),
            # without their constraints; ON COMMIT DELETE ROWS: empty for every batch.
            create=(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS"
                    f" AS SELECT {listed} FROM {real} WITH NO DATA"),
            staged=f"COPY {stage} ({listed}) FROM STDIN",
            insert=(f"INSERT INTO {real} ({listed}) SELECT {listed} FROM {stage}"
                    f" ON CONFLICT DO NOTHING"),
        )


@dataclass(frozen=True)
class _CopySql:
    columns: list[str]
    direct: str  # COPY straight into the table: fails if any row is there already
    create: str  # the connection's staging table, if it has none yet
    staged: str  # COPY into the staging table
    insert: str  # staging → table, skipping rows that are there already


@dataclass(frozen=True, slots=True)
class Upsert:
    """Write the row of `key` with `values` (KeyedTable.fields, in order)."""

    key: tuple[Any, ...]
    values: tuple[Any, ...]
    version: int  # the seq of the event


@dataclass(frozen=True, slots=True)
class Delete:
    """Leave a tombstone for the row of `key`."""

    key: tuple[Any, ...]
    version: int


@dataclass(frozen=True)
class KeyedTable:
    """A table of rows that change: `changes` yields, for a batch, an Upsert or a
    Delete per event. The model has `version` (BigIntegerField) and `deleted`
    (BooleanField) columns, a unique constraint on `key`, and nullable `fields`
    (a tombstone of a row never stored has no values)."""

    model: type[models.Model]
    key: tuple[str, ...]  # attnames of a unique constraint
    fields: tuple[str, ...]  # the attnames an Upsert's values fill, in order
    changes: Callable[[list[Event]], Iterable[Upsert | Delete]]

    @cached_property
    def sql(self) -> tuple[str, str]:
        """(upsert, delete): one INSERT … ON CONFLICT … DO UPDATE … WHERE each, the
        same text on Postgres and SQLite (3.24 and later)."""
        meta, q = self.model._meta, connection.ops.quote_name
        col = {name: q(meta.get_field(name).column) for name in (*self.key, *self.fields)}
        table, keys = q(meta.db_table), ", ".join(col[k] for k in self.key)
        version, deleted = q(meta.get_field("version").column), q(
            meta.get_field("deleted").column)
        listed = [*(col[k] for k in self.key), *(col[f] for f in self.fields), version, deleted]
        guard = f"WHERE {table}.{version} < excluded.{version}"
        upsert = (f"INSERT INTO {table} ({', '.join(listed)}) VALUES"
                  f" ({', '.join(['%s'] * len(listed))}) ON CONFLICT ({keys}) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in listed[len(self.key):])
                  + f" {guard}")
        tombstone = [*(col[k] for k in self.key), version, deleted]
        delete = (f"INSERT INTO {table} ({', '.join(tombstone)}) VALUES"
                  f" ({', '.join(['%s'] * len(tombstone))}) ON CONFLICT ({keys}) DO UPDATE SET "
                  + ", ".join([*(f"{col[f]} = NULL" for f in self.fields),
                               f"{version} = excluded.{version}",
                               f"{deleted} = excluded.{deleted}"])
                  + f" {guard}")
        return upsert, delete

    def newest(self, events: list[Event]) -> list[Upsert | Delete]:
        """The newest change of each key in the batch (ON CONFLICT DO UPDATE may
        touch a row only once per statement, and older ones would lose anyway)."""
        latest: dict[tuple[Any, ...], Upsert | Delete] = {}
        for change in self.changes(events):
            known = latest.get(change.key)
            if known is None or known.version < change.version:
                latest[change.key] = change
        return list(latest.values())

    def write(self, events: list[Event]) -> None:
        changes = self.newest(events)
        if not changes:
            return
        upsert, delete = self.sql
        upserts = [(*c.key, *c.values, c.version, False) for c in changes
                   if isinstance(c, Upsert)]
        deletes = [(*c.key, c.version, True) for c in changes if isinstance(c, Delete)]
        with connection.cursor() as cursor:
            if upserts:
                cursor.executemany(upsert, upserts)
            if deletes:
                cursor.executemany(delete, deletes)


# A batch read from Redis: its stream ids, its entries, their decoded events.
_Batch = tuple[list[bytes], list[PendingEntry], list[Event]]


def decode(entries: list[PendingEntry]) -> list[Event]:
    """Each entry's frame, parsed once for all writers. A frame that is not an event
    can never be stored: it is logged and skipped like a refused row."""
    events = []
    for e in entries:
        try:
            frame = json.loads(e.frame)
            events.append(Event(e, frame["type"], frame.get("data")))
        except (ValueError, LookupError, TypeError) as exc:
            log.error("skipping journal entry %s#%d: its frame is not an event (%s)",
                      e.stream, e.seq, type(exc).__name__)
    return events


def write_batch(events: list[Event], tables: list[Table | KeyedTable] | None = None) -> None:
    """Write `events` to every registered table (or just `tables`) in one transaction."""
    chosen = TABLES if tables is None else tables
    inserted = [t for t in chosen if isinstance(t, Table)]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy_tables(events, inserted)
        else:
            for table in inserted:
                objects = [table.model(**dict(zip(table.fields, row, strict=True)))
                           for row in table.rows(events)]
                if objects:
                    table.model.objects.bulk_create(objects, ignore_conflicts=True)
        for keyed in chosen:
            if isinstance(keyed, KeyedTable):
                keyed.write(events)


def _copy_tables(events: list[Event], tables: list[Table]) -> None:
    """COPY each table's rows, on the Django connection's own psycopg connection
    (inside its transaction). Usually no row of the batch is stored yet and they
    are copied straight into the tables (inside a savepoint). If one is (the batch
    is written again after a crash or a claim), they go through staging tables and
    one INSERT … SELECT … ON CONFLICT DO NOTHING each."""
    now = timezone.now()
    batch = []
    for table in tables:
        stamp = (now,) * table.stamped
        batch.append((table, [row + stamp for row in table.rows(events)] if stamp
                      else list(table.rows(events))))
    try:
        with transaction.atomic():
            _copy(batch, staged=False)
    except IntegrityError:
        _copy(batch, staged=True)


def _copy(batch: list[tuple[Table, list[tuple[Any, ...]]]], staged: bool) -> None:
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        for table, rows in batch:
            if not rows:
                continue
            sql = table.copy_sql
            if staged:
                cursor.execute(sql.create)
            with cursor.copy(sql.staged if staged else sql.direct) as copy:
                for row in rows:
                    copy.write_row(row)
            if staged:
                cursor.execute(sql.insert)


def write_with_retry(events: list[Event], stop: threading.Event | None = None) -> None:
    """Write a batch, retrying with capped backoff while the database is down.

    An entry the database refuses (DataError: a value it cannot store;
    IntegrityError: its room or author is gone, a constraint is violated) would
    stall the journal for ever if retried with its batch. The batch is then
    split until the refused entries stand alone; each of those is written to
    every table that takes it, and what a table refuses goes to the dead letters
    (realtime.DeadLetter) with the reason. Persistence goes on for everyone.
    """
    delay = 0.2
    while True:
        try:
            close_old_connections()
            write_batch(events)
            return
        except (DataError, IntegrityError):
            _write_sifting(events)
            return
        except Exception as exc:
            log.warning("persist of %d entries failed (%s); retrying in %.1fs",
                        len(events), type(exc).__name__, delay)
            if stop is not None and stop.is_set():
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _write_sifting(events: list[Event]) -> None:
    """Halve a refused batch until each refused entry is alone (log2 n rounds)."""
    if len(events) == 1:
        _write_per_table(events[0])
        return
    half = len(events) // 2
    for part in (events[:half], events[half:]):
        try:
            write_batch(part)
        except (DataError, IntegrityError):
            _write_sifting(part)


def _write_per_table(event: Event) -> None:
    for table in TABLES:
        try:
            write_batch([event], [table])
        except (DataError, IntegrityError) as exc:
            _dead_letter(event, table, exc)


def _dead_letter(event: Event, table: Table | KeyedTable, exc: Exception) -> None:
    from realtime.models import DeadLetter

    label = table.model._meta.label
    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    log.error("journal entry %s#%d cannot be written to %s (%s); kept as a dead letter",
              event.entry.stream, event.entry.seq, label, type(exc).__name__)
    DeadLetter.objects.get_or_create(
        stream=event.entry.stream, seq=event.entry.seq, table=label,
        defaults={"type": event.type, "frame": event.entry.frame, "reason": reason[:500]})


# --- embedded ----------------------------------------------------------------


def start_embedded_persister(path: Path) -> threading.Thread:
    thread = threading.Thread(
        target=_embedded_loop, args=(path,), name="persister", daemon=True
    )
    thread.start()
    _start_digests()
    return thread


def _start_digests(stop: threading.Event | None = None) -> None:
    """Digest e-mails every DIGEST_INTERVAL_SECONDS, on a thread of their own: a slow
    mail server must never hold up the journal."""
    from notifications.digest import start_periodic

    start_periodic(stop)


def _embedded_loop(path: Path) -> None:
    from realtime.journal_local import LocalJournalReader

    reader = LocalJournalReader(path, settings.JOURNAL_WINDOW)
    while True:
        try:
            entries = reader.pending(settings.PERSIST_BATCH)
            if not entries:
                time.sleep(0.05)
                continue
            write_with_retry(decode(entries))
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
        self.ensure_group()
        _start_digests(stop)
        log.info("persister %s reading %s", self.name, self.stream)
        # One batch is read (and decoded) ahead while the previous one is written:
        # the Redis round trip and the database's work overlap instead of adding up.
        # A batch read ahead is pending in the group like any other until its ack.
        with ThreadPoolExecutor(1, thread_name_prefix="persister-read") as reader:
            ahead: Future[_Batch | None] | None = reader.submit(self._read)
            while ahead is not None:
                batch = ahead.result()
                ahead = None if stop.is_set() else reader.submit(self._read)
                if batch is not None:
                    ids, entries, events = batch
                    if events:
                        write_with_retry(events, stop)
                    self._ack_with_retry(ids, entries, stop)

    def _read(self) -> _Batch | None:
        """The next batch, or None when there is none (or Redis is unreachable)."""
        import redis

        try:
            rows = self.next_batch()
        except redis.RedisError as exc:
            log.warning("persister lost redis (%s); retrying", type(exc).__name__)
            time.sleep(1)
            self._ensure_group_quietly()
            return None
        if not rows:
            return None
        entries = [
            PendingEntry(rid.decode(), f[b"s"].decode(), int(f[b"q"]), f[b"f"].decode())
            for rid, f in rows if f  # a claimed entry deleted meanwhile has no fields
        ]
        return [rid for rid, _ in rows], entries, decode(entries)

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
        from realtime.journal_redis import trim_windows

        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(self.stream, self.group, *ids)
        pipe.xdel(self.stream, *ids)
        pipe.xrange(self.stream, count=1)
        oldest = pipe.execute()[2]
        trim_windows(self.redis, entries, oldest[0][0].decode() if oldest else None)
