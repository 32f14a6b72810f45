"""The browser client against a real server: two (or three) employees in their own browsers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

from colloquy_client import Client
from tests.browser.conftest import (
    BrowserStack,
    bodies,
    create_group,
    expect,
    message,
    open_room,
    pick,
    room_item,
    run_async,
    send,
    wait_connected,
)

WS = re.compile(r"/ws/$")


def test_sign_in_page_and_log_out(login: Any, server: BrowserStack) -> None:
    a = login(form=True)  # through the form, after one wrong password
    page = a.page
    expect(page.locator(".me-name")).to_have_text(server.name(a.username))
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.base}/login/")
    page.goto(server.base + "/")
    expect(page).to_have_url(f"{server.base}/login/?next=/")


def test_create_room_invite_and_chat_live(login: Any, server: BrowserStack) -> None:
    a, b = login(), login()
    newcomer = server.new_user()
    pa, pb = a.page, b.page
    create_group(pa, "Launch", [b.username])
    expect(pa.locator("#room-sub")).to_have_text("2 members · 2 online")
    # The room appears in B's list the moment it is created.
    expect(room_item(pb, "Launch")).to_be_visible()

    send(pa, "hello from A")
    expect(message(pa, "hello from A")).to_have_attribute("data-status", "sent")
    expect(room_item(pb, "Launch").locator(".badge")).to_have_text("1")
    expect(room_item(pb, "Launch").locator(".room-preview")).to_have_text(
        f"{server.name(a.username).split()[0]}: hello from A")

    open_room(pb, "Launch")
    expect(message(pb, "hello from A")).to_have_count(1)
    expect(room_item(pb, "Launch").locator(".badge")).to_have_count(0)
    send(pb, "hi A, B here")
    expect(message(pa, "hi A, B here")).to_have_count(1)
    expect(message(pa, "hi A, B here").locator(".author")).to_have_text(server.name(b.username))

    pa.get_by_role("button", name="Invite").click()
    pick(pa, newcomer)
    pa.locator("#dlg-invite").get_by_role("button", name="Invite").click()
    expect(pa.locator("#dlg-invite")).to_be_hidden()
    added = f"{server.name(a.username)} added {server.name(newcomer)}"
    for page in (pa, pb):
        expect(page.locator("#messages .sys").last).to_have_text(added)
    expect(pa.locator("#room-sub")).to_contain_text("3 members")

    # The newcomer sees the room and its whole history.
    c = login(newcomer)
    open_room(c.page, "Launch")
    # The history arrives after the title: wait for it, then compare the exact list.
    expect(c.page.locator("#messages .msg .msg-text")).to_have_text(
        ["hello from A", "hi A, B here"])


def test_direct_conversation_typing_and_presence(login: Any, server: BrowserStack) -> None:
    a, b = login(), login()
    pa, pb = a.page, b.page
    name_a, name_b = server.name(a.username), server.name(b.username)

    pa.get_by_role("button", name="New").click()
    pick(pa, b.username)
    pa.get_by_role("button", name="Start conversation").click()
    expect(pa.locator("#room-title")).to_have_text(name_b)
    expect(pa.locator("#room-sub")).to_have_text("Online")

    # B's list shows A, with a green presence dot.
    expect(room_item(pb, name_a).locator(".dot-online")).to_be_visible()
    open_room(pb, name_a)

    box = pa.locator("#composer-input")
    box.press_sequentially("hel", delay=30)
    expect(pb.locator("#typing")).to_have_text(f"{name_a} is typing…")
    box.press_sequentially("lo", delay=30)
    box.press("Enter")
    expect(message(pb, "hello")).to_have_count(1)
    expect(pb.locator("#typing")).to_have_text("")  # her message ends her indicator

    # Typing, then deleting it all: active:false clears the indicator at once.
    box.press_sequentially("wait", delay=30)
    expect(pb.locator("#typing")).to_have_text(f"{name_a} is typing…")
    box.fill("")
    expect(pb.locator("#typing")).to_have_text("", timeout=1500)

    # Typing, then nothing: the indicator expires after expires_in_ms (3 s here).
    box.press_sequentially("x", delay=30)
    expect(pb.locator("#typing")).to_have_text(f"{name_a} is typing…")
    expect(pb.locator("#typing")).to_have_text("", timeout=6000)

    # B closes the browser: A sees her go offline, then come back.
    b.context.close()
    expect(pa.locator("#room-sub")).to_have_text(re.compile("^Last seen"), timeout=8000)
    expect(room_item(pa, name_b).locator(".dot-offline")).to_be_visible()
    login(b.username)
    expect(pa.locator("#room-sub")).to_have_text("Online")
    expect(room_item(pa, name_b).locator(".dot-online")).to_be_visible()


def test_history_scrolls_back_and_survives_reload(login: Any, server: BrowserStack) -> None:
    a_user, b_user = server.new_user(), server.new_user()

    async def seed() -> None:
        ca = await server.stack.client(a_user)
        cb = await server.stack.client(b_user)
        room = (await ca.request("rooms.create", name="Archive", members=[b_user]))["room"]
        for i in range(1, 41):
            await ca.request("message.send", room=room["id"], body=f"m{i:02d}", client_id=f"a{i}")
        for i in range(41, 81):
            await cb.request("message.send", room=room["id"], body=f"m{i:02d}", client_id=f"b{i}")
        await ca.close()
        await cb.close()
        return room["id"]

    room_id = run_async(seed)
    everything = [f"m{i:02d}" for i in range(1, 81)]
    a = login(a_user)
    page = a.page
    expect(room_item(page, "Archive").locator(".badge")).to_have_text("40")
    open_room(page, "Archive")
    # The newest page of history: 50 events, all messages.
    expect(page.locator("#messages .msg")).to_have_count(50)
    assert bodies(page) == everything[30:]

    timeline = page.locator("#timeline")
    timeline.evaluate("el => { el.scrollTop = 0; }")
    expect(page.locator("#messages .msg")).to_have_count(80)
    assert bodies(page) == everything
    expect(page.locator("#history-status")).to_have_text("This is the beginning of the room.")
    expect(page.locator("#messages .sys")).to_have_text(
        f"{server.name(a_user)} created Archive")
    # Older messages went in above: what the reader was looking at stayed in view.
    assert timeline.evaluate("el => el.scrollTop") > 200

    # Opening the room read it, and that read is announced by one receipt.updated on
    # the room stream: a page counts events, so the newest page now holds 49 messages.
    async def receipt_landed() -> list[str]:
        cb = await server.stack.client(b_user)
        try:
            for _ in range(200):
                events = (await cb.request("history", stream=f"room:{room_id}",
                                           limit=50))["events"]
                if events[-1]["type"] == "receipt.updated":
                    return [e["data"]["body"] for e in events
                            if e["type"] == "message.created"]
                await asyncio.sleep(0.1)
            raise AssertionError("the read of the opened room was never announced")
        finally:
            await cb.close()

    newest = run_async(receipt_landed)
    assert newest == everything[31:]
    page.reload()
    wait_connected(page)
    open_room(page, "Archive")
    expect(page.locator("#messages .msg")).to_have_count(len(newest))
    assert bodies(page) == newest
    expect(room_item(page, "Archive").locator(".badge")).to_have_count(0)  # read marker kept


def test_server_restart_both_reconnect_and_missed_messages_appear_once(
        login: Any, server: BrowserStack) -> None:
    # While `closed`, new sockets from these browsers are refused at once, so the
    # third client's messages certainly land while both are away (and must come
    # back through resume, not live).
    gate = {"closed": False}

    def route(context: Any) -> None:
        def handle(ws: Any) -> None:
            if gate["closed"]:
                ws.close()
            else:
                ws.connect_to_server()
        context.route_web_socket(WS, handle)

    a, b = login(route=route), login(route=route)
    third = server.new_user()
    pa, pb = a.page, b.page
    create_group(pa, "Restart", [b.username, third])
    open_room(pb, "Restart")
    send(pa, "before restart")
    expect(message(pb, "before restart")).to_have_count(1)

    gate["closed"] = True
    server.kill()
    for page in (pa, pb):
        expect(page.locator("#conn-status")).to_contain_text("Reconnecting")
    send(pa, "sent while offline")
    expect(message(pa, "sent while offline")).to_have_attribute("data-status", "queued")
    expect(message(pa, "sent while offline")).to_contain_text("Waiting for connection")

    server.relaunch()

    async def third_client() -> None:
        client = Client(server.stack.ws_url(), token=server.stack.token(third))
        await client.connect()
        rooms = (await client.request("rooms.list"))["rooms"]
        [room] = [r for r in rooms if r["name"] == "Restart"]
        for i in (1, 2, 3):
            await client.request("message.send", room=room["id"], body=f"missed {i}",
                                 client_id=f"missed-{i}")
        await client.close()

    run_async(third_client)
    gate["closed"] = False
    # A uses the "Retry now" button; B reconnects by itself (backoff with jitter).
    retry = pa.locator("#conn-status").get_by_role("button", name="Retry now")
    if retry.is_visible():
        with contextlib.suppress(Exception):  # it reconnected by itself meanwhile
            retry.click(timeout=2000)
    for page in (pa, pb):
        wait_connected(page, timeout=25_000)
        expect(page.locator("#conn-status")).to_be_hidden()

    expected = ["before restart", "missed 1", "missed 2", "missed 3", "sent while offline"]
    for page in (pa, pb):
        expect(page.locator("#messages .msg")).to_have_count(len(expected))
        assert bodies(page) == expected
        expect(message(page, "sent while offline")).to_have_attribute("data-status", "sent")
        assert page.evaluate("window.colloquy.conn.reconnects") >= 1
        assert page.evaluate("window.colloquy.conn.duplicates") == 0


def test_html_in_messages_is_text_and_runs_nothing(login: Any, server: BrowserStack) -> None:
    a, b = login(), login()
    pa, pb = a.page, b.page
    for page in (pa, pb):
        page.evaluate("window.__pwned = 0")
    create_group(pa, "<b>Security</b> review", [b.username])
    payload = "<img src=x onerror=alert(1)>"
    send(pa, payload)
    send(pa, '<script>window.__pwned = 1</script><a href="javascript:alert(2)">click</a>')
    open_room(pb, "<b>Security</b> review")
    for page in (pa, pb):
        expect(page.locator("#messages .msg")).to_have_count(2)
        assert bodies(page)[0] == payload
        assert page.locator("#messages img").count() == 0
        assert page.locator("#messages script").count() == 0
        assert page.locator("#messages a").count() == 0
        assert page.locator("#room-list img, #room-list b").count() == 0
        assert page.locator("#room-title").inner_text() == "<b>Security</b> review"
        assert page.evaluate("window.__pwned") == 0
    pa.wait_for_timeout(300)  # give a broken renderer's onerror time to fire
    assert a.dialogs == [] and b.dialogs == []


def test_refused_send_shows_failed_state_and_retry(login: Any, server: BrowserStack) -> None:
    refused: list[dict[str, Any]] = []

    def route(context: Any) -> None:
        # The first message.send is answered by a refusal in the server's own format.
        def handle(ws: Any) -> None:
            upstream = ws.connect_to_server()

            def from_page(raw: str | bytes) -> None:
                frame = json.loads(raw)
                if frame.get("op") == "message.send" and not refused:
                    refused.append(frame)
                    ws.send(json.dumps({"op": "error", "ref": frame["ref"], "code": "rate_limited",
                                        "message": "more than 20 ops per second; slow down"}))
                    return
                upstream.send(raw)

            ws.on_message(from_page)
        context.route_web_socket(WS, handle)

    a, b = login(route=route), login()
    pa, pb = a.page, b.page
    create_group(pa, "Refusals", [b.username])
    open_room(pb, "Refusals")

    send(pa, "please retry me")
    mine = message(pa, "please retry me")
    expect(mine).to_have_attribute("data-status", "failed")
    expect(mine.locator(".msg-state")).to_contain_text(
        "Not sent: more than 20 ops per second; slow down")
    mine.get_by_role("button", name="Retry").click()
    expect(mine).to_have_attribute("data-status", "sent")
    expect(message(pb, "please retry me")).to_have_count(1)
    # The retry reused the client_id of the refused attempt.
    assert refused[0]["body"] == "please retry me"

    # A real refusal from the server: a body over the limit.
    box = pa.locator("#composer-input")
    box.fill("x" * 10001)
    expect(pa.locator("#composer-counter")).to_have_text("10,001 / 10,000")
    box.press("Enter")
    long = pa.locator("#messages .msg.is-failed")
    expect(long.locator(".msg-state")).to_contain_text(
        "body is 10001 characters; the limit is 10000")
    long.get_by_role("button", name="Discard").click()
    expect(pa.locator("#messages .msg")).to_have_count(1)
    expect(pb.locator("#messages .msg")).to_have_count(1)


def test_tabs_of_one_employee_stay_in_step(login: Any, server: BrowserStack) -> None:
    a, b = login(), login()
    tab1 = a.page
    tab2 = a.open()
    create_group(b.page, "Tabs", [a.username])
    send(b.page, "ping both tabs")
    for tab in (tab1, tab2):
        expect(room_item(tab, "Tabs").locator(".badge")).to_have_text("1")

    # Reading in one tab clears the badge in the other (read.updated).
    open_room(tab1, "Tabs")
    expect(room_item(tab2, "Tabs").locator(".badge")).to_have_count(0)

    send(tab1, "from tab one")
    open_room(tab2, "Tabs")
    expect(message(tab2, "from tab one")).to_have_count(1)
    expect(message(b.page, "from tab one")).to_have_count(1)

    # Leaving in one tab takes the room out of the other as well.
    tab2.get_by_role("button", name="Leave").click()
    tab2.locator("#dlg-leave").get_by_role("button", name="Leave").click()
    for tab in (tab1, tab2):
        expect(room_item(tab, "Tabs")).to_have_count(0)
    expect(b.page.locator("#messages .sys").last).to_have_text(f"{server.name(a.username)} left")


def test_keyboard_and_phone_layout(login: Any, server: BrowserStack) -> None:
    peer = server.new_user()
    a = login(viewport={"width": 390, "height": 844})
    page = a.page
    # Alt+N opens the new-conversation dialog; everything in it works from the keyboard.
    page.keyboard.press("Alt+n")
    dialog = page.locator("#dlg-new")
    expect(dialog).to_be_visible()
    page.keyboard.type(peer)
    box = dialog.locator(f'input[data-username="{peer}"]')
    expect(box).to_be_visible()
    page.keyboard.press("ArrowDown")
    expect(box).to_be_focused()
    page.keyboard.press("Space")
    expect(dialog.get_by_role("button", name="Start conversation")).to_be_enabled()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    # One column: the room replaces the list; Back returns to it.
    expect(page.locator("#room-title")).to_have_text(server.name(peer))
    expect(page.locator(".sidebar")).to_be_hidden()
    expect(page.locator("#composer-input")).to_be_focused()
    page.keyboard.type("sent from a phone")
    page.keyboard.press("Enter")
    expect(message(page, "sent from a phone")).to_have_attribute("data-status", "sent")
    page.get_by_role("button", name="Back to conversations").click()
    expect(page.locator(".sidebar")).to_be_visible()
    expect(page.locator("#room-view")).to_be_hidden()

    # The room filter: type, Enter opens the first match.
    page.get_by_label("Find a conversation").fill(server.name(peer))
    page.keyboard.press("Enter")
    expect(page.locator("#room-title")).to_have_text(server.name(peer))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "nothing overflows the phone's width"
