"""Limits per employee across all their sockets and server processes.

A cap on the sockets one employee holds (the next is closed with 4030), and a
rate over all their sockets besides each socket's own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from colloquy_client import Client, ColloquyError
from tests.stack import Stack, extra_server

CAP = 16  # settings.MAX_SOCKETS_PER_EMPLOYEE's default
TOO_MANY_SOCKETS = 4030


async def _refusal(stack: Stack, token: str, server: int = 0) -> int | None:
    """The close code of a socket the server refuses before its hello."""
    async with connect(stack.ws_url(server),
                       additional_headers={"Authorization": f"Bearer {token}"},
                       subprotocols=["colloquy.v1.json"]) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code


async def _open(stack: Stack, user: str, n: int) -> list[Client]:
    servers = len(stack.servers)
    return list(await asyncio.gather(*(stack.client(user, server=i % servers)
                                       for i in range(n))))


async def test_the_socket_past_the_cap_is_closed_with_4030_on_any_process(
        stack: Stack) -> None:
    user = stack.new_user()
    held = await _open(stack, user, CAP)  # spread over the stack's processes
    assert await _refusal(stack, stack.token(user), server=len(stack.servers) - 1) == \
        TOO_MANY_SOCKETS
    assert [(await c.request("ping"))["op"] for c in held] == ["ok"] * CAP
    await asyncio.gather(*(c.close() for c in held))


async def test_a_closed_socket_frees_its_slot(stack: Stack) -> None:
    user = stack.new_user()
    held = await _open(stack, user, CAP)
    await held.pop().close()
    held.append(await asyncio.wait_for(_open_when_free(stack, user), 10))
    assert (await held[-1].request("ping"))["op"] == "ok"
    await asyncio.gather(*(c.close() for c in held))


async def _open_when_free(stack: Stack, user: str) -> Client:
    # The slot is released when the server sees the close, a moment after ours.
    while True:
        try:
            return await stack.client(user)
        except ConnectionClosed:
            await asyncio.sleep(0.1)


async def test_another_employee_is_not_limited_by_one_at_the_cap(stack: Stack) -> None:
    crowded, other = stack.new_user(), stack.new_user()
    held = await _open(stack, crowded, CAP)
    client = await stack.client(other)
    assert (await client.request("ping"))["op"] == "ok"
    await asyncio.gather(*(c.close() for c in [*held, client]))


RATE_ENV = {"COLLOQUY_EMPLOYEE_RATE_PER_SECOND": "1", "COLLOQUY_EMPLOYEE_RATE_BURST": "5"}


@pytest.fixture
def slow_servers(stack: Stack) -> Iterator[list[int]]:
    """One server (embedded) or two sharing Redis (services) with an employee rate
    of 1 op/s and a burst of 5, and their own Redis prefix."""
    env = dict(RATE_ENV)
    if stack.profile == "services":
        env["COLLOQUY_REDIS_PREFIX"] = f"cqrate{uuid.uuid4().hex[:8]}"
    with extra_server(stack, env) as first:
        if stack.profile != "services":
            yield [first]
            return
        with extra_server(stack, env) as second:
            yield [first, second]


async def _pings(client: Client, n: int) -> list[str]:
    outcomes = []
    for _ in range(n):
        try:
            await client.request("ping")
            outcomes.append("ok")
        except ColloquyError as exc:
            outcomes.append(exc.frame["code"])
    return outcomes


ACROSS = "more than 1 ops per second across your connections; slow down"


async def test_one_employees_sockets_share_one_rate(stack: Stack,
                                                    slow_servers: list[int]) -> None:
    user = stack.new_user()
    clients = [await stack.client(user, server=slow_servers[i % len(slow_servers)])
               for i in range(4)]
    # Four sockets, ten pings each: each socket's own bucket (a burst of 60) takes
    # them all; the employee's (5, then 1 a second) does not.
    outcomes = [o for c in clients for o in await _pings(c, 10)]
    assert outcomes.count("rate_limited") >= 25, outcomes
    with pytest.raises(ColloquyError) as refused:
        await clients[0].request("ping")
    assert refused.value.frame["message"] == ACROSS
    await asyncio.gather(*(c.close() for c in clients))


async def test_the_shared_rate_holds_across_processes(services: Stack,
                                                      slow_servers: list[int]) -> None:
    user = services.new_user()
    a, b = [await services.client(user, server=i) for i in slow_servers]
    # Six seconds of 10 pings a second on each process: each process's own bucket
    # alone would admit 5 + 6 = 11 (22 in all); the shared one about 11 in all.
    admitted = 0
    for _ in range(30):
        results = await asyncio.gather(_pings(a, 1), _pings(b, 1))
        admitted += sum(r.count("ok") for r in results)
        await asyncio.sleep(0.2)
    assert 5 <= admitted <= 17, admitted
    await asyncio.gather(a.close(), b.close())
