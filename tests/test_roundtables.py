"""Round tables on both profiles: lifecycle, questions, votes, moderation, answers,
anonymity and resume, with real processes and sockets on two server processes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.stack import (
    Recorder,
    Stack,
    State,
    Users,
    assert_converges,
    open_client,
    refused,
    round_table,
    round_table_events,
    round_table_viewer,
    until,
)


async def test_only_executives_and_admins_create_and_the_audience_is_told(stack: Stack) -> None:
    users = Users(stack, 2)
    a, b = users.take(), users.take()
    employee = await open_client(stack, a, settled=True)
    error = await refused(employee, "roundtable.create", title="Mine", starts_at=0, hosts=[a])
    assert error == {"op": "error", "ref": error["ref"], "code": "forbidden",
                     "message": "only executives and administrators create round tables"}
    host, _, rt = await round_table(stack, [a, b])
    notes = [e["data"] for e in await employee.events_of("notification.created", 2)]
    [note] = [n for n in notes if n["kind"] == "roundtable"]  # and the audience room's
    assert (note["kind"], note["roundtable"], note["preview"]) == (
        "roundtable", rt["id"], "Ask the CEO")
    assert (rt["state"], rt["premoderation"], [h["username"] for h in rt["hosts"]]) == (
        "scheduled", False, [host.user["username"]])
    listed = await employee.request("roundtables.list")
    assert rt["id"] in [r["id"] for r in listed["roundtables"]]
    viewer, snap = await round_table_viewer(stack, b, rt["id"], 1)
    assert (snap["roundtable"], snap["questions"], snap["pinned"]) == (rt, [], None)
    started = await host.request("roundtable.start", roundtable=rt["id"])
    [state] = await viewer.events_of("roundtable.state", 1)
    assert state == {"op": "event", "stream": f"roundtable:{rt['id']}", "seq": started["seq"],
                     "type": "roundtable.state",
                     "data": {"roundtable": rt["id"], "state": "live", "at": state["data"]["at"],
                              "by": host.user}}
    again = await refused(host, "roundtable.start", roundtable=rt["id"])
    assert (again["code"], again["message"]) == (
        "conflict", f"round table {rt['id']} is live: it cannot start")
    for c in (employee, host, viewer):
        await c.close()


async def test_a_whole_session_is_seen_the_same_by_everyone(stack: Stack) -> None:
    """Ask (one anonymously), vote, pin, answer: viewers on both processes see the
    same events in the same seq order, and the ranking arrives gathered."""
    users = Users(stack, 4)
    names = [users.take() for _ in range(4)]
    host, [mod], rt = await round_table(stack, names)
    rid = rt["id"]
    await host.request("roundtable.start", roundtable=rid)
    views = [await round_table_viewer(stack, n, rid, i % 2) for i, n in enumerate(names)]
    (ann, _), (ben, _), (cy, _), (dee, _) = views
    anon = await ann.request("question.ask", roundtable=rid, body="Why the reorg?",
                             anonymous=True, client_id="q1")
    assert (anon["question"]["author"], anon["question"]["mine"], anon["duplicate"]) == (
        None, True, False)
    plain = await ben.request("question.ask", roundtable=rid, body="Remote work?",
                              client_id="q2")
    again = await ann.request("question.ask", roundtable=rid, body="Why the reorg?",
                              anonymous=True, client_id="q1")
    assert (again["duplicate"], again["question"]["id"]) == (True, anon["question"]["id"])
    qa, qb = anon["question"]["id"], plain["question"]["id"]
    # Double clicks from two tabs on two processes at once: one vote.
    cy_tab = await open_client(stack, names[2], server=1, settled=True)
    votes = await asyncio.gather(cy.request("question.vote", question=qa, up=True),
                                 cy_tab.request("question.vote", question=qa, up=True))
    assert {v["votes"] for v in votes} == {1}
    await dee.request("question.vote", question=qa, up=True)
    await ben.request("question.vote", question=qb, up=True)
    await mod.request("roundtable.get", roundtable=rid)
    pinned = await mod.request("question.pin", roundtable=rid, question=qa)
    await host.request("question.answer", question=qa, answer="To focus on clients.")
    await asyncio.sleep(2 / 4)  # the last gathered ranking goes out
    head = (await host.request("roundtable.get", roundtable=rid))["seq"]
    for client, _ in views:
        await until(lambda c=client: c.last_seq.get(f"roundtable:{rid}", 0) >= head,
                    "every viewer at the head")
    orders = [[(f["seq"], f["type"]) for f in round_table_events(c, rid)] for c, _ in views]
    assert all(order == orders[0] for order in orders), orders
    types = [t for _, t in orders[0]]
    assert types[:2] == ["question.created", "question.created"]
    changes = [t for t in types if t != "question.votes"]
    assert changes[-3:] == ["question.pinned", "question.updated", "question.pinned"]
    assert pinned["question"] == qa
    votes_events = [f["data"]["votes"] for f in round_table_events(ann, rid)
                    if f["type"] == "question.votes"]
    final: dict[int, int] = {}
    for batch in votes_events:
        final.update({v["question"]: v["votes"] for v in batch})
    assert final == {qa: 2, qb: 1}
    assert len(votes_events) <= 3  # four votes in a burst: gathered
    snap = await dee.request("roundtable.get", roundtable=rid)
    shown = {q["id"]: (q["state"], q["votes"], q["author"], q.get("voted"))
             for q in snap["questions"]}
    assert shown == {qa: ("answered", 2, None, True), qb: ("approved", 1, ben.user, False)}
    for c in [host, mod, cy_tab, *(c for c, _ in views)]:
        await c.close()


async def _premoderated(stack: Stack) -> tuple[int, Recorder, Recorder, Recorder, Recorder]:
    """A pre-moderated round table for two employees, opened by both (one per server
    process): its id, the host's, the moderator's and the two employees' clients."""
    users = Users(stack, 2)
    names = [users.take(), users.take()]
    host, [mod], rt = await round_table(stack, names, premoderation=True)
    first, _ = await round_table_viewer(stack, names[0], rt["id"], 0)
    second, _ = await round_table_viewer(stack, names[1], rt["id"], 1)
    return rt["id"], host, mod, first, second


