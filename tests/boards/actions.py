"""Every state change of boards: check → do → notify, like rooms.actions.

Membership is database-first (exact state, needed before the next op);
cards are journal-first (the event is the write; the persister stores it).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError

from realtime.access import ACCESS_GRANTED, ACCESS_REVOKED, Reader
from realtime.db import run_db
from realtime.events import send_event, send_views
from realtime.protocol import ErrorCode, ProtocolError, bad_request
from tests.boards.access import BOARD, BOARD_MODERATION
from tests.boards.events import BOARD_JOINED, BOARD_LEFT, CARD_AUTHOR, CARD_CLEARED, CARD_SET
from tests.boards.models import Board, BoardMember

MAX_SLOT = 64  # slots are short labels; the column is 64 wide


def require_member(actor: Reader, board_id: int) -> None:
    if BOARD.stream(board_id) not in actor.granted:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"you are not a member of board {board_id}")


def _require_not_guest(actor: Reader, what: str) -> None:
    if actor.principal.role == "guest":
        raise ProtocolError(ErrorCode.FORBIDDEN, f"guests cannot {what}")


def _slot(slot: str) -> str:
    if not 0 < len(slot) <= MAX_SLOT:
        raise bad_request(f"field 'slot' must be 1 to {MAX_SLOT} characters")
    return slot


def _create_db(name: str, user_id: int) -> int:
    board = Board.objects.create(name=name, created_by_id=user_id)
    BoardMember.objects.create(board=board, user_id=user_id)
    return board.pk


async def _joined(actor: Reader, board_id: int) -> int:
    """Announce a new member on the board, then grant them its stream from there."""
    me = actor.principal
    event = await send_event(BOARD.stream(board_id), BOARD_JOINED,
                             {"board": board_id, "user": me.public()})
    await send_event(f"user:{me.id}", ACCESS_GRANTED,
                     {"stream": BOARD.stream(board_id), "from_seq": event.seq})
    return event.seq


async def create_board(actor: Reader, *, name: str) -> dict[str, Any]:
    _require_not_guest(actor, "create boards")
    if not 0 < len(name) <= 100:
        raise bad_request("field 'name' must be 1 to 100 characters")
    board_id = await run_db(_create_db, name, actor.principal.id)
    seq = await _joined(actor, board_id)
    await send_event(f"user:{actor.principal.id}", ACCESS_GRANTED,
                     {"stream": BOARD_MODERATION.stream(board_id), "from_seq": 1})
    return {"board": board_id, "seq": seq}


def _join_db(board_id: int, user_id: int) -> bool:
    """True if they joined now; False if they were a member already."""
    if not Board.objects.filter(pk=board_id).exists():
        raise ProtocolError(ErrorCode.NOT_FOUND, f"no board {board_id}")
    try:
        BoardMember.objects.create(board_id=board_id, user_id=user_id)
    except IntegrityError:
        return False
    return True


async def join(actor: Reader, *, board_id: int) -> dict[str, Any]:
    _require_not_guest(actor, "join boards")
    if not await run_db(_join_db, board_id, actor.principal.id):
        return {"board": board_id, "seq": None}
    return {"board": board_id, "seq": await _joined(actor, board_id)}


def _leave_db(board_id: int, user_id: int) -> bool:
    deleted, _ = BoardMember.objects.filter(board_id=board_id, user_id=user_id).delete()
    return deleted > 0


async def leave(actor: Reader, *, board_id: int) -> dict[str, Any]:
    require_member(actor, board_id)
    me = actor.principal
    if await run_db(_leave_db, board_id, me.id):
        await send_event(BOARD.stream(board_id), BOARD_LEFT,
                         {"board": board_id, "user": me.public()})
        await send_event(f"user:{me.id}", ACCESS_REVOKED, {"stream": BOARD.stream(board_id)})
    return {"board": board_id}


async def set_card(actor: Reader, *, board_id: int, slot: str, text: str,
                   anonymous: bool = False) -> dict[str, Any]:
    require_member(actor, board_id)
    me = actor.principal.public()
    card = {"board": board_id, "slot": _slot(slot), "text": text}
    if not anonymous:
        event = await send_event(BOARD.stream(board_id), CARD_SET, {**card, "by": me})
        return {"board": board_id, "seq": event.seq}
    shown, _ = await send_views(
        BOARD.stream(board_id), CARD_SET, {**card, "by": None},
        restricted=BOARD_MODERATION.stream(board_id), detail=CARD_AUTHOR,
        detail_data={"board": board_id, "slot": card["slot"], "by": me})
    return {"board": board_id, "seq": shown.seq}


async def clear_card(actor: Reader, *, board_id: int, slot: str) -> dict[str, Any]:
    require_member(actor, board_id)
    event = await send_event(BOARD.stream(board_id), CARD_CLEARED, {
        "board": board_id, "slot": _slot(slot), "by": actor.principal.public()})
    return {"board": board_id, "seq": event.seq}
