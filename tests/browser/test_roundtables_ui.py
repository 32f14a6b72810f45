"""Round tables in the browser: an executive creates one in the dialog, starts it,
the audience asks (anonymously or not) and votes, a moderator approves and pins,
the host answers; rejection reasons reach only their author; merges; and a viewer
who lost the connection ends up where a fresh roundtable.get is."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from tests.browser.conftest import (
    BrowserStack,
    Page,
    expect,
    group_of,
    open_roundtable,
    room_item,
    roundtable_item,
    wait_connected,
)

WS = re.compile(r"/ws/$")


def question(page: Page, text: str, where: str = "#rt-body") -> Any:
    return page.locator(f"{where} .rt-q").filter(
        has=page.locator(".rt-q-text", has_text=text))


def texts(page: Page, where: str) -> Any:
    return page.locator(f"{where} .rt-q .rt-q-text")


def ask(page: Page, text: str, anonymous: bool = False) -> None:
    """Ask, and wait for the server's reply (the question shows as mine)."""
    page.locator("#rt-ask-input").fill(text)
    if anonymous:
        page.get_by_label("Ask anonymously").check()
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(question(page, text).locator(".you")).to_have_text(" (you)")
    expect(page.locator("#rt-ask-input")).to_have_value("")


def create(page: Page, title: str, room: int, premoderation: bool = False) -> int:
    """A round table of the page's employee (its host), for the room's members, made
    through the client's own code (the dialog is the first test's)."""
    return int(page.evaluate(
        """([title, room, premoderation]) => window.colloquy.rts.create({
             title, starts_at: Date.now() + 3600000,
             hosts: [window.colloquy.store.me.username],
             audience: {kind: "room", room}, premoderation}).then((rt) => rt.id)""",
        [title, room, premoderation]))


def no_trace(page: Page, *needles: str) -> None:
    content = page.content()
    for needle in needles:
        assert not re.search(rf"(?<![\w-]){re.escape(needle)}(?![\w-])", content), needle