async def test_an_anonymous_author_is_named_to_nobody_else(stack: Stack) -> None:
    rid, host, mod, asker, other = await _premoderated(stack)
    await mod.request("roundtable.get", roundtable=rid)
    await host.request("roundtable.get", roundtable=rid)
    for client in (host, mod, other):  # from the question on (the audience room names all)
        client.frames.clear()
    asked = await asker.request("question.ask", roundtable=rid, body="Salaries?",
                                anonymous=True, client_id="a1")
    qid = asked["question"]["id"]
    [pending] = await mod.events_of("question.created", 1, stream=f"rtmod:{rid}")
    assert (pending["data"]["question"]["state"], pending["data"]["question"]["author"]) == (
        "pending", None)
    await mod.request("question.moderate", question=qid, action="approve")
    await other.request("question.vote", question=qid, up=True)
    await host.request("question.pin", roundtable=rid, question=qid)
    await host.request("question.answer", question=qid, answer="Up 4%.")
    await other.request("roundtable.get", roundtable=rid)
    await mod.request("roundtables.list")
    await asyncio.sleep(0.5)
    me = asker.user
    needles = {f'"id":{me["id"]},', me["username"], me["name"]}
    for client in (host, mod, other):
        seen = [json.dumps(f, separators=(",", ":")) for f in client.frames]
        leaks = [s for s in seen for n in needles if n in s]
        assert leaks == [], leaks
    for c in (host, mod, asker, other):
        await c.close()


async def test_premoderated_questions_wait_hidden_and_are_not_votable(stack: Stack) -> None:
    rid, host, mod, asker, voter = await _premoderated(stack)
    asked = await asker.request("question.ask", roundtable=rid, body="Bonus?", client_id="p1")
    qid = asked["question"]["id"]
    assert asked["question"]["state"] == "pending"
    hidden = await refused(voter, "question.vote", question=qid, up=True)
    assert (hidden["code"], hidden["message"]) == ("not_found", f"no question {qid}")
    snap = await voter.request("roundtable.get", roundtable=rid)
    assert snap["questions"] == []
    own = await asker.request("roundtable.get", roundtable=rid)
    assert [(q["id"], q["state"], q["mine"]) for q in own["questions"]] == [(qid, "pending", True)]
    rejected = await mod.request("question.moderate", question=qid, action="reject",
                                 reason="Asked and answered last quarter")
    assert rejected["state"] == "rejected"
    mine = [e for e in await asker.events_of("question.mine", 2)][-1]["data"]["question"]
    assert (mine["state"], mine["reason"]) == ("rejected", "Asked and answered last quarter")
    assert [f for f in round_table_events(voter, rid) if f["type"].startswith("question.")] == []
    for c in (host, mod, asker, voter):
        await c.close()


