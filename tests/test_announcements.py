"""Announcements that must be acknowledged: message.send requires_ack, message.ack,
ack.updated, acks.list and the CSV export, on both profiles."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from tests.stack import (
    AdminBrowser,
    Recorder,
    Stack,
    State,
    Users,
    assert_converges,
    make_staff,
    open_client,
    refused,
    send,
    until,
)

CSV_HEADER = ["username", "name", "department", "status", "acknowledged_version",
              "acknowledged_at", "current_version"]


def moderator(stack: Stack) -> str:
    name = stack.new_user("moderator")
    stack.issue_tokens([name])
    return name


async def _board(stack: Stack, members: list[str]) -> tuple[Recorder, dict[str, Any]]:
    """A moderator's recording client and the room it made with `members`."""
    author = await open_client(stack, moderator(stack), settled=True)
    reply = await author.request("rooms.create", name="Policies", members=members)
    return author, reply["room"]


def export(stack: Stack, room: int, message: str, token: str) -> tuple[int, Any]:
    """GET the CSV: (status, rows or the JSON error)."""
    status, headers, body = stack.get_raw(f"/api/rooms/{room}/messages/{message}/acks.csv",
                                          {"Authorization": f"Bearer {token}"})
    if status != 200:
        import json

        return status, json.loads(body)
    assert headers["content-type"] == "text/csv; charset=utf-8"
    return status, list(csv.reader(io.StringIO(body.decode())))


async def test_only_moderators_and_above_or_a_room_that_allows_it_may_require_ack(
        stack: Stack) -> None:
    users = Users(stack, 2)
    a, b = users.take(), users.take()
    client = await open_client(stack, a)
    plain = (await client.request("rooms.create", name="Plain", members=[b]))["room"]
    error = await refused(client, "message.send", room=plain["id"], body="Read this",
                                     client_id="p-1", requires_ack=True)
    assert error == {"op": "error", "ref": error["ref"], "code": "forbidden",
                       "message": "only moderators, executives and administrators can"
                                  " require acknowledgement in this room"}
    open_room = (await client.request("rooms.create", name="Open", members=[b],
                                      members_announce=True))["room"]
    sent = await client.announce(open_room["id"], "Read this", "p-2")
    assert sent["duplicate"] is False
    await client.close()


async def test_an_acknowledgement_is_recorded_once_and_counted_for_everyone(
        stack: Stack) -> None:
    users = Users(stack, 2)
    a, b = users.take(), users.take()
    author, room = await _board(stack, [a, b])
    reader = await open_client(stack, a, server=1, settled=True)
    phone = await open_client(stack, a, server=0, settled=True)
    sent = await author.announce(room["id"], "The travel policy changed", "t-1")
    [note] = [e["data"] for e in await reader.events_of("notification.created", 1)]
    assert (note["kind"], note["message"], note["preview"]) == (
        "announcement", sent["id"], "The travel policy changed")
    [created] = [f for f in reader.stream_events() if f["type"] == "message.created"]
    assert (created["data"]["requires_ack"], created["data"]["ack"]) == (
        True, {"version": 1, "acked": 0, "total": 2, "mine": False})
    ack = await reader.ack_message(room["id"], sent["id"])
    assert (ack["message"], ack["version"], ack["seq"]) == (sent["id"], 1, sent["seq"] + 1)
    [updated] = await author.events_of("ack.updated", 1)
    assert updated == {"op": "event", "stream": f"room:{room['id']}", "seq": sent["seq"] + 1,
                       "type": "ack.updated",
                       "data": {"room": room["id"], "message": sent["id"], "version": 1,
                                "acked": 1, "total": 2}}
    [mine] = await phone.events_of("message.acked", 1)  # every device of the employee
    assert mine["data"] == {"room": room["id"], "message": sent["id"], "version": 1,
                            "at": ack["at"]}
    again = await phone.ack_message(room["id"], sent["id"])
    assert again == {**ack, "ref": again["ref"], "seq": None}
    # Acknowledged: its notification is read, on every device.
    [read] = await phone.events_of("notification.read", 1)
    assert read["data"] == {"ids": [note["id"]], "up_to": None}
    listed = await reader.notifications(limit=5)
    assert [(n["kind"], n["read"]) for n in listed["notifications"]][:1] == [
        ("announcement", True)]
    for c in (author, reader, phone):
        await c.close()


