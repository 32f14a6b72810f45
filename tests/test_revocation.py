"""Revoking one API token closes the sockets opened with it, and only those."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from colloquy_client import Client, ColloquyError
from tests.stack import Stack, handshake_status


async def test_revoked_token_closes_its_sockets_with_4001_on_every_process(stack: Stack) -> None:
    user = stack.new_user()
    token = stack.token(user)
    on_a = await stack.client(user, server=0)
    on_b = await stack.client(user, server=1)
    _, other = stack.post("/api/auth/token", {"username": user, "password": "pw-test-only"})
    survivor = Client(stack.ws_url(0), token=other["token"])
    await survivor.connect()
    stack.manage("revoke_token", token[:10])
    assert await on_a.wait_closed(timeout=2.0) == 4001
    assert await on_b.wait_closed(timeout=2.0) == 4001
    assert (await survivor.request("ping"))["op"] == "ok"
    with pytest.raises(InvalidStatus) as refused:
        await Client(stack.ws_url(0), token=token).connect()
    assert refused.value.response.status_code == 403
    await survivor.close()


async def test_client_id_reused_in_another_room_is_a_conflict(stack: Stack) -> None:
    owner, other = stack.new_user(), stack.new_user()
    client = await stack.client(owner)
    first = (await client.request("rooms.create", name="One", members=[other]))["room"]
    second = (await client.request("rooms.create", name="Two", members=[other]))["room"]
    await client.request("message.send", room=first["id"], body="a", client_id="same")
    with pytest.raises(ColloquyError) as err:
        await client.request("message.send", room=second["id"], body="b", client_id="same")
    assert err.value.frame == {
        "op": "error", "ref": 4, "code": "conflict",
        "message": "client_id 'same' was already used for a message in another room",
    }
    await client.close()


def _ticket(stack: Stack, token: str) -> str:
    status, body = stack.post("/api/auth/ticket", headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return body["ticket"]


async def test_socket_opened_with_a_ticket_closes_when_its_token_is_revoked(
        stack: Stack) -> None:
    user = stack.new_user()
    token = stack.token(user)
    by_ticket = Client(stack.ws_url(1), ticket=_ticket(stack, token))
    await by_ticket.connect()
    stack.manage("revoke_token", token[:10])
    assert await by_ticket.wait_closed(timeout=2.0) == 4001


async def test_ticket_minted_before_its_token_was_revoked_opens_nothing(stack: Stack) -> None:
    user = stack.new_user()
    token = stack.token(user)
    unused = _ticket(stack, token)
    stack.manage("revoke_token", token[:10])
    assert await handshake_status(stack.ws_url(0), ticket=unused) == 403
