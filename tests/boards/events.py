"""The events of boards (joining uses the generic access.granted / access.revoked)."""

from __future__ import annotations

from realtime.schema import USER, define

BOARD_JOINED = define("board.joined", {"board": int, "user": USER}, kinds=("board",))
BOARD_LEFT = define("board.left", {"board": int, "user": USER}, kinds=("board",))
# The whole card in every event: the persister keeps the newest version of a row.
CARD_SET = define("board.card.set", {"board": int, "slot": str, "text": str, "by": USER},
                  kinds=("board",))
CARD_CLEARED = define("board.card.cleared", {"board": int, "slot": str, "by": USER},
                      kinds=("board",))
