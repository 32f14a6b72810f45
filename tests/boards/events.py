"""The events of boards (joining uses the generic access.granted / access.revoked)."""

from __future__ import annotations

from realtime.schema import USER, Maybe, define

BOARD_JOINED = define("board.joined", {"board": int, "user": USER}, kinds=("board",))
BOARD_LEFT = define("board.left", {"board": int, "user": USER}, kinds=("board",))
# The whole card in every event: the persister keeps the newest version of a row.
# `by` is null on an anonymous card; its author goes to the moderator only.
CARD_SET = define("board.card.set",
                  {"board": int, "slot": str, "text": str, "by": Maybe(USER)},
                  kinds=("board",))
CARD_AUTHOR = define("board.card.author", {"board": int, "slot": str, "by": USER, "of": int},
                     kinds=("boardmod",))
CARD_CLEARED = define("board.card.cleared", {"board": int, "slot": str, "by": USER},
                      kinds=("board",))
