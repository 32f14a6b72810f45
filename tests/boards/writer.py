"""The persister's writer for boards: cards are keyed rows, set and cleared."""

from __future__ import annotations

from collections.abc import Iterator

from realtime.persister import Delete, Event, KeyedTable, Upsert
from tests.boards.models import Card


def changes(events: list[Event]) -> Iterator[Upsert | Delete]:
    for e in events:
        if e.type == "board.card.set":
            d = e.data
            author = d["by"]["id"] if d["by"] is not None else None  # null: anonymous
            yield Upsert((d["board"], d["slot"]), (d["text"], author), e.entry.seq)
        elif e.type == "board.card.cleared":
            yield Delete((e.data["board"], e.data["slot"]), e.entry.seq)


TABLE = KeyedTable(Card, key=("board_id", "slot"), fields=("text", "set_by_id"),
                   changes=changes)
