"""The Django admin changes access through the actions, so live sockets follow at once.

An administrator logs in to the admin over HTTP (cookies, CSRF, the forms as
the pages hold them) on server 0; the member's sockets are on server 0 and
server 1 (services: two processes sharing Redis; embedded: both on the one
server). Deleting a membership or a room, or unticking "Active", reaches every
one of them.
"""

from __future__ import annotations

import asyncio
import urllib.error
from typing import Any

import pytest

from colloquy_client import ColloquyError
from tests.stack import AdminBrowser, Recorder, Stack, Users, make_staff, open_client, until

DEACTIVATED = 4003


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=12)


def admin(stack: Stack) -> tuple[AdminBrowser, dict[str, Any]]:
    """A logged-in admin browser, and the administrator's public fields."""
    name, password = make_staff(stack)
    (uid, display), = stack.sql("SELECT id, display_name FROM core_employee WHERE username = ?",
                                name)
    return AdminBrowser(stack, name, password).login(), {
        "id": uid, "username": name, "name": display or name}


async def member_sockets(stack: Stack, username: str) -> list[Recorder]:
    """Two settled sockets of `username`: server 0 and server 1."""
    return [await open_client(stack, username, server=i, settled=True) for i in (0, 1)]


async def removed_frames(sock: Recorder, room: int) -> list[dict[str, Any]]:
    stream = f"user:{sock.user['id']}"
    await until(lambda: any(f.get("type") == "room.removed" for f in sock.frames),
                "room.removed on the member's socket")
    return [f for f in sock.stream_events() if f["stream"] == stream]


async def forbidden_send(sock: Recorder, room: int) -> str:
    try:
        await sock.request("message.send", room=room, body="still here?", client_id="late")
    except ColloquyError as exc:
        return exc.code
    return "sent"


async def test_deleting_a_membership_in_the_admin_cuts_the_member_off_on_every_socket(
        stack: Stack, users: Users) -> None:
    owner, member = users.take(), users.take()
    creator = await open_client(stack, owner)
    rid = (await creator.request("rooms.create", name="Audit", members=[member]))["room"]["id"]
    sockets = await member_sockets(stack, member)
    heads = [s.head(f"user:{s.user['id']}") for s in sockets]
    browser, by = await asyncio.to_thread(admin, stack)
    (membership,), = stack.sql("SELECT m.id FROM rooms_membership m JOIN core_employee e"
                               " ON e.id = m.user_id WHERE m.room_id = ? AND e.username = ?",
                               rid, member)
    await asyncio.to_thread(browser.submit, f"/admin/rooms/membership/{membership}/delete/",
                            {"post": "yes"})

    stream = f"user:{sockets[0].user['id']}"
    for sock, head in zip(sockets, heads, strict=True):
        assert await removed_frames(sock, rid) == [
            {"op": "event", "stream": stream, "seq": head + 1, "type": "room.removed",
             "data": {"room": {"id": rid}}}]
        assert await forbidden_send(sock, rid) == "forbidden"
    left = await creator.events_of("member.left", 1, stream=f"room:{rid}")
    assert [e["data"] for e in left] == [{"room": rid, "user": sockets[0].user, "by": by}]
    await asyncio.gather(creator.close(), *(s.close() for s in sockets))


async def test_deleting_a_room_in_the_admin_removes_it_from_every_member(
        stack: Stack, users: Users) -> None:
    owner, member = users.take(), users.take()
    creator = await open_client(stack, owner, settled=True)
    rid = (await creator.request("rooms.create", name="Closed", members=[member]))["room"]["id"]
    await creator.request("message.send", room=rid, body="kept on record", client_id="k")
    sockets = await member_sockets(stack, member)
    browser, by = await asyncio.to_thread(admin, stack)
    await asyncio.to_thread(browser.submit, f"/admin/rooms/room/{rid}/delete/", {"post": "yes"})

    deleted = await creator.events_of("room.deleted", 1, stream=f"room:{rid}")
    assert [e["data"] for e in deleted] == [{"room": rid, "by": by}]
    for sock in [creator, *sockets]:
        frames = await removed_frames(sock, rid)
        assert [f["data"] for f in frames if f["type"] == "room.removed"] == [
            {"room": {"id": rid}}]
        assert await forbidden_send(sock, rid) == "forbidden"
    assert stack.sql("SELECT count(*) FROM rooms_membership WHERE room_id = ?", rid) == [(0,)]
    await asyncio.to_thread(stack.wait_sql, "SELECT body FROM rooms_message WHERE room_id = ?",
                            rid, expect=[("kept on record",)])
    await asyncio.gather(*(s.close() for s in [creator, *sockets]))


