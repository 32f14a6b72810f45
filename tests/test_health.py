"""/healthz (the process serves HTTP) and /readyz (database, Redis, persister lag)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.stack import Stack, Users, open_client, until


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=4)  # what this module's tests take, per profile


def get(stack: Stack, path: str, index: int = 0) -> tuple[int, str, Any]:
    """(status, content type, decoded JSON body) of a GET."""
    try:
        with urllib.request.urlopen(stack.http(index) + path, timeout=10) as r:
            return r.status, r.headers["Content-Type"], json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], json.loads(e.read())


def lag_entries(stack: Stack, index: int = 0) -> int:
    return get(stack, "/readyz", index)[2]["persister_lag"]["entries"]


def test_healthz_is_ok_on_every_server(stack: Stack) -> None:
    for index in range(len(stack.servers)):
        assert get(stack, "/healthz", index) == (200, "application/json", {"status": "ok"})


def test_readyz_is_ready_with_a_persister_lag_object(stack: Stack) -> None:
    status, kind, body = get(stack, "/readyz")
    assert (status, kind) == (200, "application/json")
    lag = body["persister_lag"]
    assert set(lag) == {"entries", "oldest_seconds"}
    assert isinstance(lag["entries"], int) and lag["entries"] >= 0
    assert isinstance(lag["oldest_seconds"], int | float) and lag["oldest_seconds"] >= 0
    assert body == {
        "profile": stack.profile, "database": "ok",
        "redis": "ok" if stack.profile == "services" else "not used",
        "persister_lag": lag, "status": "ready",
        # Other tests leave dead letters on purpose (tests/test_dead_letters.py).
        "dead_letters": body["dead_letters"],
    }
    assert isinstance(body["dead_letters"], int)


async def test_readyz_counts_entries_waiting_while_the_persister_is_down(
        services: Stack, users: Users) -> None:
    owner, other = users.take(), users.take()
    sender = await open_client(services, owner)
    room = (await sender.request("rooms.create", name="Lag", members=[other]))["room"]
    await until(lambda: lag_entries(services) == 0, "the persister to catch up")
    services.kill_persister()
    try:
        for i in range(5):
            await sender.request("message.send", room=room["id"], body=f"w{i}", client_id=f"w{i}")
        for index in range(len(services.servers)):  # every process sees the same journal
            status, _, body = get(services, "/readyz", index)
            assert (status, body["status"], body["persister_lag"]["entries"]) == (200, "ready", 5)
            assert body["persister_lag"]["oldest_seconds"] >= 0
    finally:
        services.start_persister()
    await until(lambda: lag_entries(services) == 0, "the restarted persister to catch up",
                timeout=30)
    await asyncio.to_thread(
        services.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", room["id"],
        expect=[(5,)])
    await sender.close()


async def test_readyz_is_not_ready_when_the_lag_is_too_old(
        services: Stack, users: Users) -> None:
    port = services.start_server(extra_env={"COLLOQUY_READY_MAX_LAG_SECONDS": "1"})
    strict = len(services.servers) - 1
    owner, other = users.take(), users.take()
    sender = await open_client(services, owner)
    room = (await sender.request("rooms.create", name="Stale", members=[other]))["room"]
    try:
        await until(lambda: lag_entries(services) == 0, "the persister to catch up")
        services.kill_persister()
        try:
            await sender.request("message.send", room=room["id"], body="stuck", client_id="s")
            await asyncio.sleep(1.5)
            status, _, body = get(services, "/readyz", strict)
            assert (status, body["status"], body["persister_lag"]["entries"]) == (
                503, "not ready", 1)
            assert body["persister_lag"]["oldest_seconds"] > 1
            assert get(services, "/readyz", 0)[0] == 200  # the default bound is 30 s
        finally:
            services.start_persister()
        await until(lambda: get(services, "/readyz", strict)[0] == 200,
                    "readiness once the persister is back", timeout=30)
    finally:
        for i, (proc, p) in enumerate(services.servers):
            if p == port:
                del services.servers[i]
                proc.kill()
                proc.wait(10)
                break
        await sender.close()
