"""Full-text search over messages (sync ORM; call through realtime.db.run_db).

One selector, two engines: Postgres full-text search in the services profile
(GIN expression indexes, `websearch_to_tsquery` with the `simple` config, so
Russian and English words both match as written, without stemming) and
SQLite FTS5 in the embedded one (a table kept by triggers, migration rooms
0008). Both search a message's latest body (edits included) and never a
deleted one; a message is searchable once the persister has stored it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection

from rooms.selectors import ms

# Around each match in a snippet; private-use characters no message contains
# as text, replaced by structure before anything leaves the server.
_START, _STOP = "\ue000", "\ue001"
_HEADLINE = (f"StartSel={_START}, StopSel={_STOP}, MaxWords=24, MinWords=10, ShortWord=1, "
             'MaxFragments=2, FragmentDelimiter=" … "')
_SNIPPET_TOKENS = 20


@dataclass(frozen=True)
class Hit:
    id: str
    room_id: int
    seq: int
    ts: int
    author_id: int
    thread: str | None
    marked: str  # the snippet with _START/_STOP around matches


def segments(marked: str) -> list[dict[str, Any]]:
    """A marked snippet as [{"text", "match"}]: clients render it with no HTML to parse."""
    out: list[dict[str, Any]] = []
    for part in re.split(f"({_START}[^{_STOP}]*{_STOP})", marked):
        if not part:
            continue
        hit = part.startswith(_START)
        text = part.strip(_START + _STOP) if hit else part.replace(_START, "").replace(
            _STOP, "")
        if text:
            out.append({"text": text, "match": hit})
    return out


@dataclass(frozen=True)
class Cursor:
    """Where a page of results ended: results sort by (time, seq, id), newest first."""

    ts: int
    seq: int
    id: str

    def __str__(self) -> str:
        return f"{self.ts}:{self.seq}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        found = re.fullmatch(r"(\d{1,15}):(\d{1,18}):([0-9a-f]{32})", text)
        return cls(int(found[1]), int(found[2]), found[3]) if found else None


_END = Cursor(253_402_300_799_000, 0, "")  # 9999-12-31: after every message


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1000, tz=UTC)


# Two branches: messages never edited, matched by their stored tsvector
# (rooms_message.search), and edited ones by their latest body
# (rooms_messagestate); a UNION of two index scans instead of one OR across a
# join, which no index serves. Each branch sorts and limits itself.
#
# Newest-first over many matches and over few needs two plans, and the
# planner cannot tell them apart (its estimate for a word it kept no statistics
# on is far too high). So search counts first, cheaply, up to
# SEARCH_SORT_MATCHES: a word with fewer matches in my rooms is answered from
# the GIN index and sorted (the MATERIALIZED CTE keeps the planner from
# walking the table); a common one by walking rooms_message_newest back from
# the newest message until `limit` match. bench/results/search_latency.md
# measures both.
_Q = "websearch_to_tsquery('simple', %(query)s)"
_ORDER = "ORDER BY created_at DESC, seq DESC, id DESC"
_M_ORDER = "ORDER BY m.created_at DESC, m.seq DESC, m.id DESC"
_MINE = f"m.search @@ {_Q} AND m.room_id = ANY(%(rooms)s)"
_AFTER = "(m.created_at, m.seq, m.id) < (%(ts)s, %(seq)s, %(id)s)"
_FEW_SQL = f"SELECT count(*) FROM (SELECT 1 FROM rooms_message m WHERE {_MINE} AND {_AFTER}" \
    " LIMIT %(cap)s) few"
_UNEDITED = """NOT EXISTS (SELECT 1 FROM rooms_messagestate s WHERE s.message_id = m.id
                     AND (s.version > 1 OR s.deleted_at IS NOT NULL))"""
_COLUMNS = "m.id, m.room_id, m.seq, m.created_at, m.author_id, m.thread_id"


def _pg_sql(few: bool) -> str:
    if few:
        unedited = f"""
  (SELECT * FROM (WITH matches AS MATERIALIZED (
       SELECT {_COLUMNS}, m.body FROM rooms_message m WHERE {_MINE} AND {_AFTER})
     SELECT * FROM matches m WHERE {_UNEDITED}) mm {_ORDER} LIMIT %(limit)s)"""
    else:
        unedited = f"""
  (SELECT {_COLUMNS}, m.body FROM rooms_message m
   WHERE {_MINE} AND {_AFTER} AND {_UNEDITED}
   {_M_ORDER} LIMIT %(limit)s)"""
    return f"""
