"""Threads, reactions, edits, deletes, mentions and search in the browser client,
each seen by a second member's tab as it happens."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import BrowserStack, expect, message, send, two_tabs


def test_a_reply_in_a_thread_shows_live_in_another_members_tab(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a, b, page, other = two_tabs(login, server, "Threads", ("Which venue?",))
    root = message(page, "Which venue?")
    root.hover()
    root.get_by_role("button", name="Reply in thread").click()
    panel = page.locator("#thread-panel")
    expect(panel.locator("#thread-root .msg-text")).to_have_text("Which venue?")
    panel.locator("#thread-input").fill("The lake house")
    panel.locator("#thread-input").press("Enter")
    expect(panel.locator("#thread-replies .msg-text")).to_have_text(["The lake house"])
    expect(panel.get_by_role("button", name="Following")).to_be_visible()
    # The other tab: a summary on the root, the reply not in the room's timeline.
    summary = message(other, "Which venue?").locator(".thread-summary")
    expect(summary.locator(".thread-replies")).to_have_text("1 reply")
    expect(message(other, "The lake house")).to_have_count(0)
    summary.click()
    expect(other.locator("#thread-replies .msg-text")).to_have_text(["The lake house"])
    other.locator("#thread-input").fill("Agreed")
    other.locator("#thread-input").press("Enter")
    expect(panel.locator("#thread-replies .msg-text")).to_have_text(["The lake house", "Agreed"])
    expect(message(page, "Which venue?").locator(".thread-replies")).to_have_text("2 replies")
    page.screenshot(path=str(tmp_path / "thread.png"))
    assert a.errors == b.errors == []


def test_reacting_from_the_picker_and_the_chip_shows_in_both_tabs(
        login: Any, server: BrowserStack) -> None:
    a, b, page, other = two_tabs(login, server, "Reactions", ("Shipped!",))
    shipped = message(page, "Shipped!")
    shipped.hover()
    shipped.get_by_role("button", name="Add reaction").click()
    shipped.get_by_role("menuitem", name="React with 🎉").click()
    expect(shipped.locator(".reactions .reaction.mine")).to_have_text("🎉1")
    theirs = message(other, "Shipped!").locator(".reactions .reaction")
    expect(theirs).to_have_text("🎉1")
    expect(theirs).to_have_attribute("aria-pressed", "false")
    theirs.click()  # the chip adds theirs
    expect(shipped.locator(".reactions .reaction")).to_have_text("🎉2")
    shipped.locator(".reactions .reaction").click()  # and takes mine back
    expect(theirs).to_have_text("🎉1")
    expect(theirs).to_have_attribute("aria-pressed", "true")
    assert a.errors == b.errors == []


def test_up_arrow_edits_my_last_message_and_delete_asks_first(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a, b, page, other = two_tabs(login, server, "Edits")
    send(page, "teh plan")
    send(page, "scratch that")
    expect(message(other, "scratch that")).to_have_count(1)
    page.locator("#composer-input").press("ArrowUp")
    box = page.locator(".edit-form textarea")
    expect(box).to_have_value("scratch that")
    box.press("Escape")
    mine = message(page, "teh plan")
    mine.hover()
    mine.get_by_role("button", name="Edit message").click()
    page.locator(".edit-form textarea").fill("the plan")
    page.screenshot(path=str(tmp_path / "editing.png"))
    page.locator(".edit-form textarea").press("Enter")
    expect(message(other, "the plan").locator(".edited")).to_have_text("(edited)")
    gone = message(page, "scratch that")
    gone.hover()
    gone.get_by_role("button", name="Delete message").click()
    dialog = page.locator("#dlg-delete")
    expect(dialog.locator("#delete-preview")).to_have_text("scratch that")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(other.locator("#messages .msg-text.deleted")).to_have_text("This message was deleted.")
    expect(message(other, "scratch that")).to_have_count(0)
    assert a.errors == b.errors == []


def test_a_mention_is_picked_from_the_list_and_marks_the_message_for_them(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a, b, page, other = two_tabs(login, server, "Mentions")
    box = page.locator("#composer-input")
    box.press_sequentially(f"ping @{b.username[:3]}")
    options = page.locator("#mention-list .mention-option")
    expect(options.filter(has_text=f"@{b.username}")).to_have_count(1)
    page.screenshot(path=str(tmp_path / "mention.png"))
    while "is-active" not in (page.locator("#mention-list .is-active").get_attribute("class")
                              or "") or b.username not in page.locator(
                                  "#mention-list .is-active").inner_text():
        box.press("ArrowDown")
    box.press("Enter")
    expect(box).to_have_value(f"ping @{b.username} ")
    box.press_sequentially("can you look?")
    box.press("Enter")
    theirs = message(other, "can you look?")
    expect(theirs).to_have_class("msg mentions-me")
    expect(theirs.locator(".mention.me")).to_have_text(f"@{b.username}")
    assert a.errors == b.errors == []


def test_search_finds_a_message_and_jumps_to_it(login: Any, server: BrowserStack,
                                                tmp_path: Any) -> None:
    old = tuple(f"filler {i}" for i in range(60))
    a, b, page, _ = two_tabs(login, server, "Archive", ("The badger report is due", *old))
    page.get_by_role("button", name="Search messages").click()
    field = page.locator("#message-search")
    hits = page.locator("#search-results .search-hit")
    # Searchable once stored: the persister writes a moment after the ack.
    for _ in range(50):
        field.fill("badger")
        field.press("Enter")
        expect(page.locator("#search-status")).not_to_have_text("Searching…")
        if hits.count():
            break
        page.wait_for_timeout(200)
    expect(hits).to_have_count(1)
    expect(hits.locator("mark")).to_have_text("badger")
    page.screenshot(path=str(tmp_path / "search.png"))
    hits.click()
    target = message(page, "The badger report is due")
    expect(target).to_have_class("msg is-target")
    expect(target).to_be_in_viewport()
    assert a.errors == b.errors == []
