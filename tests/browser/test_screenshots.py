"""docs/screenshots/room-{desktop,phone}.png and roundtable.png from a real server with the
demo organisation.

Skipped unless COLLOQUY_SCREENSHOTS=1:
    COLLOQUY_SCREENSHOTS=1 pytest tests/browser/test_screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from colloquy_client import Client
from tests.browser.conftest import (
    BrowserStack,
    expect,
    open_room,
    open_roundtable,
    wait_connected,
)
from tests.stack import PASSWORD, ROOT

pytestmark = pytest.mark.skipif(os.environ.get("COLLOQUY_SCREENSHOTS") != "1",
                                reason="set COLLOQUY_SCREENSHOTS=1 to rewrite docs/screenshots")

OUT = ROOT / "docs" / "screenshots"

ENGINEERING = [
    ("grace", "Morning all! The 4.2 release branch is cut. Please land any last fixes by "
              "Thursday noon."),
    ("margaret", "Staging now runs on the new cluster; a deploy takes about six minutes end "
                 "to end."),
    ("margaret", "Dashboard: https://status.example.com/staging"),
    ("alan", "Great. The web client's reconnect is done: it resumes from the last seq per "
             "stream, so a restarted server loses nothing and repeats nothing."),
    ("alan", "I'll open the pull request after lunch."),
    ("grace", "Lovely. Could you add the backoff limits to the runbook while it's fresh?"),
    ("margaret", "Also, the persister lag alarm fired twice last night, both times under "
                 "10 s. I've raised the threshold to 30 s and opened a ticket to look at "
                 "batch sizes."),
    ("alan", "Sure, runbook first. Katherine asked for the load-test numbers too; I'll "
             "post them here."),
]


class Crowd:
    """Colleagues on Python clients, kept connected on a loop in a thread (presence)."""

    def __init__(self, server: BrowserStack) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: dict[str, Client] = {}

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def client(self, username: str) -> Client:
        if username not in self.clients:
            client = Client(self.server.stack.ws_url(), token=self.server.stack.token(username))
            self.run(client.connect())
            self.clients[username] = client
        return self.clients[username]

    def request(self, username: str, op: str, **fields: Any) -> dict[str, Any]:
        return self.run(self.client(username).request(op, **fields))

    def close(self) -> None:
        for c in self.clients.values():
            self.run(c.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def room_id(crowd: Crowd, username: str, name: str) -> int:
    rooms = crowd.request(username, "rooms.list")["rooms"]
    return next(r["id"] for r in rooms if r["name"] == name)


def _alan_signed_in(browser: Any, server: BrowserStack, viewport: dict[str, int]
                    ) -> tuple[Any, Any]:
    """A fresh light-scheme context at `viewport`, signed in as alan and connected."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1,
                                  color_scheme="light")
    page = context.new_page()
    page.goto(server.base + "/login/")
    page.get_by_label("Username").fill("alan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    wait_connected(page)
    return context, page


def test_room_screenshots(browser: Any, server: BrowserStack) -> None:
    server.stack.manage("seed_demo", "--password", PASSWORD)
    crowd = Crowd(server)
    try:
        eng = room_id(crowd, "alan", "Engineering")
        news = room_id(crowd, "ada", "Company announcements")
        launch = crowd.request("grace", "rooms.create", name="Launch planning",
                               members=["alan", "katherine", "ada"])["room"]["id"]
        crowd.request("grace", "message.send", room=launch, client_id="l1",
                      body="Draft agenda for Friday is in the shared folder.")
        dm = crowd.request("katherine", "rooms.create", kind="direct", members=["alan"])
        crowd.request("katherine", "message.send", room=dm["room"]["id"], client_id="k1",
                      body="Do you have ten minutes for the load-test numbers?")
        crowd.request("ada", "message.send", room=news, client_id="n1",
                      body="Quarterly all-hands is on the 14th; questions welcome in advance.")
        crowd.request("linus", "message.send", room=news, client_id="n2",
                      body="Reminder: the office is closed on Monday for maintenance.")
        for i, (who, body) in enumerate(ENGINEERING):
            crowd.request(who, "message.send", room=eng, body=body, client_id=f"e{i}")
        crowd.request("margaret", "presence.set", status="away")
        for gone in ("ada", "linus"):
            crowd.run(crowd.clients.pop(gone).close())

        for name, viewport, members in (("room-desktop.png", {"width": 1280, "height": 800}, True),
                                        ("room-phone.png", {"width": 390, "height": 844}, False)):
            context, page = _alan_signed_in(browser, server, viewport)
            open_room(page, "Engineering")
            if members:
                page.get_by_role("button", name="Members").click()
                expect(page.locator("#member-list .member")).to_have_count(3)
            crowd.request("grace", "typing", room=eng, active=False)  # reopens the relay window
            crowd.request("grace", "typing", room=eng)
            expect(page.locator("#typing")).to_contain_text("Grace Hopper is typing")
            page.locator("#composer-input").fill("Numbers are in the sheet")
            page.locator("#composer-input").blur()
            page.mouse.move(viewport["width"] // 2, 4)  # no hover highlight in the picture
            page.wait_for_timeout(300)
            OUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(OUT, name)))
            context.close()
    finally:
        crowd.close()


