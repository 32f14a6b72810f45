"""Every event type is emitted somewhere in one tour of the product, and matches its schema.

The servers run with COLLOQUY_CHECK_EVENT_SCHEMAS, so an action that builds an
event off its schema fails there, for every event of every test. This module
makes sure no type escapes: one scenario emits each registered type (read
from a server-side process, so a new app's events count too) and every frame
two employees and the histories see is checked here against the schema.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import notifications.events
import presence.events
import realtime.access
import rooms.events
import roundtables.access
import roundtables.events
import tests.boards.events  # noqa: F401  (with the others: fills EVENTS in this process)
from realtime.schema import EVENTS, problems
from tests.stack import AdminBrowser, Recorder, Stack, make_staff, open_client, until


def registered(stack: Stack) -> list[str]:
    """The event types the server's apps register (Django set up as the server is)."""
    out = stack.manage("shell", "-c", "import json; from realtime.schema import EVENTS; "
                                      "print(json.dumps(sorted(EVENTS)))").stdout
    return list(json.loads(out.strip().splitlines()[-1]))


async def tour(stack: Stack) -> list[dict[str, Any]]:
    """Every event frame two employees (and the histories) see while each kind of
    thing happens once."""
    ana_name, ben_name, cy_name = stack.new_user(), stack.new_user(), stack.new_user()
    stack.issue_tokens([ana_name, ben_name, cy_name])
    ana = await open_client(stack, ana_name, settled=True)
    ben = await open_client(stack, ben_name, server=1, settled=True)
    room = (await ana.request("rooms.create", name="Tour", members=[ben_name],
                              members_announce=True))["room"]["id"]
    await ana.request("rooms.invite", room=room, users=[cy_name])
    sent = await ana.request("message.send", room=room, body="hello", client_id="tour-1")
    await ben.request("read", room=room, seq=sent["seq"])
    await until(lambda: any(f.get("type") == "receipt.updated" for f in ana.frames),
                "the read's receipt on ana")
    await ben.request("reaction.add", room=room, message=sent["id"], emoji="tada")
    await ben.request("reaction.remove", room=room, message=sent["id"], emoji="tada")
    await ana.request("reaction.add", room=room, message=sent["id"], emoji="👍")
    await ana.request("message.edit", room=room, message=sent["id"], body="hello, all")
    second = await ana.request("message.send", room=room, body="oops", client_id="tour-2")
    await ana.request("message.delete", room=room, message=second["id"])
    policy = await ana.request("message.send", room=room, body="read me", client_id="tour-4",
                               requires_ack=True)
    await ben.request("message.ack", room=room, message=policy["id"])
    staff = await round_table(stack, ben)
    reply = await ben.request("message.send", room=room, body=f"re @{ana_name}",
                              client_id="tour-3", thread=sent["id"])
    await ana.request("thread.unfollow", room=room, message=sent["id"])
    await ben.request("notifications.read", up_to=2**53)
    await ben.request("notifications.prefs", off=["reaction"])
    await ben.request("rooms.mute", room=room, level="mentions")
    thread = (await ana.request("history", stream=f"room:{room}", thread=sent["id"]))["events"]
    assert [e["data"]["id"] for e in thread] == [reply["id"]]
    await ana.request("presence.subscribe", users=[ben.user["id"]])
    await ben.request("presence.set", status="away")
    await ben.request("typing", room=room)
    await until(lambda: any(f.get("type") == "typing" for f in ana.frames), "typing on ana")
    await ben.request("rooms.leave", room=room)
    board = (await ana.request("boards.create", name="Tour"))["board"]
    await ana.request("boards.set", board=board, slot="a", text="one")
    await ana.request("boards.set", board=board, slot="b", text="who?", anonymous=True)
    await ana.request("boards.clear", board=board, slot="a")
    history = [*thread, *(await ana.request("history", stream=f"room:{room}", after=0))["events"],
               *(await ana.request("history", stream=f"board:{board}", after=0))["events"]]
    await ana.request("boards.leave", board=board)
    name, password = make_staff(stack)
    browser = AdminBrowser(stack, name, password).login()
    await asyncio.to_thread(browser.submit, f"/admin/rooms/room/{room}/delete/", {"post": "yes"})
    await until(lambda: any(f.get("type") == "room.deleted" for f in ana.frames),
                "room.deleted on ana")
    await until(lambda: any(f.get("type") == "room.removed" for f in ana.frames),
                "room.removed on ana")
    await asyncio.gather(ana.close(), ben.close())
    return [*events(ana), *events(ben), *staff, *history]


async def round_table(stack: Stack, viewer: Recorder) -> list[dict[str, Any]]:
    """Each round-table event once, with `viewer` watching; the host's event frames."""
    host_name = stack.new_user("executive")
    stack.issue_tokens([host_name])
    host = await open_client(stack, host_name, settled=True)
    # A room's audience: "everyone" would notify the whole test pool.
    room = (await host.request("rooms.create", name="Tour audience",
                               members=[viewer.user["username"]]))["room"]["id"]
    rt = (await host.request("roundtable.create", title="Tour", starts_at=0, hosts=[host_name],
                             audience={"kind": "room", "room": room}))["roundtable"]["id"]
    await viewer.roundtable(rt)
    await host.request("roundtable.start", roundtable=rt)
    q = (await viewer.ask(rt, "Why?", "tour-q"))["question"]["id"]
    await viewer.request("question.edit", question=q, body="Why, really?")
    await viewer.vote(q)
    await host.pin(rt, q)
    await until(lambda: any(f.get("type") == "question.votes" for f in viewer.frames),
                "the gathered ranking")
    await host.request("ping")
    await host.close()
    return events(host)


def events(client: Recorder) -> list[dict[str, Any]]:
    return [f for f in client.frames if f.get("op") == "event"]


async def test_one_tour_emits_every_registered_event_type(stack: Stack) -> None:
    seen = {f["type"] for f in await tour(stack)}
    assert sorted(EVENTS) == registered(stack)
    assert sorted(seen) == sorted(EVENTS)


async def test_every_event_of_the_tour_matches_its_schema(stack: Stack) -> None:
    wrong = [(f["type"], p) for f in await tour(stack)
             for p in problems(EVENTS[f["type"]].schema, f["data"])]
    assert wrong == []


# The modules imported above for their registrations.
_ = (notifications.events, presence.events, realtime.access, rooms.events, roundtables.access,
     roundtables.events)