async def test_two_hundred_acknowledgements_some_twice_some_at_once_make_two_hundred_rows(
        stack: Stack) -> None:
    users = Users(stack, 200)
    names = [users.take() for _ in range(200)]
    author, room = await _board(stack, names)
    sent = await author.announce(room["id"], "Code of conduct, 2027", "c-1")
    clients = [await open_client(stack, n, server=i % 2) for i, n in enumerate(names)]
    twice = clients[:30]  # ack, then ack again
    both = clients[30:60]  # two devices of one employee ack at the same moment
    second = [await open_client(stack, n, server=1 + i % 2) for i, n in enumerate(names[30:60])]

    async def ack(client: Any) -> dict[str, Any]:
        return await client.ack_message(room["id"], sent["id"])

    firsts = await asyncio.gather(*(ack(c) for c in clients[60:]), *(ack(c) for c in twice))
    repeats = await asyncio.gather(*(ack(c) for c in twice))
    pairs = await asyncio.gather(*(ack(c) for c in both + second))
    assert [r["seq"] for r in repeats] == [None] * 30
    # Of each pair, one wrote the row and the other was told it exists.
    assert sorted(r["seq"] is None for r in pairs) == [False] * 30 + [True] * 30
    assert all(r["version"] == 1 for r in [*firsts, *pairs])
    events = await author.events_of("ack.updated", 200, timeout=30)
    assert max(e["data"]["acked"] for e in events) == 200
    assert {e["data"]["total"] for e in events} == {200}
    listed = await author.acks(room["id"], sent["id"])
    assert (listed["total"], len(listed["acked"]), listed["pending"]) == (200, 200, [])
    status, rows = export(stack, room["id"], sent["id"], stack.token(author.user["username"]))
    assert status == 200 and rows[0] == CSV_HEADER
    assert sorted(r[0] for r in rows[1:]) == sorted(names)
    assert {(r[3], r[4], r[6]) for r in rows[1:]} == {("acknowledged", "1", "1")}
    # The export's times are the acks' own: each as its ack reply said.
    said = {c.user["username"]: r["at"] for c, r in zip(clients[60:] + twice, firsts,
                                                          strict=True)}
    by_name = {r[0]: r[5] for r in rows[1:]}
    for name, at in said.items():
        assert by_name[name].startswith(_iso_ms(at)), (name, at, by_name[name])
    for c in [author, *clients, *second]:
        await c.close()