def test_roundtable_screenshot(browser: Any, server: BrowserStack) -> None:
    """The audience's view of a live round table: the question being answered, the
    ranked list with votes, an answer, and my own question waiting for approval."""
    server.stack.manage("seed_demo", "--password", PASSWORD)
    crowd = Crowd(server)
    try:
        made = crowd.request("ada", "roundtable.create", title="Ask the CEO",
                             description="Our quarterly round table: the plan for the "
                                         "second half, and anything else on your mind.",
                             starts_at=int(time.time() * 1000), hosts=["ada"],
                             moderators=["linus"], premoderation=True,
                             stream_url="https://stream.example.com/all-hands")
        rt = made["roundtable"]["id"]
        crowd.request("ada", "roundtable.start", roundtable=rt)
        asked = {}
        for i, (who, body, anonymous) in enumerate([
                ("katherine", "Are we planning a four-day week pilot?", True),
                ("margaret", "Will the office move change our on-call rota?", False),
                ("grace", "How do we hire for the new platform team?", False),
                ("katherine", "What will the second half's priorities be?", False)]):
            q = crowd.request(who, "question.ask", roundtable=rt, body=body,
                              anonymous=anonymous, client_id=f"s{i}")["question"]
            asked[body[:12]] = q["id"]
            if q["state"] == "pending":
                crowd.request("linus", "question.moderate", question=q["id"], action="approve")
        for who, key in (("alan", "Will the off"), ("grace", "Will the off"),
                         ("margaret", "Are we plann"), ("alan", "What will th"),
                         ("linus", "Will the off")):
            crowd.request(who, "question.vote", question=asked[key], up=True)
        crowd.request("ada", "question.pin", roundtable=rt, question=asked["What will th"])
        crowd.request("ada", "question.answer", question=asked["What will th"],
                      answer="Reliability first, then the new mobile client.")
        crowd.request("ada", "question.pin", roundtable=rt, question=asked["Are we plann"])
        crowd.request("alan", "question.ask", roundtable=rt, client_id="s-alan",
                      body="Could the release train move to two weeks?")

        context, page = _alan_signed_in(browser, server, {"width": 1280, "height": 800})
        open_roundtable(page, "Ask the CEO")
        expect(page.locator("#rt-now .rt-q-text")).to_have_text(
            "Are we planning a four-day week pilot?")
        expect(page.locator("#rt-open .rt-vote .count")).to_have_text(["3", "0"])
        expect(page.locator("#rt-answered .rt-answer-text")).to_have_text(
            "Reliability first, then the new mobile client.")
        expect(page.locator("#rt-mine .rt-tag")).to_have_text("Waiting for approval")
        page.locator("#rt-ask-input").fill("What does the new office mean for remote staff?")
        page.locator("#rt-ask-input").blur()
        page.mouse.move(640, 4)  # no hover highlight in the picture
        page.wait_for_timeout(300)
        OUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(OUT, "roundtable.png")))
        context.close()
    finally:
        crowd.close()
