"""The round-table admin: anonymous authors are named nowhere in it, except on the
reveal page, to an administrator who gives a reason, and every reveal is recorded."""

from __future__ import annotations

import asyncio
import re
import urllib.error
from typing import Any

from tests.stack import AdminBrowser, Stack, Users, make_staff, round_table, round_table_viewer


async def _anonymous_question(stack: Stack) -> tuple[dict[str, Any], int, AdminBrowser]:
    users = Users(stack, 1)
    host, [mod], rt = await round_table(stack, [name := users.take()])
    asker, _ = await round_table_viewer(stack, name, rt["id"], 0)
    qid = (await asker.ask(rt["id"], "Salaries?", "adm-1", anonymous=True))["question"]["id"]
    who = asker.user
    await asyncio.gather(host.close(), mod.close(), asker.close())
    staff, password = make_staff(stack)
    return who, qid, AdminBrowser(stack, staff, password).login()


def _names(page: str, person: dict[str, Any]) -> bool:
    return any(re.search(rf"\b{re.escape(n)}\b", page) for n in (person["username"],
                                                                 person["name"]))


async def test_the_question_admin_shows_anonymous_and_refuses_filtering_by_author(
        stack: Stack) -> None:
    who, qid, browser = await _anonymous_question(stack)
    listing = await asyncio.to_thread(browser.get, "/admin/roundtables/question/")
    assert "Anonymous (" in listing and not _names(listing, who)
    page = await asyncio.to_thread(browser.get, f"/admin/roundtables/question/{qid}/change/")
    assert "Salaries?" in page and not _names(page, who)
    try:
        await asyncio.to_thread(browser.get, f"/admin/roundtables/question/?author={who['id']}")
        status = 200
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 400  # Django's answer to a lookup the admin does not allow


async def test_revealing_an_author_takes_a_reason_and_leaves_a_record(stack: Stack) -> None:
    who, qid, browser = await _anonymous_question(stack)
    path = f"/admin/roundtables/question/{qid}/reveal/"
    asked = await asyncio.to_thread(browser.get, path)
    assert "Reveal the author" in asked and not _names(asked, who)
    short = await asyncio.to_thread(browser.submit, path, {"reason": "x"})
    assert "at least 10 characters" in short and not _names(short, who)
    shown = await asyncio.to_thread(browser.submit, path,
                                    {"reason": "Harassment complaint HR-1432"})
    assert re.search(rf'id="revealed-author">Asked by <strong>{who["username"]}</strong>',
                     shown)
    record = await asyncio.to_thread(browser.get, "/admin/roundtables/authorreveal/")
    assert browser.username in record and "Harassment complaint HR-1432" in record
    assert record.count("Harassment complaint HR-1432") == 1  # the short reason left none