def _iso_ms(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")[:-6]


async def test_only_the_author_moderators_and_admins_see_who_acknowledged(
        stack: Stack) -> None:
    users = Users(stack, 3)
    a, b, outsider = users.take(), users.take(), users.take()
    author, room = await _board(stack, [a, b])
    sent = await author.announce(room["id"], "Security training", "s-1")
    member = await open_client(stack, a)
    error = await refused(member, "acks.list", room=room["id"], message=sent["id"])
    assert error == {"op": "error", "ref": error["ref"], "code": "forbidden",
                       "message": "only the author, a moderator or an administrator can see"
                                  " who acknowledged"}
    assert export(stack, room["id"], sent["id"], stack.token(a)) == (403, {
        "error": "forbidden",
        "message": "only the author, a moderator or an administrator can see who acknowledged"})
    assert export(stack, room["id"], sent["id"], stack.token(outsider)) == (403, {
        "error": "forbidden", "message": f"you are not a member of room {room['id']}"})
    status, _, _ = stack.get_raw(f"/api/rooms/{room['id']}/messages/{sent['id']}/acks.csv")
    assert status == 401
    status, rows = export(stack, room["id"], sent["id"], stack.token(author.user["username"]))
    assert status == 200 and [r[3] for r in rows[1:]] == ["pending", "pending"]
    await asyncio.gather(author.close(), member.close())


async def test_an_edit_asks_everyone_again_and_the_export_says_which_version(
        stack: Stack) -> None:
    users = Users(stack, 2)
    a, b = users.take(), users.take()
    author, room = await _board(stack, [a, b])
    reader = await open_client(stack, a, server=1, settled=True)
    sent = await author.announce(room["id"], "Remote work: 2 days", "r-1")
    await reader.ack_message(room["id"], sent["id"])
    await author.events_of("ack.updated", 1)
    await author.edit_message(room["id"], sent["id"], "Remote work: 3 days")
    [updated] = await author.events_of("ack.updated", 1)
    assert updated["data"] == {"room": room["id"], "message": sent["id"], "version": 2,
                               "acked": 0, "total": 2}
    notes = await reader.events_of("notification.created", 2)  # sent, then edited
    assert [(n["data"]["kind"], n["data"]["preview"]) for n in notes] == [
        ("announcement", "Remote work: 2 days"), ("announcement", "Remote work: 3 days")]
    token = stack.token(author.user["username"])
    _, rows = export(stack, room["id"], sent["id"], token)
    assert {r[0]: (r[3], r[4], r[6]) for r in rows[1:]} == {
        a: ("pending", "1", "2"), b: ("pending", "", "2")}
    again = await reader.ack_message(room["id"], sent["id"])
    assert again["version"] == 2
    _, rows = export(stack, room["id"], sent["id"], token)
    assert {r[0]: (r[3], r[4]) for r in rows[1:]} == {a: ("acknowledged", "2"), b: ("pending", "")}
    await asyncio.gather(author.close(), reader.close())


async def test_what_cannot_be_acknowledged_is_refused(stack: Stack) -> None:
    users = Users(stack, 1)
    a = users.take()
    author, room = await _board(stack, [a])
    member = await open_client(stack, a)
    plain = await send(author, room["id"], "Just chatting", "x-1")
    sent = await author.announce(room["id"], "Fire drill at noon", "x-2")
    cases = [
        (member, "message.ack", {"message": plain["id"]}, "bad_request",
         f"message {plain['id']} does not require acknowledgement"),
        (author, "message.ack", {"message": sent["id"]}, "bad_request",
         "the author of an announcement does not acknowledge it"),
        (author, "message.send", {"body": "r", "client_id": "x-3", "thread": sent["id"],
                                  "requires_ack": True}, "bad_request",
         "a thread reply cannot require acknowledgement"),
        (member, "notifications.prefs", {"off": ["announcement"]}, "bad_request", None),
    ]
    for client, op, fields, code, message in cases:
        extra = {} if op == "notifications.prefs" else {"room": room["id"]}
        error = await refused(client, op, **extra, **fields)
        assert (error["op"], error["code"]) == ("error", code), (op, error)
        if message is not None:
            assert error["message"] == message
    await author.delete_message(room["id"], sent["id"])
    gone = await refused(member, "message.ack", room=room["id"], message=sent["id"])
    assert (gone["code"], gone["message"]) == ("conflict", f"message {sent['id']} is deleted")
    await asyncio.gather(author.close(), member.close())


def _apply(state: State, frame: dict[str, Any]) -> State:
    """A reader's view of announcements: id → {version, acked, total, mine}."""
    data = frame["data"]
    if frame["type"] == "message.created" and data.get("requires_ack"):
        return {**state, data["id"]: data["ack"]}
    if frame["type"] == "ack.updated" and data["message"] in state:
        known = state[data["message"]]
        mine = known["mine"] and known["version"] == data["version"]
        return {**state, data["message"]: {"version": data["version"], "acked": data["acked"],
                                           "total": data["total"], "mine": mine}}
    if frame["type"] == "message.acked" and data["message"] in state:
        known = state[data["message"]]
        if known["version"] == data["version"]:
            return {**state, data["message"]: {**known, "mine": True}}
    return state


async def _view(client: Any, room: int) -> State:
    page = await client.request("history", stream=f"room:{room}", limit=100)
    return {e["data"]["id"]: e["data"]["ack"] for e in page["events"]
            if e["type"] == "message.created" and "ack" in e["data"]}


async def test_a_reader_resuming_across_acks_and_an_edit_converges(stack: Stack) -> None:
    users = Users(stack, 2)
    a, b = users.take(), users.take()
    author, room = await _board(stack, [a, b])
    first = await author.announce(room["id"], "Holiday rota", "v-1")
    reader = await open_client(stack, a, server=1, settled=True)
    old = await _view(reader, room["id"])
    assert old == {first["id"]: {"version": 1, "acked": 0, "total": 2, "mine": False}}
    other = await open_client(stack, b)
    await other.ack_message(room["id"], first["id"])
    await reader.ack_message(room["id"], first["id"])
    stopped = dict(reader.last_seq)
    await reader.close()  # offline for the edit and a new announcement
    await author.edit_message(room["id"], first["id"], "Holiday rota, updated")
    await other.ack_message(room["id"], first["id"])
    second = await author.announce(room["id"], "Parking", "v-2")
    back = await open_client(stack, a, server=0, last_seq=stopped)
    await back.request("resume", streams=stopped)
    head = (await author.request("rooms.list"))["rooms"][0]["last_seq"]
    await until(lambda: back.last_seq.get(f"room:{room['id']}", 0) >= head, "the resume")
    frames = [f for f in reader.stream_events() + back.stream_events()
              if f["type"] in ("message.created", "ack.updated", "message.acked")]
    fresh = await assert_converges(old, frames, _apply, lambda: _view(back, room["id"]))
    assert fresh == {first["id"]: {"version": 2, "acked": 1, "total": 2, "mine": False},
                     second["id"]: {"version": 1, "acked": 0, "total": 2, "mine": False}}
    for c in (author, other, back):
        await c.close()


async def test_the_admin_shows_who_acknowledged_which_version(stack: Stack) -> None:
    users = Users(stack, 2)
    a, b = users.take(), users.take()
    author, room = await _board(stack, [a, b])
    sent = await author.announce(room["id"], "Data retention", "d-1")
    reader = await open_client(stack, a)
    await reader.ack_message(room["id"], sent["id"])
    name, password = make_staff(stack)
    browser = AdminBrowser(stack, name, password).login()
    listing = await asyncio.to_thread(browser.get, "/admin/rooms/announcement/")
    assert sent["id"] in listing and "1 of 2 (version 1)" in listing
    page = await asyncio.to_thread(browser.get,
                                   f"/admin/rooms/announcement/{sent['id']}/change/")
    assert a in page and b not in page  # b has not acknowledged: no row
    await asyncio.gather(author.close(), reader.close())
