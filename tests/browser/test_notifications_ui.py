"""The bell: a mention lights it in another employee's tab, and the notification
opens the message where it is (here, in its thread); a room's notification level;
"Seen by" under my last message."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import (
    BrowserStack,
    expect,
    message,
    open_room,
    room_with,
    send,
    sent,
    two_tabs,
)


def test_a_mention_in_a_thread_lights_the_bell_and_opens_the_thread(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a, b, page, other = two_tabs(login, server, "Bells", ("Who owns the release?",))
    bell = other.locator("#btn-bell .bell-count")
    expect(bell).to_be_hidden()  # b's own room, made by b: nothing to tell
    root = message(page, "Who owns the release?")
    root.hover()
    root.get_by_role("button", name="Reply in thread").click()
    page.locator("#thread-input").fill(f"@{b.username} you do, I think")
    page.locator("#thread-input").press("Enter")
    expect(bell).to_have_text("1")
    other.locator("#room-filter").click()  # away from the room: the pane opens it again
    other.locator("#btn-bell").click()
    note = other.locator("#notes-list .note.is-unread")
    expect(note.locator(".note-title")).to_have_text(
        f"{server.name(a.username)} mentioned you in Bells")
    expect(note.locator(".note-preview")).to_have_text(f"@{b.username} you do, I think")
    other.screenshot(path=str(tmp_path / "notifications.png"))
    note.click()
    expect(other.locator("#thread-panel #thread-root .msg-text")).to_have_text(
        "Who owns the release?")
    expect(other.locator("#thread-replies .msg-text")).to_have_text(
        [f"@{b.username} you do, I think"])
    expect(bell).to_be_hidden()  # read, here and on every other device
    assert a.errors == b.errors == []


def test_muting_a_room_in_one_tab_shows_in_the_other_and_silences_the_bell(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a, b, page, other = two_tabs(login, server, "Quiet")
    second = b.open()  # b's other tab
    open_room(second, "Quiet")
    other.locator("#room-mute").select_option("nothing")
    expect(second.locator("#room-mute")).to_have_value("nothing")
    other.screenshot(path=str(tmp_path / "muted.png"))
    send(page, f"@{b.username} anyone?")
    expect(message(other, "anyone?")).to_have_count(1)
    # Back to all: the next mention lights the bell, and it counts that one alone.
    second.locator("#room-mute").select_option("all")
    expect(other.locator("#room-mute")).to_have_value("all")
    send(page, f"@{b.username} still there?")
    expect(message(other, "still there?")).to_have_count(1)
    expect(other.locator("#btn-bell .bell-count")).to_have_text("1")
    other.locator("#btn-bell").click()
    expect(other.locator("#notes-list .note .note-preview")).to_have_text(
        [f"@{b.username} still there?"])
    assert a.errors == b.errors == []


def test_my_last_message_says_who_has_seen_it(login: Any, server: BrowserStack,
                                             tmp_path: Any) -> None:
    a, b = login(), login()
    room_with(server, a.username, b.username, "Seen")
    page = a.page
    open_room(page, "Seen")
    sent(page, "Ready for review")
    mine = message(page, "Ready for review")
    expect(mine.locator(".seen-by")).to_have_count(0)
    open_room(b.page, "Seen")  # b reads it
    expect(mine.locator(".seen-by")).to_have_text(f"Seen by {server.name(b.username)}")
    page.screenshot(path=str(tmp_path / "seen-by.png"))
    page.reload()
    open_room(page, "Seen")
    expect(message(page, "Ready for review").locator(".seen-by")).to_have_text(
        f"Seen by {server.name(b.username)}")
    assert a.errors == b.errors == []


# Records the desktop notifications the page shows, and lets the test say
# whether the tab is hidden (a headless tab is always visible).
RECORD_ALERTS = """
window.__alerts = [];
window.__hidden = false;
Object.defineProperty(document, "visibilityState",
                      { get: () => (window.__hidden ? "hidden" : "visible") });
window.Notification = class extends window.Notification {
  constructor(title, options) {
    super(title, options);
    window.__alerts.push([title, (options || {}).body]);
  }
};
"""


def test_a_hidden_tab_shows_a_desktop_notification_once_allowed(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a = login()
    b = login(route=lambda context: context.add_init_script(RECORD_ALERTS))
    room_with(server, a.username, b.username, "Alerts")
    open_room(a.page, "Alerts")
    page, other = a.page, b.page
    other.locator("#btn-bell").click()
    offer = other.locator("#notes-desktop")
    expect(offer).to_be_visible()  # asked for only when the employee chooses
    other.screenshot(path=str(tmp_path / "desktop-alerts.png"))
    b.context.grant_permissions(["notifications"], origin=server.base)
    offer.get_by_role("button", name="Turn on").click()
    expect(offer).to_be_hidden()
    send(page, f"@{b.username} visible tab")
    expect(other.locator("#notes-list .note-preview").first).to_have_text(
        f"@{b.username} visible tab")
    assert other.evaluate("window.__alerts") == []  # the tab is in front: the bell is enough
    other.evaluate("window.__hidden = true")
    send(page, f"@{b.username} hidden tab")
    other.wait_for_function("window.__alerts.length === 1")
    assert other.evaluate("window.__alerts") == [
        [f"{server.name(a.username)} mentioned you in Alerts", f"@{b.username} hidden tab"]]
    assert a.errors == b.errors == []
