"""Edits, reactions and deletes made by a colleague's desktop client, seen live in a tab."""

from __future__ import annotations

from typing import Any

from colloquy_client import Client
from tests.browser.conftest import BrowserStack, expect, message, open_room, run_async, sent


def test_edit_reaction_and_delete_show_live(login: Any, server: BrowserStack, tmp_path: Any
                                            ) -> None:
    a = login()
    colleague = server.new_user()
    page = a.page

    async def make_room() -> dict[str, Any]:
        client = Client(server.stack.ws_url(), token=server.stack.token(colleague))
        await client.connect()
        room = (await client.request("rooms.create", name="Changes",
                                     members=[a.username]))["room"]
        await client.request("message.send", room=room["id"], body="teh plan",
                             client_id="ui-1")
        await client.request("message.send", room=room["id"], body="scratch that",
                             client_id="ui-2")
        await client.close()
        return room

    room = run_async(make_room)
    open_room(page, "Changes")
    expect(message(page, "teh plan")).to_have_count(1)
    sent(page, "ok")

    async def change() -> None:
        client = Client(server.stack.ws_url(), token=server.stack.token(colleague))
        await client.connect()
        history = await client.request("history", stream=f"room:{room['id']}", limit=10)
        ids = {e["data"]["body"]: e["data"]["id"] for e in history["events"]
               if e["type"] == "message.created"}
        await client.edit_message(room["id"], ids["teh plan"], "the plan")
        await client.react(room["id"], ids["teh plan"], "👍")
        await client.react(room["id"], ids["ok"], "tada")
        await client.delete_message(room["id"], ids["scratch that"])
        await client.close()

    run_async(change)
    edited = message(page, "the plan")
    expect(edited.locator(".edited")).to_have_text("(edited)")
    expect(edited.locator(".reactions .reaction")).to_have_text("👍1")
    expect(message(page, "ok").locator(".reactions .reaction")).to_have_text("🎉1")
    expect(page.locator("#messages .msg-text.deleted")).to_have_text(
        "This message was deleted.")
    expect(message(page, "scratch that")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "message-changes.png"))
    # A fresh load shows the same: history restates each message as it is now.
    page.reload()
    open_room(page, "Changes")
    expect(message(page, "the plan").locator(".reactions .reaction")).to_have_text("👍1")
    expect(page.locator("#messages .msg-text.deleted")).to_have_count(1)
    expect(message(page, "scratch that")).to_have_count(0)
