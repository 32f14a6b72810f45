"""Reads of boards: the stored cards (what the persister has written so far)."""

from __future__ import annotations

from typing import Any

from tests.boards.models import Card


def cards(board_id: int) -> dict[str, Any]:
    """The live cards of a board and the seq they are current to (the newest
    version stored, tombstones included: every event up to it is applied)."""
    rows = list(Card.objects.filter(board_id=board_id).values_list(
        "slot", "text", "deleted", "version"))
    return {"cards": {slot: text for slot, text, deleted, _ in rows if not deleted},
            "seq": max((v for *_, v in rows), default=0)}
