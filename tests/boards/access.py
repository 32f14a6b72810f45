"""The `board:<id>` stream kind: read by the board's members."""

from __future__ import annotations

from realtime.access import StreamKind, register


def _held_by(user_id: int) -> list[str]:
    from tests.boards.models import BoardMember

    return [f"board:{b}" for b in
            BoardMember.objects.filter(user_id=user_id).values_list("board_id", flat=True)]


def _moderates(user_id: int) -> list[str]:
    from tests.boards.models import Board

    return [f"boardmod:{b}" for b in
            Board.objects.filter(created_by_id=user_id).values_list("pk", flat=True)]


BOARD = register(StreamKind("board", held_by=_held_by))
# The restricted companion of each board (realtime.events.send_views): who wrote
# the anonymous cards, for the board's moderator alone.
BOARD_MODERATION = register(StreamKind("boardmod", held_by=_moderates))
