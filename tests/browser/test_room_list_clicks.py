"""The room list under a steady stream of events: a click on a room always opens it.

Every message moves its room to the top of the list and changes its preview,
time and badge; a click that lands meanwhile must still open the room clicked.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tests.browser.conftest import BrowserStack, expect, in_background, room_item, run_async

BUSY = 4    # rooms the poster writes into, round robin
QUIET = 2   # rooms that only move down as the busy ones pass them
CLICKS = 20
POST_EVERY = 0.06  # seconds: about 16 messages a second, under the per-socket rate limit
PRESS_MS = 120     # a person's click: the button is held this long between down and up


def test_room_clicks_open_their_room_while_messages_stream_in(
        login: Any, server: BrowserStack) -> None:
    poster = server.new_user()
    a = login()
    names = [f"Busy {i}" for i in range(BUSY)] + [f"Quiet {i}" for i in range(QUIET)]

    async def make_rooms() -> list[int]:
        client = await server.stack.client(poster)
        ids = [(await client.request("rooms.create", name=name, members=[a.username]))
               ["room"]["id"] for name in names]
        await client.close()
        return ids

    ids = run_async(make_rooms)
    page = a.page
    for name in names:
        expect(room_item(page, name)).to_be_visible()
    sent: list[int] = []
    started = threading.Event()

    async def stream(stop: threading.Event) -> None:
        client = await server.stack.client(poster)
        i = 0
        while not stop.is_set():
            await client.request("message.send", room=ids[i % BUSY], body=f"tick {i}",
                                 client_id=f"tick-{i}")
            sent.append(i)
            started.set()
            i += 1
            await asyncio.sleep(POST_EVERY)
        await client.close()

    with in_background(stream):
        assert started.wait(10)
        expect(room_item(page, "Busy 0").locator(".room-preview")).to_contain_text("tick")
        before = len(sent)
        for k in range(CLICKS):
            # Never the room already open, so every click has a room to change to.
            name = names[(k * 5 + 1) % len(names)]
            room_item(page, name).click(delay=PRESS_MS)
            expect(page.locator("#room-title")).to_have_text(name)
        during = len(sent) - before
    # The list really was moving throughout: several messages per click.
    assert during >= 2 * CLICKS, during
