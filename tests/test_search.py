"""Search: Postgres full-text search (services) and SQLite FTS5 (embedded) behind
one op, over the rooms the searcher is in now, by each message's latest body."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from colloquy_client import ColloquyError
from tests.stack import Recorder, Stack, open_client, send


async def _found(client: Any, query: str, expect: list[str], **fields: Any
                 ) -> list[dict[str, Any]]:
    """The results once their ids are `expect` (messages become searchable when the
    persister has stored them, a moment after the ack)."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        results = (await client.search(query, **fields))["results"]
        if [r["id"] for r in results] == expect:
            return results
        assert asyncio.get_running_loop().time() < deadline, (query, results, expect)
        await asyncio.sleep(0.1)


async def _room(stack: Stack, name: str = "Ops") -> tuple[Recorder, Recorder, dict[str, Any]]:
    owner, member = stack.new_user(), stack.new_user()
    writer = await open_client(stack, owner)
    room = (await writer.request("rooms.create", name=name, members=[member]))["room"]
    reader = await open_client(stack, member, server=1)
    return writer, reader, room


async def test_search_finds_russian_and_english_words_newest_first(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    old = await send(writer, room["id"], "Планёрка переносится на пятницу", "s-1")
    new = await send(writer, room["id"], "The ПЯТНИЦУ deadline holds, says the Friday memo",
                     "s-2")
    [hit] = await _found(reader, "friday", [new["id"]])
    assert hit == {"id": new["id"], "room": room["id"], "seq": new["seq"], "ts": new["ts"],
                   "author": writer.user, "thread": None, "snippet": [
                       {"text": "The ПЯТНИЦУ deadline holds, says the ", "match": False},
                       {"text": "Friday", "match": True}, {"text": " memo", "match": False}]}
    both = await _found(reader, "пятницу", [new["id"], old["id"]])
    assert [s for s in both[1]["snippet"] if s["match"]] == [{"text": "пятницу", "match": True}]
    await asyncio.gather(writer.close(), reader.close())


async def test_search_never_shows_a_room_i_am_not_in_or_have_left(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    outsider = await open_client(stack, stack.new_user())
    theirs = (await outsider.request("rooms.create", name="Theirs", members=[]))["room"]
    hidden = await send(outsider, theirs["id"], "quarterly numbers leaked", "s-1")
    shown = await send(writer, room["id"], "quarterly numbers are in", "s-2")
    await _found(outsider, "quarterly", [hidden["id"]])
    await _found(reader, "quarterly", [shown["id"]])
    await reader.request("rooms.leave", room=room["id"])
    await reader.request("ping")
    assert (await reader.search("quarterly"))["results"] == []
    with pytest.raises(ColloquyError) as err:
        await reader.search("quarterly", room=room["id"])
    assert err.value.code == "forbidden"
    await asyncio.gather(writer.close(), reader.close(), outsider.close())


async def test_an_edited_message_is_found_by_its_latest_body_and_a_deleted_one_never(
        stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    edited = await send(writer, room["id"], "meet at the harbour", "s-1")
    gone = await send(writer, room["id"], "the harbour code is 4411", "s-2")
    await _found(reader, "harbour", [gone["id"], edited["id"]])
    await writer.edit_message(room["id"], edited["id"], "meet at the station")
    await writer.delete_message(room["id"], gone["id"])
    await _found(reader, "harbour", [])
    [hit] = await _found(reader, "station", [edited["id"]])
    assert "harbour" not in str(hit)
    # Edited and deleted before the persister stored them: the same.
    early = await send(writer, room["id"], "lighthouse at dawn", "s-3")
    await writer.edit_message(room["id"], early["id"], "lighthouse at dusk")
    secret = await send(writer, room["id"], "lighthouse key under the mat", "s-4")
    await writer.delete_message(room["id"], secret["id"])
    [hit] = await _found(reader, "lighthouse", [early["id"]])
    assert "dusk" in str(hit["snippet"])
    await asyncio.gather(writer.close(), reader.close())


async def test_search_pages_back_with_before_and_filters_by_room(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    other = (await writer.request("rooms.create", name="Other",
                                  members=[reader.user["username"]]))["room"]
    await reader.request("ping")
    sent = [await send(writer, room["id"], f"budget line {i}", f"s-{i}") for i in range(5)]
    elsewhere = await send(writer, other["id"], "budget elsewhere", "s-9")
    await _found(reader, "budget", [s["id"] for s in reversed(sent)], room=room["id"])
    await _found(reader, "budget", [elsewhere["id"]], room=other["id"])
    everywhere = await reader.search("budget")
    assert sorted(r["id"] for r in everywhere["results"]) == sorted(
        [elsewhere["id"], *(s["id"] for s in sent)])
    first = await reader.search("budget", room=room["id"], limit=3)
    assert [r["id"] for r in first["results"]] == [s["id"] for s in reversed(sent[2:])]
    assert first["before"] == f"{sent[2]['ts']}:{sent[2]['seq']}:{sent[2]['id']}"
    rest = await reader.search("budget", room=room["id"], before=first["before"], limit=3)
    assert [r["id"] for r in rest["results"]] == [sent[1]["id"], sent[0]["id"]]
    assert rest["before"] is None
    await asyncio.gather(writer.close(), reader.close())


async def test_search_takes_websearch_syntax(stack: Stack) -> None:
    writer, reader, room = await _room(stack)
    apples = await send(writer, room["id"], "red apples and pears", "s-1")
    plums = await send(writer, room["id"], "green plums and pears", "s-2")
    await _found(reader, "pears", [plums["id"], apples["id"]])
    assert [r["id"] for r in (await reader.search("pears -apples"))["results"]] == [plums["id"]]
    assert [r["id"] for r in (await reader.search('"red apples"'))["results"]] == [
        apples["id"]]
    assert [r["id"] for r in (await reader.search("plums or apples"))["results"]] == [
        plums["id"], apples["id"]]
    assert (await reader.search('") OR * NEAR('))["results"] == []
    assert (await reader.search("-apples -plums"))["results"] == []  # exclusions only
    await asyncio.gather(writer.close(), reader.close())


async def test_bad_searches_are_refused(stack: Stack) -> None:
    writer, reader, _ = await _room(stack)
    for fields, code in (({"query": "  "}, "bad_request"), ({"query": "x" * 201}, "too_large"),
                         ({"query": "x", "limit": 0}, "bad_request"),
                         ({"query": "x", "limit": 51}, "bad_request"),
                         ({"query": "x", "before": "-1"}, "bad_request"),
                         ({"query": "x", "before": 17}, "bad_request"),
                         ({"query": "x", "room": 987_654_321}, "forbidden"),
                         ({"query": 5}, "bad_request")):
        with pytest.raises(ColloquyError) as err:
            await reader.request("search", **fields)
        assert err.value.code == code, fields
    await asyncio.gather(writer.close(), reader.close())
