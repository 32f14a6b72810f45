"""Journal in a local SQLite file (embedded profile).

One writer thread owns the write connection. Appends queue up while it commits
and are then committed together (group commit, synchronous=FULL): an ack still
means the entry is on disk, but a burst costs one fsync, not one per message.
After each commit the frames are published to the in-process bus in seq order.

The same file carries a small `control` table so that other processes (the
`deactivate_employee` command) can reach the server; see realtime.control.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from realtime.journal import Appended, Count, PendingEntry, Tallied, TallyQuery, frame_parts

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
  gid INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL, seq INTEGER NOT NULL, frame TEXT NOT NULL,
  persisted INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS journal_stream_seq ON journal(stream, seq);
CREATE INDEX IF NOT EXISTS journal_pending ON journal(persisted, gid);
CREATE TABLE IF NOT EXISTS heads (stream TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dedupe (
  author INTEGER NOT NULL, client_id TEXT NOT NULL, seq INTEGER NOT NULL,
  meta TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (author, client_id));
CREATE TABLE IF NOT EXISTS tally (
  stream TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
  PRIMARY KEY (stream, name, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS control (
  id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, created REAL NOT NULL);
"""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # an ack is a promise: fsync before it
    conn.executescript(SCHEMA)
    return conn


class _Append:
    __slots__ = ("count", "future", "head", "idem", "loop", "meta", "stream", "tail")

    def __init__(self, stream: str, head: str, tail: str, meta: dict[str, Any],
                 idem: tuple[int, str] | None, count: Count | None) -> None:
        self.stream, self.head, self.tail, self.meta, self.idem = stream, head, tail, meta, idem
        self.count = count
        self.loop = asyncio.get_running_loop()
        self.future: asyncio.Future[Appended] = self.loop.create_future()