async def test_a_merge_combines_votes_counting_each_voter_once(stack: Stack) -> None:
    users = Users(stack, 3)
    names = [users.take() for _ in range(3)]
    host, [mod], rt = await round_table(stack, names)
    rid = rt["id"]
    a, _ = await round_table_viewer(stack, names[0], rid, 0)
    b, _ = await round_table_viewer(stack, names[1], rid, 1)
    c, _ = await round_table_viewer(stack, names[2], rid, 0)
    first = (await a.request("question.ask", roundtable=rid, body="Office?",
                             client_id="m1"))["question"]["id"]
    dup = (await b.request("question.ask", roundtable=rid, body="Which office?",
                           client_id="m2"))["question"]["id"]
    await b.request("question.vote", question=first, up=True)  # b on both
    await b.request("question.vote", question=dup, up=True)
    await c.request("question.vote", question=dup, up=True)
    await mod.request("roundtable.get", roundtable=rid)
    merged = await mod.request("question.moderate", question=dup, action="merge", into=first)
    assert merged["state"] == "merged"
    snap = await a.request("roundtable.get", roundtable=rid)
    shown = {q["id"]: (q["state"], q["votes"], q["merged_into"]) for q in snap["questions"]}
    assert shown == {first: ("approved", 2, None)}  # b once, c once; the duplicate gone
    voted = [e["data"] for e in await c.events_of("question.voted", 2)]
    assert voted == [{"roundtable": rid, "question": dup, "up": True},
                     {"roundtable": rid, "question": first, "up": True}]  # c's vote moved
    other = await round_table(stack, [])
    elsewhere = (await other[0].request("question.ask", roundtable=other[2]["id"],
                                        body="Elsewhere", client_id="m3"))["question"]["id"]
    across = await refused(mod, "question.moderate", question=first, action="merge",
                           into=elsewhere)
    assert (across["code"], across["message"]) == (
        "bad_request", "a question merges into another question of the same round table")
    for cl in (host, mod, a, b, c, other[0], *other[1]):
        await cl.close()


async def test_what_may_not_be_done_is_refused(stack: Stack) -> None:
    users = Users(stack, 1, guests=1)
    outsider, guest_name = users.take(), users.take("guest")
    host, [mod], rt = await round_table(stack, [], audience={"kind": "departments",
                                                    "departments": ["Finance"]})
    rid = rt["id"]
    stranger = await open_client(stack, outsider)
    guest = await open_client(stack, guest_name)
    for client in (stranger, guest):
        error = await refused(client, "roundtable.get", roundtable=rid)
        assert (error["code"], error["message"]) == (
            "forbidden", f"you cannot see round table {rid}")
        nothing = await refused(client, "roundtable.get", roundtable=987654321)
        assert nothing["message"] == "you cannot see round table 987654321"
    await host.request("roundtable.get", roundtable=rid)
    q = (await host.request("question.ask", roundtable=rid, body="Test",
                            client_id="r1"))["question"]["id"]
    for i in range(2, 6):
        await host.request("question.ask", roundtable=rid, body=f"Test {i}", client_id=f"r{i}")
    flood = await refused(host, "question.ask", roundtable=rid, body="One more", client_id="r6")
    assert (flood["code"], flood["message"]) == ("rate_limited", "at most 5 questions a minute")
    await host.request("roundtable.start", roundtable=rid)
    await host.request("roundtable.end", roundtable=rid)
    ended = await refused(mod, "question.vote", question=q, up=True)
    assert (ended["code"], ended["message"]) == ("conflict", f"round table {rid} has ended")
    late = await refused(host, "question.ask", roundtable=rid, body="Late", client_id="r7")
    assert late["code"] == "conflict"
    for c in (host, mod, stranger, guest):
        await c.close()


def _apply(state: State, frame: dict[str, Any]) -> State:
    """A viewer's round table: question id → (state, votes, version), and the pin."""
    data = frame["data"]
    questions = dict(state["questions"])
    if frame["type"] in ("question.created", "question.updated"):
        q = data["question"]
        known = questions.get(q["id"])
        if known is None or q["version"] >= known[2]:
            questions[q["id"]] = (q["state"], q["votes"], q["version"])
    elif frame["type"] == "question.votes":
        for v in data["votes"]:
            if v["question"] in questions:
                s, _, version = questions[v["question"]]
                questions[v["question"]] = (s, v["votes"], version)
    elif frame["type"] == "question.pinned":
        return {**state, "questions": questions, "pinned": data["question"]}
    elif frame["type"] == "roundtable.state":
        return {**state, "questions": questions, "state": data["state"]}
    return {**state, "questions": questions}