def test_a_host_a_moderator_and_two_employees_run_a_whole_round_table_live(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    host, mod = login(role="executive"), login(role="moderator")
    ann, ben = login(), login()
    everyone = (host, mod, ann, ben)
    pages = [s.page for s in everyone]
    hp, mp, ap, bp = pages
    group_of(server, host.username, [mod.username, ann.username, ben.username], "Town hall")
    expect(room_item(hp, "Town hall")).to_be_visible()

    # The host fills the dialog.
    hp.get_by_role("button", name="New round table").click()
    dlg = hp.locator("#dlg-rt-new")
    dlg.get_by_label("Title").fill("Ask the CEO")
    dlg.get_by_label("Description").fill("Quarterly round table: bring your questions.")
    expect(dlg.get_by_label("I host it")).to_be_checked()
    dlg.locator("#rt-new-mods input[type=search]").fill(mod.username)
    dlg.locator(f'#rt-new-mods input[data-username="{mod.username}"]').check()
    expect(dlg.locator("#rt-new-mods .chip")).to_have_attribute(
        "aria-label", f"Remove {server.name(mod.username)}")
    dlg.get_by_text("A room", exact=True).click()
    dlg.get_by_label("Room", exact=True).select_option(label="Town hall")
    dlg.get_by_label("Pre-moderation: questions wait for a moderator's approval").check()
    dlg.get_by_label("Stream URL").fill("https://stream.example.com/ceo")
    hp.screenshot(path=str(tmp_path / "roundtable-dialog.png"))
    dlg.get_by_role("button", name="Create round table").click()
    expect(dlg).to_be_hidden()
    expect(hp.locator("#rt-title")).to_have_text("Ask the CEO")
    expect(hp.locator("#rt-state")).to_have_text("Scheduled")
    expect(hp.locator("#rt-stream")).to_have_attribute("href", "https://stream.example.com/ceo")
    expect(hp.locator("#rt-description")).to_have_text(
        "Quarterly round table: bring your questions.")

    # The audience is told: Ann opens it from the bell, the others from their lists
    # (which the notification refreshed).
    ap.locator("#btn-bell").click()
    note = ap.locator("#notes-list .note").filter(has_text="round table")
    expect(note.locator(".note-title")).to_have_text(
        f"{server.name(host.username)} announced a round table")
    expect(note.locator(".note-preview")).to_have_text("Ask the CEO")
    note.click()
    expect(ap.locator("#rt-title")).to_have_text("Ask the CEO")
    expect(ap.locator("#notes-panel")).to_be_hidden()
    for page in (mp, bp):
        open_roundtable(page, "Ask the CEO")
    for page in (mp, ap, bp):
        expect(page.locator("#rt-state")).to_have_text("Scheduled")
        expect(page.locator("#rt-sub")).to_contain_text(
            f"Hosted by {server.name(host.username)}")
    expect(mp.locator("#rt-sub .rt-role")).to_have_text(" · You moderate")
    expect(mp.locator("#rt-queue-title")).to_have_text("Waiting for approval · 0")
    for page in (ap, bp):
        expect(page.locator("#rt-queue-section")).to_be_hidden()
        expect(page.locator("#btn-rt-start")).to_be_hidden()

    hp.get_by_role("button", name="Start", exact=True).click()
    for page in pages:
        expect(page.locator("#rt-state")).to_have_text("Live")
        expect(roundtable_item(page, "Ask the CEO").locator(".rt-live")).to_have_text("Live")
    expect(hp.locator("#btn-rt-start")).to_be_hidden()
    expect(hp.locator("#btn-rt-end")).to_be_visible()

    # Ann asks anonymously, Ben openly: both wait for approval, seen by their authors
    # and the moderators only.
    ask(ap, "Why the reorg?", anonymous=True)
    mine = question(ap, "Why the reorg?", "#rt-mine")
    expect(mine.locator(".author")).to_have_text("Anonymous (you)")
    expect(mine.locator(".rt-tag")).to_have_text("Waiting for approval")
    ask(bp, "Will remote work stay?")
    expect(question(bp, "Will remote work stay?", "#rt-mine").locator(".author")).to_have_text(
        f"{server.name(ben.username)} (you)")
    expect(texts(mp, "#rt-queue")).to_have_text(["Why the reorg?", "Will remote work stay?"])
    expect(mp.locator("#rt-queue .rt-q .author")).to_have_text(
        ["Anonymous", server.name(ben.username)])
    expect(mp.locator("#rt-queue-title")).to_have_text("Waiting for approval · 2")
    for page in (ap, bp):
        expect(page.locator("#rt-open-empty")).to_have_text("No questions yet. Ask the first one.")
    mp.screenshot(path=str(tmp_path / "roundtable-queue.png"))

    for body in ("Why the reorg?", "Will remote work stay?"):
        question(mp, body, "#rt-queue").get_by_role("button", name="Approve").click()
    expect(mp.locator("#rt-queue-empty")).to_have_text("Nothing waits for approval.")
    for page in pages:
        expect(texts(page, "#rt-open")).to_have_text(["Why the reorg?", "Will remote work stay?"])
        expect(page.locator("#rt-open .rt-vote .count")).to_have_text(["0", "0"])
    expect(ap.locator("#rt-mine-section")).to_be_hidden()

    # Both vote for Ben's: it moves to the top on every screen.
    for page in (ap, bp):
        vote = question(page, "Will remote work stay?", "#rt-open").locator(".rt-vote")
        vote.click()
        expect(vote).to_have_attribute("aria-pressed", "true")
    for page in pages:
        expect(texts(page, "#rt-open")).to_have_text(["Will remote work stay?", "Why the reorg?"])
        expect(page.locator("#rt-open .rt-vote .count")).to_have_text(["2", "0"])
    for page in (hp, mp):
        for vote in page.locator("#rt-open .rt-vote").all():
            expect(vote).to_have_attribute("aria-pressed", "false")

    # The moderator pins Ann's: "answering now" for everyone.
    question(mp, "Why the reorg?", "#rt-open").get_by_role("button", name="Pin", exact=True).click()
    for page in pages:
        expect(texts(page, "#rt-now")).to_have_text(["Why the reorg?"])
        expect(texts(page, "#rt-open")).to_have_text(["Will remote work stay?"])
    expect(hp.locator("#rt-now .rt-q").get_by_role("button", name="Unpin")).to_be_visible()
    expect(ap.locator("#rt-now .rt-q").get_by_role("button", name="Unpin")).to_have_count(0)
    ap.screenshot(path=str(tmp_path / "roundtable-audience.png"))

    # The host marks it answered, with a written answer.
    hp.locator("#rt-now .rt-q").get_by_role("button", name="Mark answered…").click()
    act = hp.locator("#dlg-rt-act")
    expect(act.locator("#rt-act-preview")).to_have_text("Why the reorg?")
    act.get_by_label("Written answer (optional)").fill("To focus on our clients.")
    act.get_by_role("button", name="Mark answered").click()
    expect(act).to_be_hidden()
    for page in pages:
        expect(page.locator("#rt-now")).to_be_hidden()
        answered = question(page, "Why the reorg?", "#rt-answered")
        expect(answered.locator(".rt-answer-text")).to_have_text("To focus on our clients.")
        expect(answered.locator(".rt-answer-by")).to_contain_text(
            f"Answered by {server.name(host.username)}")
        expect(answered.locator(".rt-tag")).to_have_text("Answered")
        expect(page.locator("#rt-answered-title")).to_have_text("Answered · 1")
        expect(texts(page, "#rt-open")).to_have_text(["Will remote work stay?"])
    expect(question(ap, "Why the reorg?", "#rt-answered").locator(".author")).to_have_text(
        "Anonymous (you)")
    for page, name in zip(pages, ("host", "moderator", "ann", "ben"), strict=True):
        page.screenshot(path=str(tmp_path / f"roundtable-{name}.png"))

    # Nobody else learns who asked anonymously.
    for page in (hp, mp, bp):
        expect(question(page, "Why the reorg?", "#rt-answered").locator(".author")).to_have_text(
            "Anonymous")
        no_trace(page, server.name(ann.username), ann.username)

    # The side chat: Ben joins it from the round table.
    bp.get_by_role("button", name="Side chat").click()
    expect(bp.locator("#room-title")).to_have_text("Ask the CEO (round table)")
    expect(room_item(bp, "Ask the CEO (round table)")).to_be_visible()
    open_roundtable(bp, "Ask the CEO")
    expect(texts(bp, "#rt-answered")).to_have_text(["Why the reorg?"])
    assert [s.errors for s in everyone] == [[], [], [], []]


def test_a_rejection_and_its_reason_are_seen_by_the_author_alone(
        login: Any, server: BrowserStack, tmp_path: Any) -> None:
    host, ann, ben = login(role="executive"), login(), login()
    room = group_of(server, host.username, [ann.username, ben.username], "All hands")
    create(host.page, "Benefits Q&A", room["id"], premoderation=True)
    pages = [s.page for s in (host, ann, ben)]
    hp, ap, bp = pages
    for page in pages:
        open_roundtable(page, "Benefits Q&A")
    expect(hp.locator("#rt-sub .rt-role")).to_have_text(" · You host")

    ask(ap, "Can we see the salary bands?")
    pending = question(hp, "Can we see the salary bands?", "#rt-queue")
    expect(pending.locator(".author")).to_have_text(server.name(ann.username))
    pending.get_by_role("button", name="Reject…").click()
    act = hp.locator("#dlg-rt-act")
    act.get_by_label("Reason (only its author sees it)").fill("Covered in last quarter's session")
    act.get_by_role("button", name="Reject").click()
    expect(act).to_be_hidden()
    expect(hp.locator("#rt-queue-empty")).to_have_text("Nothing waits for approval.")

    mine = question(ap, "Can we see the salary bands?", "#rt-mine")
    expect(mine.locator(".rt-tag")).to_have_text("Not accepted")
    expect(mine.locator(".rt-reason")).to_have_text("Reason: Covered in last quarter's session")
    expect(mine.get_by_role("button", name="Edit")).to_have_count(0)
    ap.screenshot(path=str(tmp_path / "roundtable-rejected.png"))

    # A later question goes through; by then Ben would have seen the first one.
    ask(ap, "Is the bonus scheme changing?")
    question(hp, "Is the bonus scheme changing?", "#rt-queue").get_by_role(
        "button", name="Approve").click()
    for page in pages:
        expect(texts(page, "#rt-open")).to_have_text(["Is the bonus scheme changing?"])
    no_trace(bp, "salary bands", "Covered in last quarter")
    no_trace(hp, "Covered in last quarter")  # the rejected question left the host's view too
    expect(question(hp, "salary bands")).to_have_count(0)
    expect(bp.locator("#rt-mine-section")).to_be_hidden()

    # A refusal is shown as the app shows errors; the text stays for another go.
    ap.locator("#rt-ask-input").fill("x" * 1001)
    expect(ap.locator("#rt-ask-counter")).to_have_text("1001 / 1000")
    ap.get_by_role("button", name="Ask", exact=True).click()
    expect(ap.locator(".toast-error")).to_have_text(
        "Could not ask: a question is at most 1000 characters")
    expect(ap.locator("#rt-ask-input")).to_have_value("x" * 1001)

    # The host ends it: asking and voting close everywhere.
    hp.get_by_role("button", name="Start", exact=True).click()
    expect(hp.locator("#rt-state")).to_have_text("Live")
    hp.get_by_role("button", name="End", exact=True).click()
    hp.locator("#dlg-rt-act").get_by_role("button", name="End", exact=True).click()
    for page in pages:
        expect(page.locator("#rt-state")).to_have_text("Ended")
        expect(page.locator("#rt-ask")).to_be_hidden()
        expect(page.locator("#rt-closed")).to_have_text(
            "This round table has ended: questions and votes are closed.")
        expect(page.locator("#rt-open .rt-vote")).to_be_disabled()
    expect(hp.locator("#btn-rt-end")).to_be_hidden()
    assert host.errors == ann.errors == ben.errors == []


def test_a_merge_combines_the_votes_and_tells_the_duplicates_author(
        login: Any, server: BrowserStack) -> None:
    host, ann, ben = login(role="executive"), login(), login()
    room = group_of(server, host.username, [ann.username, ben.username], "Office move")
    create(host.page, "Facilities hour", room["id"])
    pages = [s.page for s in (host, ann, ben)]
    hp, ap, bp = pages
    for page in pages:
        open_roundtable(page, "Facilities hour")
    ask(ap, "Which office are we moving to?")
    ask(bp, "Where is the new office?")
    # Ben votes for both; Ann for Ben's: 1 and 2.
    for page, body in ((bp, "Which office are we moving to?"), (bp, "Where is the new office?"),
                       (ap, "Where is the new office?")):
        vote = question(page, body, "#rt-open").locator(".rt-vote")
        vote.click()
        expect(vote).to_have_attribute("aria-pressed", "true")
    for page in pages:
        expect(texts(page, "#rt-open")).to_have_text(
            ["Where is the new office?", "Which office are we moving to?"])
        expect(page.locator("#rt-open .rt-vote .count")).to_have_text(["2", "1"])

    question(hp, "Where is the new office?", "#rt-open").get_by_role(
        "button", name="Merge into…").click()
    act = hp.locator("#dlg-rt-act")
    act.get_by_label("Merge into").select_option(label="Which office are we moving to?")
    act.get_by_role("button", name="Merge").click()
    expect(act).to_be_hidden()
    for page in pages:  # each voter once: Ben and Ann
        expect(texts(page, "#rt-open")).to_have_text(["Which office are we moving to?"])
        expect(page.locator("#rt-open .rt-vote .count")).to_have_text(["2"])
    # Ann's vote moved with the duplicate: the target shows it as hers.
    expect(question(ap, "Which office are we moving to?", "#rt-open").locator(".rt-vote")
           ).to_have_attribute("aria-pressed", "true")
    merged = question(bp, "Where is the new office?", "#rt-mine")
    expect(merged.locator(".rt-tag")).to_have_text("Merged into another question")
    expect(ap.locator("#rt-mine-section")).to_be_hidden()
    assert host.errors == ann.errors == ben.errors == []


def test_a_viewer_back_from_a_lost_connection_sees_what_a_fresh_tab_sees(
        login: Any, server: BrowserStack) -> None:
    gate: dict[str, Any] = {"closed": False, "routes": []}

    def route(context: Any) -> None:
        def handle(ws: Any) -> None:
            if gate["closed"]:
                ws.close()
            else:
                gate["routes"].append(ws)
                ws.connect_to_server()
        context.route_web_socket(WS, handle)

    host, ann = login(role="executive"), login()
    ben = login(route=route)
    room = group_of(server, host.username, [ann.username, ben.username], "Resumers")
    create(host.page, "Away and back", room["id"])
    pages = [s.page for s in (host, ann, ben)]
    hp, ap, bp = pages
    for page in pages:
        open_roundtable(page, "Away and back")
    hp.get_by_role("button", name="Start", exact=True).click()
    ask(ap, "First question")
    expect(texts(bp, "#rt-open")).to_have_text(["First question"])

    gate["closed"] = True
    for ws in gate["routes"]:
        ws.close()
    expect(bp.locator("#conn-status")).to_contain_text("Reconnecting")
    # While Ben is away: a question, votes, a pin, an answer.
    ask(ap, "Second question")
    vote = question(hp, "Second question", "#rt-open").locator(".rt-vote")
    vote.click()
    expect(vote).to_have_attribute("aria-pressed", "true")
    question(hp, "Second question", "#rt-open").get_by_role(
        "button", name="Pin", exact=True).click()
    expect(texts(ap, "#rt-now")).to_have_text(["Second question"])
    question(hp, "First question", "#rt-open").get_by_role("button", name="Mark answered…").click()
    hp.locator("#dlg-rt-act").get_by_role("button", name="Mark answered").click()
    expect(texts(ap, "#rt-answered")).to_have_text(["First question"])
    expect(texts(bp, "#rt-answered")).to_have_count(0)  # still away

    gate["closed"] = False
    retry = bp.locator("#conn-status").get_by_role("button", name="Retry now")
    if retry.is_visible():
        with contextlib.suppress(Exception):  # it reconnected by itself meanwhile
            retry.click(timeout=2000)
    wait_connected(bp, timeout=25_000)
    expect(texts(bp, "#rt-now")).to_have_text(["Second question"])
    expect(texts(bp, "#rt-answered")).to_have_text(["First question"])
    expect(bp.locator("#rt-now .rt-vote .count")).to_have_text("1")
    fresh = ben.open()
    open_roundtable(fresh, "Away and back")
    expect(texts(fresh, "#rt-now")).to_have_text(["Second question"])
    assert bp.locator("#rt-body").inner_text() == fresh.locator("#rt-body").inner_text()
    assert bp.evaluate("window.colloquy.conn.reconnects") >= 1
    assert host.errors == ann.errors == ben.errors == []