class LocalJournal:
    def __init__(self, path: Path, publish: Callable[[str, int, str], None],
                 dedupe_ttl: float) -> None:
        self.path = path
        self.publish = publish
        self.dedupe_ttl = dedupe_ttl
        self._queue: queue.SimpleQueue[_Append] = queue.SimpleQueue()
        self._write = connect(path)
        self._read = connect(path)
        self._read_lock = threading.Lock()
        threading.Thread(target=self._writer, name="journal-writer", daemon=True).start()

    # --- write path -------------------------------------------------------

    async def append(
        self, stream: str, type_: str, data: dict[str, Any], meta: dict[str, Any],
        idem: tuple[int, str] | None = None, count: Count | None = None,
    ) -> Appended:
        head, tail = frame_parts(stream, type_, data)
        job = _Append(stream, head, tail, meta, idem, count)
        self._queue.put(job)
        return await job.future

    def _writer(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 500:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                results: list[tuple[Appended, str | None]] | BaseException = self._commit(batch)
            except Exception as exc:  # the disk failed: every waiter hears it
                results = exc
            # One callback per batch, run on the loop in commit order: publish
            # order is seq order without holding any lock across the fsync.
            batch[0].loop.call_soon_threadsafe(self._finish, batch, results)

    def _finish(
        self, batch: list[_Append], results: list[tuple[Appended, str | None]] | BaseException
    ) -> None:
        for i, job in enumerate(batch):
            if isinstance(results, BaseException):
                if not job.future.done():
                    job.future.set_exception(results)
                continue
            appended, frame = results[i]
            if frame is not None:
                self.publish(appended.stream, appended.seq, frame)
            if not job.future.done():
                job.future.set_result(appended)

    def _commit(self, batch: list[_Append]) -> list[tuple[Appended, str | None]]:
        db = self._write
        now = time.time()
        out: list[tuple[Appended, str | None]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for job in batch:
                if job.idem is not None:
                    hit = db.execute(
                        "SELECT seq, meta FROM dedupe WHERE author=? AND client_id=? AND expires>?",
                        (job.idem[0], job.idem[1], now),
                    ).fetchone()
                    if hit:
                        out.append((Appended(job.stream, hit[0], json.loads(hit[1]), False), None))
                        continue
                row = db.execute(
                    "INSERT INTO heads(stream, seq) VALUES (?, 1) "
                    "ON CONFLICT(stream) DO UPDATE SET seq=seq+1 RETURNING seq",
                    (job.stream,),
                ).fetchone()
                seq = row[0]
                frame = f"{job.head}{seq}{job.tail}"
                db.execute(
                    "INSERT INTO journal(stream, seq, frame, created) VALUES (?,?,?,?)",
                    (job.stream, seq, frame, now),
                )
                if job.count is not None:
                    _tally(db, job.stream, seq, job.count)
                if job.idem is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO dedupe VALUES (?,?,?,?,?)",
                        (job.idem[0], job.idem[1], seq, json.dumps(job.meta),
                         now + self.dedupe_ttl),
                    )
                out.append((Appended(job.stream, seq, job.meta, True), frame))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return out

    # --- read path --------------------------------------------------------

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._read_lock:
            return self._read.execute(sql, args).fetchall()

    async def window(
        self, stream: str, *, after: int | None = None, before: int | None = None,
        limit: int,
    ) -> list[tuple[int, str]]:
        if after is None:  # the newest `limit` before `before` (or the head)
            rows = await asyncio.to_thread(
                self._query,
                "SELECT seq, frame FROM journal WHERE stream=? AND seq<? ORDER BY seq DESC LIMIT ?",
                (stream, before if before is not None else 2**62, limit),
            )
            rows.reverse()
        else:
            rows = await asyncio.to_thread(
                self._query,
                "SELECT seq, frame FROM journal WHERE stream=? AND seq>? ORDER BY seq LIMIT ?",
                (stream, after, limit),
            )
        return [(r[0], r[1]) for r in rows]

    async def heads(self, streams: list[str]) -> dict[str, int]:
        if not streams:
            return {}
        marks = ",".join("?" * len(streams))
        rows = await asyncio.to_thread(
            self._query, f"SELECT stream, seq FROM heads WHERE stream IN ({marks})",
            tuple(streams),
        )
        found = dict(rows)
        return {s: found.get(s, 0) for s in streams}

    async def tallies(self, queries: list[TallyQuery]) -> list[Tallied]:
        def count() -> list[Tallied]:
            out = []
            with self._read_lock:
                db = self._read
                db.execute("BEGIN")  # one snapshot: no commit lands between the reads
                try:
                    for q in queries:
                        [(head,)] = db.execute(
                            "SELECT coalesce(max(seq), 0) FROM heads WHERE stream=?",
                            (q.stream,)).fetchall()
                        # Range scans over the unread part only: O(unread), not O(room).
                        counts = {name: db.execute(
                            "SELECT count(*) FROM tally WHERE stream=? AND name=? AND seq>?",
                            (q.stream, name, q.after)).fetchone()[0] for name in q.names}
                        [(last,)] = db.execute(
                            "SELECT coalesce(max(seq), 0) FROM tally WHERE stream=? AND name=?",
                            (q.stream, q.last_of)).fetchall()
                        out.append(Tallied(head, counts, last))
                finally:
                    db.execute("COMMIT")
            return out

        return await asyncio.to_thread(count) if queries else []

    async def frames(self, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
        def read() -> dict[tuple[str, int], str]:
            with self._read_lock:
                return {(stream, seq): row[0] for stream, seq in wanted
                        for row in self._read.execute(
                            "SELECT frame FROM journal WHERE stream=? AND seq=?",
                            (stream, seq)).fetchall()}

        return await asyncio.to_thread(read) if wanted else {}

    async def lag(self) -> tuple[int, float]:
        rows = await asyncio.to_thread(
            self._query, "SELECT count(*), min(created) FROM journal WHERE persisted=0", (),
        )
        count, oldest = rows[0]
        return count, (time.time() - oldest) if oldest else 0.0


def _tally(db: sqlite3.Connection, stream: str, seq: int, count: Count) -> None:
    db.executemany("INSERT OR IGNORE INTO tally VALUES (?,?,?)",
                   [(stream, name, seq) for name in count.add])
    db.executemany("DELETE FROM tally WHERE stream=? AND name=? AND seq=?",
                   [(stream, name, dropped) for name in count.drop_from
                    for dropped in count.drop])


# --- the persister's side (runs in its own thread with its own connection) ---


class LocalJournalReader:
    def __init__(self, path: Path, window: int) -> None:
        self.db = connect(path)
        self.window = window

    def pending(self, limit: int) -> list[PendingEntry]:
        rows = self.db.execute(
            "SELECT gid, stream, seq, frame FROM journal WHERE persisted=0 ORDER BY gid LIMIT ?",
            (limit,),
        ).fetchall()
        return [PendingEntry(str(r[0]), r[1], r[2], r[3]) for r in rows]

    def ack(self, entries: list[PendingEntry]) -> None:
        """Mark committed entries persisted and trim each stream's window."""
        tops: dict[str, int] = {}
        for e in entries:
            tops[e.stream] = max(tops.get(e.stream, 0), e.seq)
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "UPDATE journal SET persisted=1 WHERE gid=?", [(int(e.entry_id),) for e in entries]
        )
        self.db.executemany(
            "DELETE FROM journal WHERE stream=? AND persisted=1 AND seq<=?",
            [(s, top - self.window) for s, top in tops.items()],
        )
        self.db.execute("DELETE FROM dedupe WHERE expires<?", (time.time(),))
        self.db.execute("COMMIT")
