"""Keyed tables: the persister upserts and deletes, idempotently in any order.

tests/boards stores cards through a KeyedTable: board.card.set upserts a row,
board.card.cleared leaves a tombstone, and the event's seq is the row's
version. Batches are written again the way the persister writes them
(realtime.persister.decode + write_batch, in a `manage.py shell` with the
stack's settings, against its database) to show that a redelivered batch,
older or the same, changes nothing, and that one batch keeps only the newest
change of a key. The state a client holds converges with the stored one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.stack import Recorder, Stack, State, Users, assert_converges, open_client, until


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=10)


async def new_board(stack: Stack, users: Users) -> tuple[Recorder, int]:
    owner = await open_client(stack, users.take(), settled=True)
    return owner, (await owner.request("boards.create", name="Cards"))["board"]


def cards_of(client: Recorder, board: int) -> Any:
    async def fetch() -> State:
        reply = await client.request("boards.cards", board=board)
        return {"cards": reply["cards"], "seq": reply["seq"]}
    return fetch


def apply(state: State, frame: dict[str, Any]) -> State:
    """A board.card.* event applied to a client's copy of the cards."""
    cards = dict(state["cards"])
    if frame["type"] == "board.card.set":
        cards[frame["data"]["slot"]] = frame["data"]["text"]
    elif frame["type"] == "board.card.cleared":
        cards.pop(frame["data"]["slot"], None)
    else:
        return state
    return {"cards": cards, "seq": frame["seq"]}


def rows(stack: Stack, board: int) -> list[tuple[Any, ...]]:
    got = stack.sql("SELECT slot, text, version, deleted FROM boards_card WHERE board_id = ?"
                    " ORDER BY slot", board)
    return [(slot, text, version, bool(deleted)) for slot, text, version, deleted in got]


def rewrite(stack: Stack, board: int, seqs: list[int]) -> None:
    """Write the stored journal entries of `seqs` again, as one persister batch."""
    script = (
        "from realtime.journal import PendingEntry\n"
        "from realtime.models import StreamEvent\n"
        "from realtime.persister import decode, write_batch\n"
        f"got = StreamEvent.objects.filter(stream='board:{board}', seq__in={seqs!r})\n"
        "by_seq = {e.seq: e for e in got}\n"
        f"write_batch(decode([PendingEntry(f'again-{{q}}', by_seq[q].stream, q, by_seq[q].frame)"
        f" for q in {seqs!r}]))\n"
    )
    stack.manage("shell", "-c", script)


def write_made_up(stack: Stack, board: int, changes: list[tuple[int, str, str | None]],
                  by: dict[str, Any]) -> None:
    """One batch of board.card.* entries for seqs the board never reached (slot set to
    text, or cleared when text is None)."""
    entries = [(seq, "board.card.set", {"board": board, "slot": slot, "text": text, "by": by})
               if text is not None else
               (seq, "board.card.cleared", {"board": board, "slot": slot, "by": by})
               for seq, slot, text in changes]
    script = (
        "import json\n"
        "from realtime.journal import PendingEntry\n"
        "from realtime.persister import decode, write_batch\n"
        f"entries = json.loads({json.dumps(json.dumps(entries))})\n"
        f"write_batch(decode([PendingEntry(f'made-{{q}}', 'board:{board}', q, json.dumps("
        "{'op': 'event', 'stream': 'board:%d' % d['board'], 'seq': q, 'type': t, 'data': d}))"
        " for q, t, d in entries]))\n"
    )
    stack.manage("shell", "-c", script)


async def test_cards_set_changed_and_cleared_are_stored_as_the_last_event_says(
        stack: Stack, users: Users) -> None:
    owner, board = await new_board(stack, users)
    old = await cards_of(owner, board)()
    assert old == {"cards": {}, "seq": 0}
    for op, fields in [("boards.set", {"slot": "a", "text": "one"}),
                       ("boards.set", {"slot": "a", "text": "two"}),
                       ("boards.set", {"slot": "b", "text": "bee"}),
                       ("boards.clear", {"slot": "b"}),
                       ("boards.set", {"slot": "c", "text": "sea"})]:
        await owner.request(op, board=board, **fields)
    stream = f"board:{board}"
    await until(lambda: owner.last_seq.get(stream) == 6, "the five card events on the owner")
    events = [f for f in owner.stream_events() if f["stream"] == stream]
    assert await assert_converges(old, events, apply, cards_of(owner, board)) == {
        "cards": {"a": "two", "c": "sea"}, "seq": 6}
    assert rows(stack, board) == [("a", "two", 3, False), ("b", None, 5, True),
                                  ("c", "sea", 6, False)]
    await owner.close()


