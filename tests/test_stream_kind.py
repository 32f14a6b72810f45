"""A stream kind added by one app alone (tests/boards) gets the whole spine.

tests/boards registers the `board:<id>` kind, its events and its ops from its
AppConfig.ready, with no edit to consumers/ or realtime/: live delivery across
processes, history, resume, access granted and revoked on live sockets, and
the read rule applied to every path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from colloquy_client import ColloquyError
from tests.stack import Recorder, Stack, Users, open_client, until


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=14, guests=1)


def card(board: int, seq: int, slot: str, text: str, by: dict[str, Any] | None
         ) -> dict[str, Any]:
    return {"op": "event", "stream": f"board:{board}", "seq": seq, "type": "board.card.set",
            "data": {"board": board, "slot": slot, "text": text, "by": by}}


def joined(board: int, seq: int, user: dict[str, Any]) -> dict[str, Any]:
    return {"op": "event", "stream": f"board:{board}", "seq": seq, "type": "board.joined",
            "data": {"board": board, "user": user}}


def on(client: Recorder, stream: str) -> list[dict[str, Any]]:
    return [f for f in client.stream_events() if f["stream"] == stream]


async def board_of_two(stack: Stack, users: Users) -> tuple[Recorder, Recorder, int]:
    """An owner on server 0 and a member on server 1 of a new board (seq 1, 2: joins)."""
    owner = await open_client(stack, users.take(), settled=True)
    member = await open_client(stack, users.take(), server=1, settled=True)
    board = (await owner.request("boards.create", name="Retro"))["board"]
    assert (await member.request("boards.join", board=board))["seq"] == 2
    return owner, member, board


async def error_code(client: Recorder, op: str, **fields: Any) -> str:
    try:
        await client.request(op, **fields)
    except ColloquyError as exc:
        return exc.code
    return "ok"


async def test_board_events_reach_members_live_on_every_process(
        stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)
    reply = await member.request("boards.set", board=board, slot="went-well", text="the demo")
    assert reply == {"op": "ok", "ref": reply["ref"], "board": board, "seq": 3}
    stream = f"board:{board}"
    await until(lambda: len(on(owner, stream)) == 3, "three board events on the owner")
    assert on(owner, stream) == [
        joined(board, 1, owner.user), joined(board, 2, member.user),
        card(board, 3, "went-well", "the demo", member.user)]
    await until(lambda: len(on(member, stream)) == 2, "the join and the card on the member")
    assert on(member, stream) == on(owner, stream)[1:]
    await asyncio.gather(owner.close(), member.close())


async def test_history_of_a_board_reads_its_events_in_order(stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)
    for i in range(3):
        await owner.request("boards.set", board=board, slot=f"s{i}", text=f"t{i}")
    reply = await member.request("history", stream=f"board:{board}", after=0)
    assert [{k: e[k] for k in ("seq", "type")} for e in reply["events"]] == [
        {"seq": 1, "type": "board.joined"}, {"seq": 2, "type": "board.joined"},
        *({"seq": 3 + i, "type": "board.card.set"} for i in range(3))]
    assert reply["events"][2]["data"] == {"board": board, "slot": "s0", "text": "t0",
                                          "by": owner.user}
    await asyncio.gather(owner.close(), member.close())


async def test_resume_replays_the_board_events_a_member_missed(
        stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)
    stream = f"board:{board}"
    await until(lambda: member.last_seq.get(stream) == 2, "the member's own join")
    last = dict(member.last_seq)
    who = member.user
    await member.close()
    await owner.request("boards.set", board=board, slot="a", text="one")
    await owner.request("boards.clear", board=board, slot="a")

    back = await open_client(stack, who["username"], server=1, last_seq=last)
    ok = await back.request("resume", streams={stream: 2})
    assert ok == {"op": "ok", "ref": ok["ref"], "streams": {stream: 4}, "more": {}}
    assert on(back, stream) == [
        card(board, 3, "a", "one", owner.user),
        {"op": "event", "stream": stream, "seq": 4, "type": "board.card.cleared",
         "data": {"board": board, "slot": "a", "by": owner.user}}]
    await asyncio.gather(owner.close(), back.close())


async def test_a_board_joined_on_one_socket_is_live_on_the_users_other_socket(
        stack: Stack, users: Users) -> None:
    owner = await open_client(stack, users.take(), settled=True)
    name = users.take()
    here = await open_client(stack, name, settled=True)
    there = await open_client(stack, name, server=1, settled=True)  # access.granted reaches it
    board = (await owner.request("boards.create", name="Ideas"))["board"]
    await here.request("boards.join", board=board)
    await until(lambda: any(f.get("type") == "access.granted" for f in there.frames),
                "access.granted on the other socket")
    await owner.request("boards.set", board=board, slot="x", text="seen everywhere")
    stream = f"board:{board}"
    await until(lambda: len(on(there, stream)) >= 2, "the join and the card on the other socket")
    assert on(there, stream) == [joined(board, 2, here.user),
                                 card(board, 3, "x", "seen everywhere", owner.user)]
    await asyncio.gather(owner.close(), here.close(), there.close())


async def test_a_non_member_can_neither_read_nor_write_a_board(
        stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)
    outsider = await open_client(stack, users.take(), settled=True)
    stream = f"board:{board}"
    assert [await error_code(outsider, "history", stream=stream),
            await error_code(outsider, "resume", streams={stream: 0}),
            await error_code(outsider, "boards.set", board=board, slot="x", text="y"),
            await error_code(outsider, "boards.cards", board=board)] == ["forbidden"] * 4
    await owner.request("boards.set", board=board, slot="private", text="members only")
    await until(lambda: len(on(member, stream)) == 2, "the card on the member")
    await outsider.request("ping")
    assert on(outsider, stream) == []
    await asyncio.gather(owner.close(), member.close(), outsider.close())


async def test_a_guest_cannot_join_or_create_a_board(stack: Stack, users: Users) -> None:
    owner = await open_client(stack, users.take(), settled=True)
    guest = await open_client(stack, users.take("guest"), settled=True)
    board = (await owner.request("boards.create", name="Staff only"))["board"]
    assert [await error_code(guest, "boards.join", board=board),
            await error_code(guest, "boards.create", name="Mine"),
            await error_code(guest, "history", stream=f"board:{board}")] == ["forbidden"] * 3
    await asyncio.gather(owner.close(), guest.close())


async def test_leaving_a_board_stops_it_on_every_socket_of_the_leaver(
        stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)
    other_tab = await open_client(stack, member.user["username"], settled=True)
    stream = f"board:{board}"
    await member.request("boards.leave", board=board)
    await until(lambda: any(f.get("type") == "access.revoked" for f in other_tab.frames),
                "access.revoked on the other tab")
    assert [await error_code(c, "history", stream=stream)
            for c in (member, other_tab)] == ["forbidden"] * 2
    await owner.request("boards.set", board=board, slot="after", text="you left")
    await until(lambda: len(on(owner, stream)) == 4, "the card on the owner")
    await asyncio.gather(member.request("ping"), other_tab.request("ping"))
    assert [f for f in on(member, stream) + on(other_tab, stream) if f["seq"] > 3] == []
    await asyncio.gather(owner.close(), member.close(), other_tab.close())


# --- per-reader views: a public event and a restricted companion -----------------


def author_frame(board: int, seq: int, slot: str, by: dict[str, Any], of: int
                 ) -> dict[str, Any]:
    return {"op": "event", "stream": f"boardmod:{board}", "seq": seq,
            "type": "board.card.author", "data": {"board": board, "slot": slot, "by": by,
                                                  "of": of}}


async def test_an_anonymous_card_names_its_author_to_the_moderator_alone(
        stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)  # owner moderates
    colleague = await open_client(stack, users.take(), settled=True)
    await colleague.request("boards.join", board=board)
    reply = await member.request("boards.set", board=board, slot="worry", text="the deadline",
                                 anonymous=True)
    assert reply["seq"] == 4
    public = card(board, 4, "worry", "the deadline", None)
    mod = f"boardmod:{board}"
    await until(lambda: on(owner, mod), "the author on the moderator's companion stream")
    assert on(owner, mod) == [author_frame(board, 1, "worry", member.user, 4)]
    await until(lambda: public in on(colleague, f"board:{board}"), "the card on the colleague")
    await until(lambda: public in on(owner, f"board:{board}"), "the card on the moderator")
    await asyncio.gather(member.request("ping"), colleague.request("ping"))
    assert on(member, mod) == on(colleague, mod) == []
    assert [await error_code(c, "history", stream=mod) for c in (member, colleague)] == [
        "forbidden"] * 2
    await asyncio.gather(owner.close(), member.close(), colleague.close())


async def test_resume_replays_both_views_of_an_anonymous_card_to_the_moderator(
        stack: Stack, users: Users) -> None:
    owner, member, board = await board_of_two(stack, users)
    stream, mod = f"board:{board}", f"boardmod:{board}"
    await until(lambda: owner.last_seq.get(stream) == 2, "the member's join on the owner")
    last = {**owner.last_seq, mod: 0}
    name = owner.user["username"]
    await owner.close()
    await member.request("boards.set", board=board, slot="q", text="why?", anonymous=True)

    back = await open_client(stack, name, last_seq=last)
    ok = await back.request("resume", streams={stream: 2, mod: 0})
    assert ok["streams"] == {stream: 3, mod: 1}
    assert on(back, stream) == [card(board, 3, "q", "why?", None)]
    assert on(back, mod) == [author_frame(board, 1, "q", member.user, 3)]
    await asyncio.gather(member.close(), back.close())
