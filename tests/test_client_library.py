"""colloquy_client as a library: every op has a method, it keeps its state from
events, and a server killed mid-conversation costs it nothing and repeats nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from colloquy_client import OP_METHODS, Client
from colloquy_client.state import LocalState
from tests.stack import ROOT, Stack, Users, ops_in_source, until


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=8)


def test_every_op_of_the_server_has_a_client_method() -> None:
    assert sorted(OP_METHODS) == sorted(ops_in_source())
    assert [op for op, name in OP_METHODS.items() if not callable(getattr(Client, name, None))
            ] == []


def test_the_client_package_needs_no_django(tmp_path: Path) -> None:
    # Its own wheel, built from colloquy_client/pyproject.toml, names no server package.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT / "colloquy_client")], check=True)
    [wheel] = tmp_path.glob("colloquy_client-*.whl")
    with zipfile.ZipFile(wheel) as z:
        [meta] = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [line.split(":", 1)[1].strip().split(";")[0] for line in
                    z.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")]
        files = z.namelist()
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0] for r in requires) == [
        "keyring", "msgpack", "textual", "websockets"]
    assert "colloquy_client/cli.py" in files and "colloquy_client/state.py" in files
    # And importing every module of it loads nothing of the server.
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, colloquy_client, colloquy_client.cli, colloquy_client.state; "
         "print(sorted({m.split('.')[0] for m in sys.modules} & "
         "{'django', 'channels', 'daphne', 'redis', 'psycopg', 'realtime', 'rooms'}))"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert loaded.stdout.strip() == "[]"


async def test_login_by_username_and_password_fetches_a_token(stack: Stack) -> None:
    from tests.stack import PASSWORD

    name = stack.new_user()
    client = await Client.login(stack.http(), name, PASSWORD)
    assert client.hello is not None and client.hello["user"]["username"] == name
    assert client.state == "connected"
    await client.close()


async def _talk(client: Client, room: int, who: str, n: int, gap: float) -> list[str]:
    """Send n messages, one every `gap` s, each sent again (same client_id) if the
    socket drops before its ack; the bodies, in order."""
    bodies = []
    for i in range(n):
        body = f"{who} {i}"
        await client.send(room, body, client_id=f"{who}-{i}")
        bodies.append(body)
        await asyncio.sleep(gap)
    return bodies


async def test_a_server_killed_mid_conversation_loses_and_repeats_nothing(
        stack: Stack, users: Users) -> None:
    a_name, b_name = users.take(), users.take()
    a = Client(stack.ws_url(0), token=stack.token(a_name), auto_reconnect=True)
    b = Client(stack.ws_url(1), token=stack.token(b_name), auto_reconnect=True)
    await asyncio.gather(a.connect(), b.connect())
    room = (await a.create_room("Through a restart", [b_name]))["id"]
    assert a.hello is not None
    state = LocalState(a.hello["user"]["id"])
    await state.load(a)
    states: list[str] = []
    a.on_state.append(states.append)

    async def follow() -> None:
        while True:
            state.apply(await a.events.get())

    follower = asyncio.create_task(follow())
    talking = asyncio.gather(_talk(a, room, "a", 20, 0.15), _talk(b, room, "b", 20, 0.15))
    await asyncio.sleep(1.0)
    await asyncio.to_thread(stack.restart_server, 0)  # kill -9, then start it again
    sent_a, sent_b = await talking

    fresh = await stack.client(b_name, server=1)
    stored = [e["data"]["body"] for e in await fresh.history(room, limit=200)
              if e["type"] == "message.created"]
    assert sorted(stored) == sorted(sent_a + sent_b)  # each once, none lost
    shown = await until(lambda: [m.body for m in state.rooms[room].recent] == stored and
                        [m.body for m in state.rooms[room].recent],
                        "a's local state to hold every message in seq order", timeout=30)
    assert shown == stored
    assert a.duplicates == 0 and a.reconnects >= 1
    assert states[:1] == ["reconnecting"] and states[-1] == "resumed"
    assert state.unread(room) == len(sent_b) and state.rooms[room].last_message is not None
    follower.cancel()
    await asyncio.gather(a.close(), b.close(), fresh.close())


async def test_local_state_counts_and_rooms_follow_events(stack: Stack, users: Users) -> None:
    me, other = users.take(), users.take()
    mine = await stack.client(me)
    theirs = await stack.client(other)
    assert mine.hello is not None
    state = LocalState(mine.hello["user"]["id"])
    await state.load(mine)
    room = await theirs.create_room("Added later", [me])
    [added] = await mine.events_of("room.added", 1)
    state.apply(added)
    assert state.find("Added later") is state.rooms[room["id"]]
    sent = [await theirs.send(room["id"], f"hello {i}") for i in range(3)]
    events = await mine.events_of("message.created", 3)
    for event in events:
        state.apply(event)
    assert (state.unread(room["id"]), [m.body for m in state.rooms[room["id"]].recent]) == (
        3, ["hello 0", "hello 1", "hello 2"])
    await theirs.delete_message(room["id"], sent[1]["id"])
    [deleted] = await mine.events_of("message.deleted", 1)
    state.apply(deleted)
    assert state.unread(room["id"]) == 2
    assert [(m.body, m.deleted) for m in state.rooms[room["id"]].recent] == [
        ("hello 0", False), ("", True), ("hello 2", False)]
    await state.load(mine)  # a fresh snapshot says the same
    assert state.unread(room["id"]) == 2
    await asyncio.gather(mine.close(), theirs.close())
