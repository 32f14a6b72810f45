"""What stays of a round table: the transcript (JSON and Markdown) says what the
events said, keeps anonymous authors anonymous, and is for its audience only."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
from typing import Any

from tests.stack import (
    Recorder,
    Stack,
    Users,
    round_table,
    round_table_events,
    round_table_viewer,
    until,
)


async def _session(stack: Stack) -> dict[str, Any]:
    """A whole round table, ended: five questions (the first anonymous), votes, a
    merge, a rejection, two answers (one written, one live). Returns the viewer who
    watched it all, the anonymous asker and the question ids."""
    users = Users(stack, 3)
    names = [users.take() for _ in range(3)]
    host, [mod], rt = await round_table(stack, names)
    rid = rt["id"]
    await host.start_roundtable(rid)
    (a, _), (b, _), (c, _) = [await round_table_viewer(stack, n, rid, i % 2)
                              for i, n in enumerate(names)]
    await mod.roundtable(rid)
    q1 = (await a.ask(rid, "Why the reorg?", "t1", anonymous=True))["question"]["id"]
    q2 = (await b.ask(rid, "Remote work?", "t2"))["question"]["id"]
    q3 = (await c.ask(rid, "Which office?", "t3"))["question"]["id"]
    q4 = (await b.ask(rid, "# Office plans?\n- really", "t4"))["question"]["id"]
    for voter, q in ((b, q1), (c, q1), (a, q2), (a, q3), (c, q4)):
        await voter.vote(q)
    await mod.moderate(q4, "merge", into=q3)
    q5 = (await c.ask(rid, "Parking?", "t5"))["question"]["id"]
    await mod.moderate(q5, "reject", reason="Facilities answer this")
    await mod.pin(rid, q1)
    await host.answer(q1, "To focus on clients.")
    await host.answer(q2)  # answered live, no text
    ended = await host.end_roundtable(rid)
    await asyncio.sleep(0.5)  # the last gathered ranking goes out
    await until(lambda: c.last_seq.get(f"roundtable:{rid}", 0) >= ended["seq"], "the end")
    for client in (host, mod, b):
        await client.close()
    return {"rid": rid, "viewer": c, "asker": a, "ids": (q1, q2, q3, q4, q5), "b": b.user}


def _from_events(viewer: Recorder, rid: int) -> dict[int, dict[str, Any]]:
    """Each question the audience saw, as its newest event says, with the newest
    gathered vote count."""
    seen: dict[int, dict[str, Any]] = {}
    for frame in round_table_events(viewer, rid):
        data = frame["data"]
        if frame["type"] in ("question.created", "question.updated"):
            q = data["question"]
            if q["id"] not in seen or q["version"] >= seen[q["id"]]["version"]:
                seen[q["id"]] = {**q, "votes": seen.get(q["id"], q)["votes"]}
        elif frame["type"] == "question.votes":
            for v in data["votes"]:
                seen[v["question"]]["votes"] = v["votes"]
    return seen


def _people(value: Any) -> Any:
    """Every person (a dict with a username) anywhere in a JSON value."""
    if isinstance(value, dict):
        if "username" in value:
            yield value
        for v in value.values():
            yield from _people(v)
    elif isinstance(value, list):
        for v in value:
            yield from _people(v)


async def test_the_transcript_says_what_the_events_said(stack: Stack) -> None:
    s = await _session(stack)
    rid, (q1, q2, q3, q4, q5) = s["rid"], s["ids"]
    status, headers, body = stack.get_raw(
        f"/api/roundtables/{rid}/transcript.json",
        {"Authorization": f"Bearer {stack.token(s['viewer'].user['username'])}"})
    assert (status, headers["content-type"], headers["cache-control"]) == (
        200, "application/json", "private, no-cache")
    got = json.loads(body)
    events = _from_events(s["viewer"], rid)
    fields = ("id", "body", "author", "anonymous", "state", "votes", "asked_at",
              "answered_at", "answer", "answered_by", "merged_into", "version")
    answered = sorted((q for q in events.values() if q["state"] == "answered"),
                      key=lambda q: q["answered_at"])
    assert [[q[f] for f in fields] for q in got["answered"]] == [
        [q[f] for f in fields] for q in answered]
    assert [q["id"] for q in got["answered"]] == [q1, q2]
    assert [(q["id"], q["votes"], q["merged"]) for q in got["unanswered"]] == [(q3, 2, [q4])]
    assert (got["answered"][0]["author"], got["answered"][0]["answer"]) == (
        None, "To focus on clients.")
    assert q5 not in [q["id"] for q in got["answered"] + got["unanswered"]]
    waits = [(q["answered_at"] - q["asked_at"]) / 1000 for q in got["answered"]]
    assert got["kpis"] == {
        "questions_asked": 5, "questions_approved": 3, "questions_answered": 2,
        "questions_rejected": 1, "questions_merged": 1, "questions_withdrawn": 0,
        "median_seconds_to_answer": round(statistics.median(waits), 1),
        "participants": 3, "viewers": 4}
    assert got["roundtable"]["state"] == "ended"
    await s["viewer"].close()
    await s["asker"].close()


async def test_the_markdown_transcript_names_nobody_anonymous(stack: Stack) -> None:
    s = await _session(stack)
    rid, asker = s["rid"], s["asker"].user
    auth = {"Authorization": f"Bearer {stack.token(s['viewer'].user['username'])}"}
    status, headers, body = stack.get_raw(f"/api/roundtables/{rid}/transcript.md", auth)
    assert (status, headers["content-type"]) == (200, "text/markdown; charset=utf-8")
    text = body.decode()
    lines = text.splitlines()
    at = r"at \d{4}-\d\d-\d\d \d\d:\d\d UTC"
    headings = [ln for ln in lines if ln.startswith("#")]
    patterns = ["# Ask the CEO", "## Answered", f"### 1\\. 2 votes, asked by Anonymous {at}",
                f"### 2\\. 1 vote, asked by {re.escape(s['b']['name'])} {at}",
                "## Not answered, by votes", "## In numbers"]
    assert len(headings) == len(patterns), headings
    assert all(re.fullmatch(p, h) for p, h in zip(patterns, headings, strict=True)), headings
    assert "> Why the reorg?" in lines and "To focus on clients." in lines
    assert "> # Office plans?" not in lines  # merged: named in the JSON, not shown twice
    assert "> Which office?" in lines
    # "Employee 12" must not match "Employee 123": whole names only.
    for needle in (asker["username"], asker["name"]):
        assert not re.search(rf"\b{re.escape(needle)}\b", text), needle
    _, _, raw_json = stack.get_raw(f"/api/roundtables/{rid}/transcript.json", auth)
    assert asker not in list(_people(json.loads(raw_json)))
    await s["viewer"].close()
    await s["asker"].close()


async def test_only_the_audience_reads_a_transcript(stack: Stack) -> None:
    users = Users(stack, 2, guests=1)
    member, outsider, guest = users.take(), users.take(), users.take("guest")
    host, [mod], rt = await round_table(stack, [member])
    path = f"/api/roundtables/{rt['id']}/transcript.json"
    status, _, body = stack.get_raw(path)
    assert (status, json.loads(body)) == (401, {
        "error": "unauthorized", "message": "log in or send Authorization: Bearer <token>"})
    for name in (outsider, guest):
        status, _, body = stack.get_raw(path, {"Authorization": f"Bearer {stack.token(name)}"})
        assert (status, json.loads(body)) == (403, {
            "error": "forbidden", "message": f"you cannot see round table {rt['id']}"})
    status, _, body = stack.get_raw("/api/roundtables/987654321/transcript.md",
                                    {"Authorization": f"Bearer {stack.token(outsider)}"})
    assert (status, json.loads(body)["message"]) == (
        403, "you cannot see round table 987654321")
    status, _, _ = stack.get_raw(path, {"Authorization": f"Bearer {stack.token(member)}"})
    assert status == 200
    await host.close()
    await mod.close()