async def test_card_state_converges_after_a_resume(stack: Stack, users: Users) -> None:
    owner, board = await new_board(stack, users)
    stream = f"board:{board}"
    name = users.take()
    reader = await open_client(stack, name, server=1, settled=True)
    await reader.request("boards.join", board=board)
    await owner.request("boards.set", board=board, slot="kept", text="before")
    await until(lambda: reader.last_seq.get(stream) == 3, "the first card on the reader")
    old = await until_stored(reader, board, 3)  # what it fetched before it went away
    assert old == {"cards": {"kept": "before"}, "seq": 3}
    last = dict(reader.last_seq)
    await reader.close()
    await owner.request("boards.set", board=board, slot="kept", text="after")
    await owner.request("boards.set", board=board, slot="new", text="while away")
    await owner.request("boards.clear", board=board, slot="new")

    back = await open_client(stack, name, server=1, last_seq=last)
    await back.request("resume", streams={stream: 3})
    replayed = [f for f in back.stream_events() if f["stream"] == stream]
    assert [f["seq"] for f in replayed] == [4, 5, 6]
    assert await assert_converges(old, replayed, apply, cards_of(back, board)) == {
        "cards": {"kept": "after"}, "seq": 6}
    await asyncio.gather(owner.close(), back.close())


async def until_stored(client: Recorder, board: int, seq: int) -> State:
    """The cards as fetched once the persister has stored the board up to `seq`."""
    fetch = cards_of(client, board)
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        state = await fetch()
        if state["seq"] >= seq or asyncio.get_running_loop().time() > deadline:
            assert state["seq"] >= seq, f"the persister never stored seq {seq}: {state}"
            return state
        await asyncio.sleep(0.05)


async def test_an_older_batch_redelivered_after_a_newer_one_changes_nothing(
        stack: Stack, users: Users) -> None:
    owner, board = await new_board(stack, users)
    for op, fields in [("boards.set", {"slot": "gone", "text": "old"}),  # seq 2
                       ("boards.clear", {"slot": "gone"}),  # 3
                       ("boards.set", {"slot": "kept", "text": "first"}),  # 4
                       ("boards.set", {"slot": "kept", "text": "second"})]:  # 5
        await owner.request(op, board=board, **fields)
    await until_stored(owner, board, 5)
    stored = rows(stack, board)
    assert stored == [("gone", None, 3, True), ("kept", "second", 5, False)]
    await asyncio.to_thread(rewrite, stack, board, [2, 4])  # the older set of each slot
    assert rows(stack, board) == stored
    await owner.close()


async def test_a_batch_written_twice_stores_each_row_once(stack: Stack, users: Users) -> None:
    owner, board = await new_board(stack, users)
    await owner.request("boards.set", board=board, slot="x", text="ex")
    await owner.request("boards.set", board=board, slot="y", text="why")
    await owner.request("boards.clear", board=board, slot="y")
    await until_stored(owner, board, 4)
    stored = rows(stack, board)
    for _ in range(2):
        await asyncio.to_thread(rewrite, stack, board, [2, 3, 4])
    assert rows(stack, board) == stored == [("x", "ex", 2, False), ("y", None, 4, True)]
    await owner.close()


async def test_one_batch_keeps_only_the_newest_change_of_each_key(
        stack: Stack, users: Users) -> None:
    owner, board = await new_board(stack, users)
    await asyncio.to_thread(write_made_up, stack, board, [
        (101, "z", "first"), (102, "z", None), (103, "z", "last"),
        (104, "w", "set"), (105, "w", None)], owner.user)
    assert rows(stack, board) == [("w", None, 105, True), ("z", "last", 103, False)]
    await owner.close()
