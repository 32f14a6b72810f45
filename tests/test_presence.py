"""Presence and typing: true across tabs, processes and crashes; only for those who may see."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator

import pytest

from colloquy_client import Client, ColloquyError
from tests.stack import OFFLINE_DELAY, PRESENCE_TTL, Stack


async def room_with(stack: Stack, owner: str, members: list[str]) -> int:
    client = await stack.client(owner)
    room = (await client.request("rooms.create", name="Presence", members=members))["room"]
    await client.close()
    return room["id"]


async def watcher(stack: Stack, username: str, server: int = 0) -> Client:
    client = await stack.client(username, server=server)
    await client.request("ping")  # releases held events
    return client


async def presence_events(client: Client, within: float) -> list[dict]:
    """Every presence event arriving in the next `within` seconds."""
    seen: list[dict] = []
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await client.next_event(timeout=left)
        except TimeoutError:
            break
        if event["type"] == "presence":
            seen.append(event)
    return seen


def status_of(events: list[dict]) -> list[tuple[int, str]]:
    return [(e["data"]["user"], e["data"]["status"]) for e in events]


async def test_second_tab_closing_keeps_user_online_then_one_offline_event(stack: Stack) -> None:
    user, peer = stack.new_user(), stack.new_user()
    await room_with(stack, peer, [user])
    b = await watcher(stack, peer)
    tab1 = await stack.client(user, server=0)
    tab2 = await stack.client(user, server=1)
    uid = tab1.hello["user"]["id"]
    assert status_of(await presence_events(b, 1.0)) == [(uid, "online")]
    await tab1.close()
    assert await presence_events(b, OFFLINE_DELAY + 1.0) == []
    closed_at = time.monotonic()
    await tab2.close()
    [event] = await presence_events(b, OFFLINE_DELAY + 2.5)
    assert time.monotonic() - closed_at >= OFFLINE_DELAY
    assert event["stream"] == "presence"
    assert event["data"]["user"] == uid and event["data"]["status"] == "offline"
    assert isinstance(event["data"]["last_seen"], int)
    assert set(event) == {"op", "stream", "type", "data"}  # ephemeral: no seq
    await b.close()


async def test_reconnect_within_delay_makes_no_offline_online_pair(stack: Stack) -> None:
    user, peer = stack.new_user(), stack.new_user()
    await room_with(stack, peer, [user])
    b = await watcher(stack, peer)
    tab = await stack.client(user)
    assert len(await presence_events(b, 1.0)) == 1  # online
    await tab.close()
    tab = await stack.client(user, server=1)  # the reload, possibly on another process
    assert await presence_events(b, OFFLINE_DELAY + 1.5) == []
    await asyncio.gather(tab.close(), b.close())


async def on_a_server_of_its_own(stack: Stack, users: list[str]
                                  ) -> tuple[Client, list[Client], int]:
    """A peer watching from server 0, and `users` (sharing a room with the peer)
    connected to a new server process: (peer, their clients, that server's index),
    once the peer has heard them come online."""
    peer = stack.new_user()
    await room_with(stack, peer, users)
    b = await watcher(stack, peer, server=0)
    stack.start_server()
    index = len(stack.servers) - 1
    clients = [await stack.client(user, server=index) for user in users]
    ids = [c.hello["user"]["id"] for c in clients]
    assert sorted(status_of(await presence_events(b, 1.0))) == [(i, "online") for i in sorted(ids)]
    return b, clients, index


async def test_killed_process_user_goes_offline_within_ttl(services: Stack) -> None:
    b, [victim], doomed = await on_a_server_of_its_own(services, [services.new_user()])
    uid = victim.hello["user"]["id"]
    services.kill_server(doomed)  # kill -9: its sockets never say goodbye
    killed_at = time.monotonic()
    [event] = await b.events_of("presence", 1, timeout=PRESENCE_TTL + 3.0)
    # The documented bound: TTL plus one refresh period (1 s in tests), plus slack.
    assert time.monotonic() - killed_at <= PRESENCE_TTL + 2.0
    assert (event["data"]["user"], event["data"]["status"]) == (uid, "offline")
    assert await presence_events(b, 1.5) == []
    await b.close()


async def test_killed_process_takes_only_its_connections_offline(services: Stack) -> None:
    solo, both = services.new_user(), services.new_user()
    b, [s, _], doomed = await on_a_server_of_its_own(services, [solo, both])
    t2 = await services.client(both, server=1)  # a second tab, on a process that survives
    services.kill_server(doomed)
    [event] = await b.events_of("presence", 1, timeout=PRESENCE_TTL + 3.0)
    assert (event["data"]["user"], event["data"]["status"]) == (s.hello["user"]["id"], "offline")
    assert await presence_events(b, 1.5) == []  # `both` stays online
    await asyncio.gather(t2.close(), b.close())


async def test_process_stalled_past_ttl_goes_offline_then_comes_back(services: Stack) -> None:
    b, [a], stalled = await on_a_server_of_its_own(services, [services.new_user()])
    uid = a.hello["user"]["id"]
    proc = services.servers[stalled][0]
    proc.send_signal(signal.SIGSTOP)  # a frozen VM or a long pause: no refresh, sockets open
    try:
        [gone] = await b.events_of("presence", 1, timeout=PRESENCE_TTL + 3.0)
    finally:
        proc.send_signal(signal.SIGCONT)
    assert (gone["data"]["user"], gone["data"]["status"]) == (uid, "offline")
    # Its next refresh finds it was given up for dead and registers its sockets again.
    assert status_of(await presence_events(b, 3.0)) == [(uid, "online")]
    await asyncio.gather(a.close(), b.close())
    proc.terminate()
    proc.wait(10)


@contextlib.contextmanager
def server_with(stack: Stack, env: dict[str, str]) -> Iterator[int]:
    """A server process with these settings; yields its index.

    Services: one more process beside the others. Embedded: only one process may
    own the SQLite files, so server 0 is restarted with them, then without.
    """
    if stack.profile == "services":
        stack.start_server(env)
        proc = stack.servers[-1][0]
        try:
            yield len(stack.servers) - 1
        finally:
            proc.terminate()
            proc.wait(10)
        return
    proc, port = stack.servers[0]
    proc.terminate()
    proc.wait(10)
    stack.servers[0] = (stack._launch(port, env), port)
    try:
        yield 0
    finally:
        stack.servers[0][0].terminate()
        stack.servers[0][0].wait(10)
        stack.servers[0] = (stack._launch(port), port)


async def test_rooms_above_max_members_get_no_presence_but_subscribers_do(stack: Stack) -> None:
    user, big_peer, small_peer, follower = (stack.new_user() for _ in range(4))
    owner = await stack.client(big_peer)
    room = (await owner.request("rooms.create", name="Big", members=[  # 4: above the limit
        user, stack.new_user(), stack.new_user()]))["room"]
    [uid] = [m["id"] for m in room["members"] if m["username"] == user]
    await owner.close()
    await room_with(stack, small_peer, [user, stack.new_user()])  # 3: at the limit
    with server_with(stack, {"COLLOQUY_PRESENCE_MAX_ROOM_MEMBERS": "3"}) as limited:
        b = await watcher(stack, big_peer)
        s = await watcher(stack, small_peer)
        f = await watcher(stack, follower)
        await f.request("presence.subscribe", users=[uid])
        a = await stack.client(user, server=limited)
        [to_small] = await presence_events(s, 1.5)
        assert to_small == {"op": "event", "stream": "presence", "type": "presence",
                            "data": {"user": uid, "status": "online",
                                     "last_seen": to_small["data"]["last_seen"]}}
        assert await presence_events(f, 0.5) == [to_small]
        assert await presence_events(b, 0.5) == []
        await asyncio.gather(a.close(), b.close(), s.close(), f.close())


async def test_non_member_gets_no_presence_or_typing(stack: Stack) -> None:
    user, member, outsider = stack.new_user(), stack.new_user(), stack.new_user()
    room = await room_with(stack, member, [user])
    b = await watcher(stack, member)
    c = await watcher(stack, outsider, server=1)
    a = await stack.client(user)
    await a.request("typing", room=room)
    kinds_b = [e["type"] for e in await collect(b, 1.5)]
    assert kinds_b.count("presence") == 1 and kinds_b.count("typing") == 1
    assert [e for e in await collect(c, 0.5) if e["type"] in ("presence", "typing")] == []
    await asyncio.gather(a.close(), b.close(), c.close())


async def collect(client: Client, within: float) -> list[dict]:
    seen: list[dict] = []
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(await client.next_event(timeout=left))
        except TimeoutError:
            break
    return seen


async def test_typing_relayed_once_per_window_with_expiry(stack: Stack) -> None:
    user, peer = stack.new_user(), stack.new_user()
    room = await room_with(stack, user, [peer])
    b = await watcher(stack, peer)
    a = await stack.client(user, server=1)
    replies = [await a.request("typing", room=room) for _ in range(3)]
    assert [r["relayed"] for r in replies] == [True, False, False]
    typing = [e for e in await collect(b, 1.0) if e["type"] == "typing"]
    assert typing == [{
        "op": "event", "stream": f"room:{room}", "type": "typing",
        "data": {"room": room, "thread": None, "user": a.hello["user"], "active": True,
                 "expires_in_ms": 6000},
    }]
    own = [e for e in await collect(a, 0.3) if e["type"] == "typing"]
    assert own == []  # never echoed to the typist
    await asyncio.gather(a.close(), b.close())


async def test_sending_a_message_clears_typing_window(stack: Stack) -> None:
    user, peer = stack.new_user(), stack.new_user()
    room = await room_with(stack, user, [peer])
    b = await watcher(stack, peer)
    a = await stack.client(user)
    assert (await a.request("typing", room=room))["relayed"] is True
    await a.request("message.send", room=room, body="done typing", client_id="t1")
    assert (await a.request("typing", room=room))["relayed"] is True
    kinds = [e["type"] for e in await collect(b, 1.0) if e["type"] != "presence"]
    assert kinds == ["typing", "message.created", "typing"]
    await asyncio.gather(a.close(), b.close())


async def test_typing_stop_is_relayed(stack: Stack) -> None:
    user, peer = stack.new_user(), stack.new_user()
    room = await room_with(stack, user, [peer])
    b = await watcher(stack, peer)
    a = await stack.client(user)
    await a.request("typing", room=room)
    await a.request("typing", room=room, active=False)
    typing = [e["data"]["active"] for e in await collect(b, 1.0) if e["type"] == "typing"]
    assert typing == [True, False]
    await asyncio.gather(a.close(), b.close())


async def test_presence_set_away_and_back(stack: Stack) -> None:
    user, peer = stack.new_user(), stack.new_user()
    await room_with(stack, peer, [user])
    b = await watcher(stack, peer)
    a = await stack.client(user, server=1)
    uid = a.hello["user"]["id"]
    assert (await a.request("presence.set", status="away")) == {
        "op": "ok", "ref": 1, "status": "away"}
    await a.request("presence.set", status="online")
    assert status_of(await presence_events(b, 1.5)) == [
        (uid, "online"), (uid, "away"), (uid, "online")]
    await asyncio.gather(a.close(), b.close())


async def test_presence_query_reports_status_and_last_seen(stack: Stack) -> None:
    user, gone, asker = stack.new_user(), stack.new_user(), stack.new_user()
    a = await stack.client(user)
    g = await stack.client(gone)
    gid = g.hello["user"]["id"]
    await g.close()
    q = await stack.client(asker)
    deadline = time.monotonic() + OFFLINE_DELAY + 3
    while time.monotonic() < deadline:
        reply = await q.request("presence.query", users=[a.hello["user"]["id"], gid])
        if reply["users"][1]["status"] == "offline":
            break
        await asyncio.sleep(0.2)
    online, offline = reply["users"]
    assert (online["user"], online["status"]) == (a.hello["user"]["id"], "online")
    assert (offline["user"], offline["status"]) == (gid, "offline")
    assert offline["last_seen"] > 0
    await asyncio.gather(a.close(), q.close())


async def test_presence_subscribe_follows_users_outside_shared_rooms(stack: Stack) -> None:
    user, follower = stack.new_user(), stack.new_user()
    probe = await stack.client(user)
    uid = probe.hello["user"]["id"]
    f = await watcher(stack, follower, server=1)
    reply = await f.request("presence.subscribe", users=[uid])
    assert reply["users"] == [{"user": uid, "status": "online",
                               "last_seen": reply["users"][0]["last_seen"]}]
    await probe.request("presence.set", status="away")
    assert status_of(await presence_events(f, 1.5)) == [(uid, "away")]
    await asyncio.gather(probe.close(), f.close())


async def test_guest_cannot_query_people_outside_their_rooms(stack: Stack) -> None:
    guest, stranger = stack.new_user("guest"), stack.new_user()
    s = await stack.client(stranger)
    g = await stack.client(guest)
    with pytest.raises(ColloquyError) as err:
        await g.request("presence.query", users=[s.hello["user"]["id"]])
    assert err.value.code == "forbidden"
    await asyncio.gather(s.close(), g.close())


async def test_typing_in_a_room_you_are_not_in_is_forbidden(stack: Stack) -> None:
    owner, other, outsider = stack.new_user(), stack.new_user(), stack.new_user()
    room = await room_with(stack, owner, [other])
    c = await stack.client(outsider)
    with pytest.raises(ColloquyError) as err:
        await c.request("typing", room=room)
    assert (err.value.code, err.value.frame["ref"]) == ("forbidden", 1)
    await c.close()


async def test_a_guest_who_leaves_a_room_stops_following_its_people(stack: Stack) -> None:
    guest, left_behind, still_shared = (stack.new_user("guest"), stack.new_user(),
                                        stack.new_user())
    parted = await room_with(stack, left_behind, [guest])
    await room_with(stack, still_shared, [guest])
    b, c = await watcher(stack, left_behind), await watcher(stack, still_shared)
    bid, cid = b.hello["user"]["id"], c.hello["user"]["id"]
    g = await watcher(stack, guest, server=1)
    await g.request("presence.subscribe", users=[bid, cid])
    await g.request("rooms.leave", room=parted)
    await presence_events(g, 0.5)  # what was on its way before the leave
    await b.request("presence.set", status="away")
    await c.request("presence.set", status="away")
    assert status_of(await presence_events(g, 1.5)) == [(cid, "away")]
    await asyncio.gather(b.close(), c.close(), g.close())
