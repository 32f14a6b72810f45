"""Deactivation cuts an employee off at once, on every server process, and nobody else.

`manage.py deactivate_employee` runs in its own process, as an administrator
would run it; the servers hear of it through the control channel (Redis on
services, the journal's control table on embedded). Services: the employee has
a socket on server 0 and one on server 1; embedded: two on the one server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from colloquy_client import Client
from tests.stack import PASSWORD, Stack, close_code_within

DEACTIVATED = 4003
WITHIN_SECONDS = 1.0
BATCH = 20  # users issued tokens per manage.py call: four per test


async def deactivate(stack: Stack, username: str) -> None:
    """Run the management command without blocking the sockets' event loop."""
    done = await asyncio.to_thread(stack.manage, "deactivate_employee", username)
    assert done.stdout.strip() == f"deactivated {username}"


class Office:
    """A room of a leaver (two sockets), two colleagues and a talker."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.leaver = stack.user_with_token(BATCH)
        self.talker_name = stack.user_with_token(BATCH)
        self.colleague_names = [stack.user_with_token(BATCH), stack.user_with_token(BATCH)]
        self.leaver_sockets: list[Client] = []
        self.colleagues: list[Client] = []
        self.talker: Client | None = None
        self.room = 0

    async def open(self) -> Office:
        stack = self.stack
        self.talker = await stack.client(self.talker_name, server=0)
        room = (await self.talker.request(
            "rooms.create", name="Farewell",
            members=[self.leaver, *self.colleague_names]))["room"]
        self.room = room["id"]
        self.leaver_sockets = [await stack.client(self.leaver, server=i) for i in (0, 1)]
        self.colleagues = [await stack.client(name, server=i)
                           for i, name in enumerate(self.colleague_names)]
        for client in (*self.leaver_sockets, *self.colleagues):
            await client.request("ping")  # live events flow from the first request on
        return self

    async def say(self, body: str, client_id: str) -> dict[str, Any]:
        assert self.talker is not None
        return await self.talker.request("message.send", room=self.room, body=body,
                                         client_id=client_id)

    async def close(self) -> None:
        clients = [c for c in (self.talker, *self.leaver_sockets, *self.colleagues) if c]
        await asyncio.gather(*(c.close() for c in clients))


async def test_deactivation_closes_every_socket_of_the_employee_with_4003_within_1s(
    stack: Stack,
) -> None:
    office = await Office(stack).open()
    await deactivate(stack, office.leaver)
    codes = await asyncio.gather(*(close_code_within(c, WITHIN_SECONDS)
                                   for c in office.leaver_sockets))
    assert codes == [DEACTIVATED, DEACTIVATED]
    await office.close()


async def test_deactivated_employees_token_fails_at_the_handshake(stack: Stack) -> None:
    office = await Office(stack).open()
    token = stack.token(office.leaver)
    await deactivate(stack, office.leaver)
    for server in (0, 1):
        with pytest.raises(InvalidStatus) as refused:
            await Client(stack.ws_url(server), token=token).connect()
        assert refused.value.response.status_code == 403
    await office.close()


async def test_deactivated_employee_can_get_no_new_token_or_ticket(stack: Stack) -> None:
    office = await Office(stack).open()
    token = stack.token(office.leaver)
    await deactivate(stack, office.leaver)
    status, body = stack.post("/api/auth/token",
                              {"username": office.leaver, "password": PASSWORD})
    # docs/protocol.md: a deactivated employee gets the wrong-password answer.
    assert (status, body) == (401, {"error": "unauthorized",
                                    "message": "unknown username or wrong password"})
    status, body = stack.post("/api/auth/ticket", headers={"Authorization": f"Bearer {token}"})
    assert (status, body) == (401, {"error": "unauthorized",
                                    "message": "log in or send Authorization: Bearer <token>"})
    await office.close()


async def test_ticket_issued_before_deactivation_is_refused_after(stack: Stack) -> None:
    office = await Office(stack).open()
    status, body = stack.post("/api/auth/ticket",
                              headers={"Authorization": f"Bearer {stack.token(office.leaver)}"})
    assert status == 200
    await deactivate(stack, office.leaver)
    with pytest.raises(InvalidStatus) as refused:
        await Client(stack.ws_url(0), ticket=body["ticket"]).connect()
    assert refused.value.response.status_code == 403
    await office.close()


async def test_colleagues_sockets_stay_open_and_keep_receiving(stack: Stack) -> None:
    office = await Office(stack).open()
    before = await office.say("before", "b-1")
    await deactivate(stack, office.leaver)
    await asyncio.gather(*(close_code_within(c, WITHIN_SECONDS)
                           for c in office.leaver_sockets))
    after = await office.say("after", "a-1")
    stream = f"room:{office.room}"
    for colleague in office.colleagues:
        events = await colleague.events_of("message.created", 2, stream=stream)
        assert [(e["seq"], e["data"]["id"], e["data"]["body"]) for e in events] == [
            (before["seq"], before["id"], "before"), (after["seq"], after["id"], "after")]
        assert colleague.close_code is None
        assert (await colleague.request("ping"))["op"] == "ok"
    assert office.talker is not None and office.talker.close_code is None
    await office.close()