WITH hits AS ({unedited}
  UNION ALL
  (SELECT {_COLUMNS}, s.body
   FROM rooms_messagestate s JOIN rooms_message m ON m.id = s.message_id
   WHERE to_tsvector('simple', coalesce(s.body, '')) @@ {_Q} AND s.room_id = ANY(%(rooms)s)
     AND s.deleted_at IS NULL AND s.version > 1 AND {_AFTER}
   {_M_ORDER} LIMIT %(limit)s)
)
SELECT id, room_id, seq, created_at, author_id, thread_id,
       ts_headline('simple', body, {_Q}, '{_HEADLINE}')
FROM (SELECT * FROM hits {_ORDER} LIMIT %(limit)s) newest {_ORDER}
"""


_PG_SQL = {few: _pg_sql(few) for few in (True, False)}

_SQLITE_SQL = f"""
SELECT m.id, m.room_id, m.seq, m.created_at, m.author_id, m.thread_id,
       snippet(rooms_message_fts, 0, '{_START}', '{_STOP}', '…', {_SNIPPET_TOKENS})
FROM rooms_message_fts f JOIN rooms_message m ON m.rowid = f.rowid
WHERE rooms_message_fts MATCH %s AND m.room_id IN ({{rooms}})
  AND (m.created_at, m.seq, m.id) < (%s, %s, %s)
ORDER BY m.created_at DESC, m.seq DESC, m.id DESC LIMIT %s
"""


def fts5_query(query: str) -> str | None:
    """The user's query in FTS5 syntax, with the meaning websearch_to_tsquery gives
    it: words and "quoted phrases" all required, `or` between alternatives, a
    leading `-` excludes. Every term is quoted, so no character is an operator.
    None: nothing to search for (FTS5 cannot answer a query of exclusions only)."""
    terms: list[str] = []
    wanted = False
    for raw in re.findall(r'-?"[^"]*"?|\S+', query):
        negative = raw.startswith("-") and len(raw) > 1
        text = raw[1:] if negative else raw
        text = text.strip('"')
        if not re.search(r"\w", text):
            continue
        if text.lower() == "or" and not raw.startswith('"'):
            if terms and terms[-1] != "OR":
                terms.append("OR")
            continue
        quoted = '"' + text.replace('"', '""') + '"'
        if negative:
            if terms and terms[-1] == "OR":
                terms.pop()
            terms.append(f"NOT {quoted}")
        else:
            terms.append(quoted)
            wanted = True
    while terms and terms[-1] == "OR":
        terms.pop()
    if not wanted:
        return None
    if terms[0].startswith("NOT "):  # FTS5's NOT is binary: put a wanted term first
        first = next(i for i, t in enumerate(terms) if not t.startswith(("NOT ", "OR")))
        terms.insert(0, terms.pop(first))
    return " ".join(terms)


def search(query: str, room_ids: list[int], *, before: Cursor | None,
           limit: int) -> list[Hit]:
    """Messages of `room_ids` matching `query`, newest first, after the page that
    ended at `before`."""
    # A query of exclusions only (`-the`) matches nearly everything and FTS5 cannot
    # run it: both engines answer it with nothing.
    match = fts5_query(query)
    if not room_ids or match is None:
        return []
    end = before or _END
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            args = {"query": query, "rooms": room_ids, "ts": _at(end.ts), "seq": end.seq,
                    "id": end.id, "limit": limit, "cap": settings.SEARCH_SORT_MATCHES}
            cursor.execute(_FEW_SQL, args)
            few = cursor.fetchone()[0] < settings.SEARCH_SORT_MATCHES
            cursor.execute(_PG_SQL[few], args)
        else:
            sql = _SQLITE_SQL.replace("{rooms}", ", ".join(["%s"] * len(room_ids)))
            # Django stores SQLite datetimes as naive UTC text; compare like with like.
            until = _at(end.ts).replace(tzinfo=None).isoformat(" ")
            cursor.execute(sql, [match, *room_ids, until, end.seq, end.id, limit])
        rows = cursor.fetchall()
    return [Hit(mid, room, seq, _ms(created), author, thread, marked)
            for mid, room, seq, created, author, thread, marked in rows]


def results(query: str, room_ids: list[int], *, before: Cursor | None,
            limit: int) -> dict[str, Any]:
    """The `search` op's answer (docs/protocol.md): the hits, and `before`, the
    cursor of the next page (None: this was the last)."""
    from core.models import Employee

    hits = search(query, room_ids, before=before, limit=limit)
    people = {e.pk: e.public() for e in Employee.objects.filter(
        pk__in={h.author_id for h in hits})}
    last = hits[-1] if len(hits) == limit else None
    return {"results": [{"id": h.id, "room": h.room_id, "seq": h.seq, "ts": h.ts,
                         "author": people[h.author_id], "thread": h.thread,
                         "snippet": segments(h.marked)} for h in hits],
            "before": str(Cursor(last.ts, last.seq, last.id)) if last else None}


def _ms(created: Any) -> int:
    if isinstance(created, str):  # SQLite through a raw cursor
        created = datetime.fromisoformat(created)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return ms(created)
