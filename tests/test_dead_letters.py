"""An entry the database cannot take goes to the dead letters; persistence goes on.

The entry is put into the journal directly: a message in a room and by an author
that do not exist, as an entry written just before its room or author was
deleted would be. No op produces it today; the persister must survive it anyway.
"""

from __future__ import annotations

import json
import random
import urllib.request
import uuid

from tests.stack import Stack, inject_journal_entry, make_room


def _orphan_message(stream: str, room: int) -> str:
    data = {"id": uuid.uuid4().hex, "room": room,
            "author": {"id": room, "username": "gone", "name": "Gone"},
            "body": "written before its room was deleted", "client_id": "orphan", "ts": 1}
    return json.dumps({"op": "event", "stream": stream, "seq": 1,
                       "type": "message.created", "data": data})


def _readyz(stack: Stack) -> dict[str, object]:
    with urllib.request.urlopen(stack.http(0) + "/readyz", timeout=10) as r:
        return dict(json.loads(r.read()))


async def test_an_unwritable_entry_becomes_a_dead_letter_and_later_ones_persist(
        stack: Stack) -> None:
    room = 10**12 + random.randrange(10**9)  # no such room, no such employee
    stream = f"room:{room}"
    sender, live = await make_room(stack, stack.new_user(), [stack.new_user()])
    inject_journal_entry(stack, stream, 1, _orphan_message(stream, room))
    ack = await sender.request("message.send", room=live["id"], body="after", client_id="a1")
    stack.wait_sql("SELECT body FROM rooms_message WHERE id = ?", ack["id"],
                   expect=[("after",)], timeout=30)
    stack.wait_sql("SELECT stream, seq, \"table\", type FROM realtime_deadletter "
                   "WHERE stream = ?", stream,
                   expect=[(stream, 1, "rooms.Message", "message.created")])
    reason = stack.sql("SELECT reason FROM realtime_deadletter WHERE stream = ?", stream)
    assert reason[0][0].startswith("IntegrityError"), reason
    # The event itself is kept: history past the window still has it.
    assert stack.sql("SELECT seq, type FROM realtime_streamevent WHERE stream = ?",
                     stream) == [(1, "message.created")]
    ready = _readyz(stack)
    assert (ready["status"], ready["dead_letters"] >= 1) == ("ready", True)
    await sender.close()
