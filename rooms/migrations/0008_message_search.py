"""Full-text search indexes (rooms.search): a stored tsvector and GIN on Postgres, an
FTS5 table kept by triggers on SQLite. Engine-specific, so written by hand."""

from django.db import migrations

# A stored tsvector (computed once, when the persister writes the row, as an
# expression index would) lets a match be checked without re-parsing the body:
# phrase rechecks, and the newest-first scan below, read it. The (created_at,
# seq, id) index is that scan: a common word across all my rooms is answered by
# walking back from the newest message until 20 match, instead of sorting every
# match (bench/results/search_latency.md has both plans' numbers).
PG_UP = [
    "ALTER TABLE rooms_message ADD COLUMN search tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED",
    "CREATE INDEX rooms_message_fts ON rooms_message USING gin (search)",
    # ANALYZE keeps the commonest words of `search`; a word not among them is
    # estimated at half the rarest kept one's frequency. With the default 100
    # a word in 5 of 1,000,000 messages looks like 600, and the planner walks
    # the newest-first index through the whole table for it. 1,000 keeps the
    # estimate of a rare word rare (bench/results/search_latency.md).
    "ALTER TABLE rooms_message ALTER COLUMN search SET STATISTICS 1000",
    "CREATE INDEX rooms_message_newest ON rooms_message (created_at, seq, id)",
    "CREATE INDEX rooms_messagestate_fts ON rooms_messagestate"
    " USING gin (to_tsvector('simple', coalesce(body, '')))",
]
PG_DOWN = ["DROP INDEX rooms_messagestate_fts", "DROP INDEX rooms_message_newest",
           "DROP INDEX rooms_message_fts", "ALTER TABLE rooms_message DROP COLUMN search"]

# The FTS row of a message shares its rowid. A message stored after it was edited
# gets its latest body; one stored after it was deleted gets no row.
_LATEST = """
    INSERT INTO rooms_message_fts(rowid, body)
    SELECT new.rowid, coalesce((SELECT s.body FROM rooms_messagestate s
                                WHERE s.message_id = new.id AND s.version > 1), new.body)
    WHERE NOT EXISTS (SELECT 1 FROM rooms_messagestate s
                      WHERE s.message_id = new.id AND s.deleted_at IS NOT NULL);
"""
_RESTATE = """
    DELETE FROM rooms_message_fts
    WHERE rowid = (SELECT rowid FROM rooms_message WHERE id = new.message_id);
    INSERT INTO rooms_message_fts(rowid, body)
    SELECT m.rowid, new.body FROM rooms_message m
    WHERE m.id = new.message_id AND new.body IS NOT NULL;
"""
SQLITE_UP = [
    "CREATE VIRTUAL TABLE rooms_message_fts USING fts5(body,"
    " tokenize = 'unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER rooms_message_fts_insert AFTER INSERT ON rooms_message BEGIN {_LATEST} END",
    "CREATE TRIGGER rooms_messagestate_fts_insert AFTER INSERT ON rooms_messagestate"
    f" BEGIN {_RESTATE} END",
    "CREATE TRIGGER rooms_messagestate_fts_update AFTER UPDATE ON rooms_messagestate"
    f" BEGIN {_RESTATE} END",
    "INSERT INTO rooms_message_fts(rowid, body) SELECT m.rowid, coalesce(s.body, m.body)"
    " FROM rooms_message m LEFT JOIN rooms_messagestate s ON s.message_id = m.id"
    " WHERE s.deleted_at IS NULL",
]
SQLITE_DOWN = ["DROP TRIGGER rooms_messagestate_fts_update",
               "DROP TRIGGER rooms_messagestate_fts_insert",
               "DROP TRIGGER rooms_message_fts_insert", "DROP TABLE rooms_message_fts"]


def _run(statements: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):

    dependencies = [("rooms", "0007_mentions")]

    operations = [
        migrations.RunPython(_run({"postgresql": PG_UP, "sqlite": SQLITE_UP}),
                             _run({"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN})),
    ]