async def _changed_in_the_admin(stack: Stack, username: str,
                                changes: dict[str, str | None]) -> list[int | None]:
    """Save `changes` on the employee's admin page while they hold a socket on each
    of two processes; the close codes those sockets get."""
    sockets = await member_sockets(stack, username)
    browser, _ = await asyncio.to_thread(admin, stack)
    await asyncio.to_thread(browser.submit,
                            f"/admin/core/employee/{sockets[0].user['id']}/change/",
                            {**changes, "_save": "Save"})
    return list(await asyncio.gather(*(s.wait_closed(10) for s in sockets)))


async def _saved_in_a_shell(stack: Stack, username: str, field: str,
                            value: str) -> list[Recorder]:
    """The employee's sockets on two processes, once `field` was saved as `value`
    by plain ORM code in another process."""
    sockets = await member_sockets(stack, username)
    await asyncio.to_thread(stack.manage, "shell", "-c", (
        "from core.models import Employee\n"
        f"e = Employee.objects.get(username={username!r})\n"
        f"e.{field} = {value!r}\n"
        "e.save()\n"))
    return sockets


async def test_unticking_active_in_the_admin_closes_every_socket_with_4003(
        stack: Stack, users: Users) -> None:
    leaver = users.take()
    assert await _changed_in_the_admin(stack, leaver, {"is_active": None}) == [
        DEACTIVATED, DEACTIVATED]
    (uid,), = stack.sql("SELECT id FROM core_employee WHERE username = ?", leaver)
    assert stack.sql("SELECT is_active FROM core_employee WHERE id = ?", uid) in (
        [(False,)], [(0,)])


REAUTHENTICATE = 4004
GUESTS_CANNOT_BROWSE = {"op": "error", "code": "forbidden",
                        "message": "guests cannot browse the directory"}


async def _searches_as(stack: Stack, username: str) -> dict[str, Any]:
    """What employees.search answers a fresh socket of `username` (minus the ref)."""
    sock = await open_client(stack, username)
    try:
        await sock.request("employees.search", query="")
        return {"op": "ok"}
    except ColloquyError as exc:
        return {k: v for k, v in exc.frame.items() if k != "ref"}
    finally:
        await sock.close()


async def test_a_role_changed_in_the_admin_makes_every_socket_reconnect_under_it(
        stack: Stack, users: Users) -> None:
    demoted = users.take()
    assert await _changed_in_the_admin(stack, demoted, {"role": "guest"}) == [
        REAUTHENTICATE, REAUTHENTICATE]
    assert await _searches_as(stack, demoted) == GUESTS_CANNOT_BROWSE


async def test_a_role_changed_by_any_save_reaches_the_sockets(stack: Stack,
                                                             users: Users) -> None:
    sockets = await _saved_in_a_shell(stack, users.take(), "role", "guest")
    assert await asyncio.gather(*(s.wait_closed(10) for s in sockets)) == [
        REAUTHENTICATE, REAUTHENTICATE]


async def test_an_unrelated_save_of_the_employee_leaves_the_sockets_open(
        stack: Stack, users: Users) -> None:
    sockets = await _saved_in_a_shell(stack, users.take(), "title", "Senior engineer")
    # The closes above arrive within a second; a ping round trip on each socket
    # after two seconds shows no close was sent.
    await asyncio.sleep(2)
    assert [(await s.request("ping"))["op"] for s in sockets] == ["ok", "ok"]


async def _refused_soon(sock: Recorder, room: int, timeout: float = 20.0) -> str:
    """Send into `room` until the server refuses (the revocation is on its way)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (answer := await forbidden_send(sock, room)) != "forbidden":
        if asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.1)
    return answer


async def test_a_membership_deleted_around_the_actions_stops_the_members_sockets(
        stack: Stack, users: Users) -> None:
    owner, member = users.take(), users.take()
    creator = await open_client(stack, owner)
    rid = (await creator.request("rooms.create", name="Script", members=[member]))["room"]["id"]
    sockets = await member_sockets(stack, member)
    await asyncio.to_thread(stack.manage, "shell", "-c", (
        "from rooms.models import Membership\n"
        f"Membership.objects.filter(room_id={rid}, user__username={member!r}).delete()\n"))
    assert [await _refused_soon(s, rid) for s in sockets] == ["forbidden", "forbidden"]
    await asyncio.gather(creator.close(), *(s.close() for s in sockets))


def test_the_admin_refuses_to_delete_an_employee(stack: Stack, users: Users) -> None:
    # Employees who leave are deactivated: their messages stay on the record, and the
    # persister never meets an author who is gone.
    leaver = users.take()
    (uid,), = stack.sql("SELECT id FROM core_employee WHERE username = ?", leaver)
    browser, _ = admin(stack)
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.get(f"/admin/core/employee/{uid}/delete/")
    assert refused.value.code == 403
    assert stack.sql("SELECT username FROM core_employee WHERE id = ?", uid) == [(leaver,)]