def _view(snap: dict[str, Any]) -> State:
    shown = {q["id"]: (q["state"], q["votes"], q["version"]) for q in snap["questions"]
             if q["state"] in ("approved", "answered")}
    return {"questions": shown, "pinned": snap["pinned"], "state": snap["roundtable"]["state"]}


async def test_a_viewer_resuming_mid_session_ends_in_the_state_roundtable_get_returns(
        stack: Stack) -> None:
    users = Users(stack, 2)
    viewer_name, asker_name = users.take(), users.take()
    host, [mod], rt = await round_table(stack, [viewer_name, asker_name])
    rid = rt["id"]
    await host.request("roundtable.start", roundtable=rid)
    asker, _ = await round_table_viewer(stack, asker_name, rid, 0)
    first = (await asker.request("question.ask", roundtable=rid, body="One",
                                 client_id="v1"))["question"]["id"]
    viewer, snap = await round_table_viewer(stack, viewer_name, rid, 1)
    old = _view(snap)
    await viewer.request("question.vote", question=first, up=True)
    stopped = dict(viewer.last_seq)
    await viewer.close()  # away while the session goes on
    second = (await asker.request("question.ask", roundtable=rid, body="Two",
                                  client_id="v2"))["question"]["id"]
    await asker.request("question.vote", question=second, up=True)
    await mod.request("roundtable.get", roundtable=rid)
    await mod.request("question.pin", roundtable=rid, question=second)
    done = await host.request("question.answer", question=first, answer="Yes")
    back = await open_client(stack, viewer_name, server=0, last_seq=stopped)
    await back.request("resume", streams=stopped)
    await asyncio.sleep(1 / 4 + 0.3)  # the last ranking
    await until(lambda: back.last_seq.get(f"roundtable:{rid}", 0) >= done["seq"], "the resume")
    frames = [f for f in viewer.stream_events() + back.stream_events()
              if f["stream"] == f"roundtable:{rid}"]

    async def fetch() -> State:
        return _view(await back.request("roundtable.get", roundtable=rid))

    fresh = await assert_converges(old, frames, _apply, fetch)
    assert fresh["pinned"] == second and fresh["questions"][first][:2] == ("answered", 1)
    for c in (host, mod, asker, back):
        await c.close()


def _staff_view(snap: dict[str, Any]) -> State:
    """What hosts and moderators see: the audience's questions and the queue."""
    shown = {q["id"]: (q["state"], q["votes"], q["version"]) for q in snap["questions"]
             if q["state"] in ("approved", "answered", "pending")}
    return {"questions": shown, "pinned": snap["pinned"], "state": snap["roundtable"]["state"]}


def _keeping(states: tuple[str, ...]) -> Any:
    """_apply, then only the questions in `states` (the documented client rule)."""
    def apply(state: State, frame: dict[str, Any]) -> State:
        after = _apply(state, frame)
        return {**after, "questions": {k: v for k, v in after["questions"].items()
                                       if v[0] in states}}
    return apply


async def test_every_change_converges_for_the_audience_across_a_resume_and_for_the_staff(
        stack: Stack) -> None:
    """Approve, edit, vote, merge, reject, withdraw, pin, answer and end: a viewer away
    for most of it and a moderator watching all of it each end where a fresh
    roundtable.get stands."""
    users = Users(stack, 2)
    viewer_name, asker_name = users.take(), users.take()
    host, [mod], rt = await round_table(stack, [viewer_name, asker_name], premoderation=True)
    rid = rt["id"]
    await host.start_roundtable(rid)
    mod_snap = await mod.roundtable(rid)
    asker, _ = await round_table_viewer(stack, asker_name, rid, 0)
    viewer, snap = await round_table_viewer(stack, viewer_name, rid, 1)
    q1, q2, q3, q4, q5 = [(await asker.ask(rid, f"Q{i}?", f"c{i}"))["question"]["id"]
                          for i in range(1, 6)]
    for q in (q1, q2, q5):
        await mod.moderate(q, "approve")
    await viewer.vote(q1)
    await asker.edit_question(q1, "Q1, put better?")
    stopped = dict(viewer.last_seq)
    await viewer.close()  # away for the rest, the end included
    await mod.moderate(q3, "approve")
    await _vote_from_another_tab(stack, viewer_name, q3)
    await mod.moderate(q3, "merge", into=q2)
    await mod.moderate(q4, "reject", reason="Off topic")
    await asker.withdraw_question(q5)
    await host.pin(rid, q2)
    await host.answer(q2, "Yes.")
    ended = await host.end_roundtable(rid)
    await asyncio.sleep(1 / 4 + 0.3)  # the last ranking
    back = await open_client(stack, viewer_name, server=0, last_seq=stopped)
    assert f"roundtable:{rid}" in back.hello["streams"]  # ended, still resumable
    await back.request("resume", streams=stopped)
    await until(lambda: back.last_seq.get(f"roundtable:{rid}", 0) >= ended["seq"], "the resume")
    frames = [f for f in viewer.stream_events() + back.stream_events()
              if f["stream"] == f"roundtable:{rid}"]

    async def fetch() -> State:
        return _view(await back.request("roundtable.get", roundtable=rid))

    fresh = await assert_converges(_view(snap), frames, _keeping(("approved", "answered")),
                                   fetch)
    assert fresh == {"questions": {q1: ("approved", 1, 3), q2: ("answered", 1, fresh[
        "questions"][q2][2])}, "pinned": None, "state": "ended"}
    staff_frames = [f for f in mod.stream_events()
                    if f["stream"] in (f"roundtable:{rid}", f"rtmod:{rid}")]

    async def staff_fetch() -> State:
        return _staff_view(await mod.request("roundtable.get", roundtable=rid))

    await assert_converges(_staff_view(mod_snap), staff_frames,
                           _keeping(("approved", "answered", "pending")), staff_fetch)
    for c in (host, mod, asker, back):
        await c.close()


