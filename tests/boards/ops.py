"""The boards ops, registered with the protocol (realtime.ops): no edit to consumers/."""

from __future__ import annotations

from typing import Any

from realtime.access import Session
from realtime.db import run_db
from realtime.ops import register_op
from realtime.protocol import field, id_field
from tests.boards import actions, selectors
from tests.boards.access import BOARD, BOARD_MODERATION


def _board(req: dict[str, Any]) -> int:
    return int(id_field(req, "board"))


async def boards_create(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    reply = await actions.create_board(session, name=field(req, "name", str))
    session.access_granted(BOARD.stream(reply["board"]), reply["seq"])
    session.access_granted(BOARD_MODERATION.stream(reply["board"]), 1)
    return reply


async def boards_join(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    reply = await actions.join(session, board_id=_board(req))
    if reply["seq"] is not None:
        session.access_granted(BOARD.stream(reply["board"]), reply["seq"])
    return reply


async def boards_leave(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    board = _board(req)
    reply = await actions.leave(session, board_id=board)
    session.access_revoked(BOARD.stream(board))
    return reply


async def boards_set(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.set_card(
        session, board_id=_board(req), slot=field(req, "slot", str),
        text=field(req, "text", str),
        anonymous=field(req, "anonymous", bool, required=False, default=False))


async def boards_clear(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.clear_card(session, board_id=_board(req),
                                    slot=field(req, "slot", str))


async def boards_cards(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    board = _board(req)
    actions.require_member(session, board)
    return {"board": board, **await run_db(selectors.cards, board)}


for _name, _handler in {
    "boards.create": boards_create, "boards.join": boards_join, "boards.leave": boards_leave,
    "boards.set": boards_set, "boards.clear": boards_clear, "boards.cards": boards_cards,
}.items():
    register_op(_name, _handler)
