"""An announcement in the browser: sent with "Require acknowledgement", acknowledged
by a member, and the author's list of who acknowledged changes live."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import BrowserStack, expect, message, open_room, room_with


def test_acknowledging_in_one_tab_updates_the_authors_list_live(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    a, b = login(), login()
    room = room_with(server, a.username, b.username, "Policies", members_announce=True)
    page, other = a.page, b.page
    open_room(page, "Policies")
    page.locator("#composer-ack-box").check()
    page.locator("#composer-input").fill("Please read the travel policy")
    page.locator("#composer-input").press("Enter")
    mine = message(page, "Please read the travel policy")
    expect(mine.locator(".ack-badge")).to_have_text("Announcement")
    expect(mine.locator(".ack-tally")).to_have_text("Acknowledged by 0 of 1")
    expect(page.locator("#composer-ack-box")).not_to_be_checked()  # one message only
    mine.locator(".ack-tally").click()
    dialog = page.locator("#dlg-acks")
    expect(dialog.locator("#acks-pending .ack-name")).to_have_text([server.name(b.username)])
    expect(dialog.locator("#acks-done .ack-person")).to_have_count(0)
    open_room(other, "Policies")
    theirs = message(other, "Please read the travel policy")
    expect(theirs.locator(".ack-tally")).to_have_count(0)  # only the author sees the tally
    theirs.get_by_role("button", name="Acknowledge").click()
    expect(theirs.locator(".ack-done")).to_have_text("You acknowledged this")
    # Live, in the author's open list and under the message.
    expect(dialog.locator("#acks-done .ack-name")).to_have_text([server.name(b.username)])
    expect(dialog.locator("#acks-pending .ack-person")).to_have_count(0)
    expect(dialog.locator("#acks-summary")).to_have_text("1 of 1 acknowledged")
    expect(mine.locator(".ack-tally")).to_have_text("Acknowledged by 1 of 1")
    message_id = mine.get_attribute("data-id")
    expect(dialog.locator("#acks-csv")).to_have_attribute(
        "href", f"/api/rooms/{room['id']}/messages/{message_id}/acks.csv")
    page.screenshot(path=str(tmp_path / "acks-author.png"))
    other.screenshot(path=str(tmp_path / "acks-member.png"))
    # The CSV the link downloads, with the author's session.
    with page.expect_download() as download:
        dialog.locator("#acks-csv").click()
    text = open(download.value.path()).read().splitlines()  # noqa: SIM115
    assert text[0] == ("username,name,department,status,acknowledged_version,"
                       "acknowledged_at,current_version")
    assert text[1].startswith(f"{b.username},{server.name(b.username)},,acknowledged,1,")
    assert a.errors == b.errors == []