async def _vote_from_another_tab(stack: Stack, name: str, question: int) -> None:
    """A vote from another tab of the viewer's, while the viewer's first tab is away."""
    tab = await open_client(stack, name, server=1)
    await tab.vote(question)
    await tab.close()


async def test_bad_fields_get_a_clear_error_and_change_nothing(stack: Stack) -> None:
    users = Users(stack, 1)
    member = users.take()
    host, [mod], rt = await round_table(stack, [member])
    rid = rt["id"]
    asker, _ = await round_table_viewer(stack, member, rid, 0)
    qid = (await asker.ask(rid, "Fine?", "b1"))["question"]["id"]
    create = {"title": "T", "starts_at": 0, "hosts": [host.user["username"]]}
    cases = [
        (host, "roundtable.create", {**create, "audience": {"kind": "planet"}}, "bad_request",
         "audience 'kind' must be 'everyone', 'departments' or 'room'"),
        (host, "roundtable.create", {**create, "audience": {"kind": "departments",
                                                             "departments": []}},
         "bad_request", "an audience of departments names at least one"),
        (host, "roundtable.create", {**create, "hosts": ["nobody-at-all"]}, "bad_request",
         "no such employees: nobody-at-all"),
        (host, "roundtable.create", {**create, "title": "x" * 201}, "bad_request",
         "field 'title' is at most 200 characters"),
        (host, "roundtable.create", {**create, "starts_at": "soon"}, "bad_request",
         "field 'starts_at' must be integer, got str"),
        (asker, "question.ask", {"roundtable": rid, "body": "  ", "client_id": "b2"},
         "bad_request", "a question needs a 'body'"),
        (asker, "question.ask", {"roundtable": rid, "body": "?" * 1001, "client_id": "b3"},
         "too_large", "a question is at most 1000 characters"),
        (asker, "question.ask", {"roundtable": rid, "body": "Hi?", "client_id": ""},
         "bad_request", "field 'client_id' must be 1 to 64 characters"),
        (asker, "question.vote", {"question": qid, "up": "yes"}, "bad_request",
         "field 'up' must be boolean, got str"),
        (asker, "question.vote", {"question": -4}, "bad_request",
         "field 'question' must be a positive integer"),
        (mod, "question.moderate", {"question": qid, "action": "delete"}, "bad_request",
         "field 'action' must be 'approve', 'reject' or 'merge'"),
        (mod, "question.moderate", {"question": qid, "action": "merge"}, "bad_request",
         "merge needs 'into': the question to merge this one into"),
        (mod, "question.moderate", {"question": qid, "action": "merge", "into": qid},
         "bad_request", f"question {qid} cannot take a merge"),
        (asker, "question.moderate", {"question": qid, "action": "approve"}, "forbidden",
         "only its hosts and moderators can moderate questions"),
    ]
    for client, op, fields, code, message in cases:
        error = await refused(client, op, **fields)
        assert error == {"op": "error", "ref": error["ref"], "code": code,
                         "message": message}, (op, fields)
    snap = await asker.roundtable(rid)
    assert [(q["id"], q["state"], q["votes"], q["version"]) for q in snap["questions"]] == [
        (qid, "approved", 0, 1)]
    assert [r["id"] for r in await host.roundtables() if r["title"] == "T"] == []
    for c in (host, mod, asker):
        await c.close()
