"""question.ask in one database statement, for the usual ask.

A question in a live round table must be as cheap as a chat message: thousands
watch, and each question is one more event to all of them. The usual ask comes
from a socket that holds the round table's stream (its owner opened it, or
staffs it), so the audience check is already made. What is left is written as a
single INSERT that checks, in the same statement, that the round table has not
ended, that the author is under ROUNDTABLE_QUESTIONS_PER_MINUTE, and that the
client_id is new. Nothing is read before it, and the question's frames are built
from what was inserted.

When the INSERT adds nothing (a retry, the limit, an ended round table) the
caller takes the full path in roundtables.actions, which reads everything again
and answers with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection

from roundtables.models import Question, Role, RoundTable


@dataclass(frozen=True)
class Facts:
    """What never changes after creation (the admin is read-only, and no op edits
    them): whether questions wait for approval, and who staffs it."""

    premoderation: bool
    staff: frozenset[int]


class _Missing(LookupError):
    """No such round table (an exception, so lru_cache keeps no entry for it)."""


@lru_cache(maxsize=settings.ROUNDTABLE_FACTS_CACHED)
def _facts(roundtable_id: int) -> Facts:
    premoderation = RoundTable.objects.filter(pk=roundtable_id).values_list(
        "premoderation", flat=True).first()
    if premoderation is None:
        raise _Missing(roundtable_id)
    staff = Role.objects.filter(roundtable_id=roundtable_id).values_list("user_id", flat=True)
    return Facts(premoderation, frozenset(staff))


def facts(roundtable_id: int) -> Facts | None:
    try:
        return _facts(roundtable_id)
    except _Missing:
        return None


def _insert_sql() -> str:
    q, rt = Question._meta.db_table, RoundTable._meta.db_table
    # SQLite needs the WHERE to read `ON CONFLICT` as the upsert clause.
    return (
        f"INSERT INTO {q} (roundtable_id, author_id, anonymous, body, client_id, state,"
        " reason, votes, asked_at, answer, version)"
        " SELECT %s, %s, %s, %s, %s, %s, '', 0, %s, '', 1"
        f" WHERE EXISTS (SELECT 1 FROM {rt} WHERE id = %s AND state <> %s)"
        " AND (SELECT COUNT(*) FROM (SELECT 1 FROM"
        f" {q} WHERE roundtable_id = %s AND author_id = %s AND asked_at >= %s"
        " LIMIT %s) recent) < %s"
        " ON CONFLICT (roundtable_id, author_id, client_id) DO NOTHING RETURNING id")


def insert(roundtable_id: int, author_id: int, *, body: str, anonymous: bool,
           client_id: str, at: datetime) -> Question | None:
    """The new question (not read back: built from what was inserted), or None when
    the statement added nothing."""
    f = facts(roundtable_id)
    if f is None:
        return None
    state = (Question.State.PENDING if f.premoderation and author_id not in f.staff
             else Question.State.APPROVED)
    limit = settings.ROUNDTABLE_QUESTIONS_PER_MINUTE
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), [
            roundtable_id, author_id, anonymous, body, client_id, state, adapt(at),
            roundtable_id, RoundTable.State.ENDED,
            roundtable_id, author_id, adapt(at - timedelta(minutes=1)), limit, limit])
        row = cursor.fetchone()
    if row is None:
        return None
    return Question(pk=row[0], roundtable_id=roundtable_id, author_id=author_id,
                    anonymous=anonymous, body=body, client_id=client_id, state=state,
                    votes=0, asked_at=at, version=1)
