"""The persister: every acked message reaches the database exactly once, crash or not,
and stays readable (window or database) while it is on its way."""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Any

import pytest

from tests.stack import (
    Recorder,
    Stack,
    Users,
    journal_lag,
    open_client,
    send,
    until,
    window_floor,
)

SENDERS = 10  # sockets of one author, half on each server: 50 messages each fit the burst
PER_SENDER = 50
KILL_AFTER = 150  # acks before the persister is killed


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=6)  # what this module's tests take, per profile


@pytest.fixture(scope="module")
async def crash(stack: Stack, users: Users) -> dict[str, Any]:
    """500 messages into one room; the persister is killed with kill -9 after the
    150th ack and started again once all 500 are acked (services profile only: the
    tests that use it ask for the `services` fixture first)."""
    if stack.profile != "services":
        pytest.skip("needs a separate persister process (services profile)")
    owner, member = users.take(), users.take()
    first = await open_client(stack, owner)
    room = (await first.request("rooms.create", name="Crash", members=[member]))["room"]
    senders = [first] + [await open_client(stack, owner, server=i % 2) for i in range(1, SENDERS)]
    acks: dict[str, dict[str, Any]] = {}
    killed = asyncio.Event()

    async def run(sender: Recorder, n: int) -> None:
        for i in range(PER_SENDER):
            client_id = f"s{n}-{i}"
            acks[client_id] = await send(sender, room["id"], f"body {client_id}", client_id)
            if len(acks) >= KILL_AFTER and not killed.is_set():
                killed.set()
                stack.kill_persister()  # mid-stream: the other senders keep going

    try:
        await asyncio.gather(*(run(s, n) for n, s in enumerate(senders)))
    finally:
        if stack.persister is None:
            stack.start_persister()
    await asyncio.gather(*(s.close() for s in senders))
    assert killed.is_set()
    return {"room": room["id"], "acks": acks, "member": member}


async def test_every_acked_message_is_stored_once_after_a_persister_kill(
        services: Stack, crash: dict[str, Any]) -> None:
    stack = services
    room, acks = crash["room"], crash["acks"]
    assert len(acks) == SENDERS * PER_SENDER
    await asyncio.to_thread(
        stack.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", room,
        expect=[(len(acks),)], timeout=30,
    )
    assert stack.sql(
        "SELECT count(*), count(DISTINCT client_id), count(DISTINCT seq), count(DISTINCT id)"
        " FROM rooms_message WHERE room_id = ?", room) == [(500, 500, 500, 500)]
    rows = stack.sql("SELECT client_id, id, seq, body FROM rooms_message WHERE room_id = ?", room)
    assert {r[0]: (r[1], r[2], r[3]) for r in rows} == {
        cid: (a["id"], a["seq"], f"body {cid}") for cid, a in acks.items()}


async def test_every_seq_has_exactly_one_stream_event_after_a_persister_kill(
        services: Stack, crash: dict[str, Any]) -> None:
    stack = services
    stream = f"room:{crash['room']}"
    await asyncio.to_thread(
        stack.wait_sql, "SELECT count(*) FROM realtime_streamevent WHERE stream = ?", stream,
        expect=[(501,)], timeout=30,
    )
    rows = stack.sql("SELECT seq, type FROM realtime_streamevent WHERE stream = ? ORDER BY seq",
                     stream)
    assert rows == [(1, "room.created")] + [(s, "message.created") for s in range(2, 502)]


async def test_history_reads_the_whole_stream_after_a_persister_kill(
        services: Stack, crash: dict[str, Any]) -> None:
    stack = services
    await until(lambda: journal_lag(stack) == 0, "the persister to catch up", timeout=30)
    reader = await open_client(stack, crash["member"], server=1)
    stream, seqs = f"room:{crash['room']}", []
    while True:
        page = await reader.request("history", stream=stream, after=seqs[-1] if seqs else 0,
                                    limit=200)
        if not page["events"]:
            break
        seqs += [e["seq"] for e in page["events"]]
    assert seqs == list(range(1, 502))
    await reader.close()


async def test_duplicate_client_id_after_persistence_returns_the_original(
        stack: Stack, users: Users) -> None:
    owner, other = users.take(), users.take()
    sender = await open_client(stack, owner)
    room = (await sender.request("rooms.create", name="Again", members=[other]))["room"]
    rid = room["id"]
    original = await send(sender, rid, "first try", "dup-1")
    for i in range(25):  # push the original out of the journal's window
        await send(sender, rid, f"filler {i}", f"f-{i}")
    await asyncio.to_thread(
        stack.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", rid,
        expect=[(26,)], timeout=30,
    )
    await until(lambda: journal_lag(stack) == 0, "the persister to acknowledge everything")

    retry_socket = await open_client(stack, owner, server=1)
    retry = await send(retry_socket, rid, "first try", "dup-1")
    assert retry == {"op": "ok", "ref": retry["ref"], "id": original["id"],
                     "seq": original["seq"], "ts": original["ts"], "duplicate": True}
    marker = await send(retry_socket, rid, "after", "after-1")
    assert marker["seq"] == original["seq"] + 26  # the retry took no seq
    await asyncio.to_thread(
        stack.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", rid,
        expect=[(27,)], timeout=30,
    )
    assert stack.sql("SELECT id, seq, body FROM rooms_message WHERE client_id = ? AND room_id = ?",
                     "dup-1", rid) == [(original["id"], original["seq"], "first try")]
    await asyncio.gather(sender.close(), retry_socket.close())


async def test_acked_message_stays_readable_while_a_stalled_persister_holds_it(
        services: Stack, users: Users) -> None:
    """A persister that read an entry and stalled (SIGSTOP) keeps it pending until a
    live one claims it after PERSIST_CLAIM_IDLE_MS (2 s here); meanwhile the live one
    persists newer entries of the same stream and trims the window below them. The
    stalled entry must stay readable from the window or the database all along."""
    import redis

    stack = services
    owner, member = users.take(), users.take()
    senders = [await open_client(stack, owner), await open_client(stack, owner, server=1)]
    room = (await senders[0].request("rooms.create", name="Stall", members=[member]))["room"]
    rid, stream = room["id"], f"room:{room['id']}"
    await until(lambda: journal_lag(stack) == 0, "the persister to catch up")

    stalled = stack.persister
    assert stalled is not None
    stalled_name = f"{socket.gethostname()}-{stalled.pid}"
    live = stack.start_persister()  # both read the consumer group now
    log = stack.tmp / "persister.log"
    await until(lambda: f"persister {socket.gethostname()}-{live.pid} reading" in
                log.read_text(errors="replace"), "the second persister to start", timeout=30)
    await asyncio.sleep(0.3)  # both are now blocked in XREADGROUP most of the time
    client = redis.Redis.from_url(stack.redis_url)
    journal = f"{stack.env['COLLOQUY_REDIS_PREFIX']}:journal"
    held = None
    try:
        # Stop the first persister while it waits in XREADGROUP: Redis still hands it
        # the next entry, which then sits in its pending list.
        for attempt in range(8):
            stalled.send_signal(signal.SIGSTOP)
            ack = await send(senders[0], rid, f"held {attempt}", f"held-{attempt}")
            await asyncio.sleep(0.1)
            pending = client.xpending_range(journal, "persisters", min="-", max="+", count=10)
            if any(p["consumer"].decode() == stalled_name for p in pending):
                held = ack
                break
            stalled.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.3)
        if held is None:
            pytest.skip("could not stop the first persister inside XREADGROUP")
        started = asyncio.get_running_loop().time()
        for i in range(60):  # newer entries, persisted by the live persister
            await send(senders[i % 2], rid, f"newer {i}", f"newer-{i}")
        # The live persister commits all 60 newer entries while seq held stays pending.
        await until(lambda: journal_lag(stack) == 1, "the newer entries to be persisted")
        assert (window_floor(stack, stream) or 0) <= held["seq"]  # not trimmed past it
        reader = await open_client(stack, member, server=1)
        page = await reader.request("history", stream=stream, after=held["seq"] - 1, limit=200)
        elapsed = asyncio.get_running_loop().time() - started
        seqs = [e["seq"] for e in page["events"]]
        assert seqs == list(range(held["seq"], held["seq"] + 61)), (
            f"{elapsed:.1f}s after seq {held['seq']} was acked and handed to a stalled "
            f"persister, history starts at {seqs[:1]}")
        # Once the live persister claims and commits it, the deferred trim happens.
        await until(lambda: (window_floor(stack, stream) or 0) > held["seq"],
                    f"the window to be trimmed past seq {held['seq']} after the claim",
                    timeout=15)
        await reader.close()
    finally:
        stalled.send_signal(signal.SIGKILL)
        stalled.wait(10)
        client.close()
        await asyncio.gather(*(s.close() for s in senders))


async def test_a_refused_entry_is_skipped_and_a_redelivered_batch_stores_nothing_twice(
        services: Stack, users: Users) -> None:
    """Entries put straight into the persister's feed (the socket layer would refuse
    the bad one): in one batch, an entry whose client_id the database cannot store is
    kept as a dead letter on its own (its event stays in history, the table that
    refused it has no row) while its neighbours are stored; the same entries delivered
    again, with a new one, store only the new one."""
    import json

    import redis

    from realtime.journal import frame_parts

    stack = services
    owner, member = users.take(), users.take()
    sender = await open_client(stack, owner)
    rid = (await sender.request("rooms.create", name="Refused", members=[member]))["room"]["id"]
    stream = f"room:{rid}"
    tpl = await send(sender, rid, "template", "tpl")
    [(frame,)] = await until(lambda: stack.sql(
        "SELECT frame FROM realtime_streamevent WHERE stream = ? AND seq = 2", stream),
        "the template message to be persisted", timeout=30)
    template = json.loads(frame)["data"]

    def entry(seq: int, client_id: str) -> dict[str, str | int]:
        data = {**template, "id": f"inject{seq}", "body": f"body {seq}", "client_id": client_id}
        head, tail = frame_parts(stream, "message.created", data)
        return {"s": stream, "q": seq, "f": f"{head}{seq}{tail}"}

    good, bad = [entry(s, f"c-{s}") for s in (1001, 1003)], entry(1002, "x" * 65)
    client = redis.Redis.from_url(stack.redis_url)
    journal = f"{stack.env['COLLOQUY_REDIS_PREFIX']}:journal"

    def feed(entries: list[dict[str, str | int]]) -> None:
        pipe = client.pipeline(transaction=True)  # one batch for the persister
        for fields in entries:
            pipe.xadd(journal, fields)
        pipe.execute()

    messages = "SELECT id, seq, body, client_id FROM rooms_message WHERE room_id = ? ORDER BY seq"
    events = "SELECT seq, type FROM realtime_streamevent WHERE stream = ? ORDER BY seq"
    try:
        feed([good[0], bad, good[1]])
        await until(lambda: journal_lag(stack) == 0, "the persister to get past the bad entry")
        assert stack.sql(messages, rid) == [
            (tpl["id"], 2, "template", "tpl"),
            ("inject1001", 1001, "body 1001", "c-1001"),
            ("inject1003", 1003, "body 1003", "c-1003")]
        assert stack.sql(events, stream) == [
            (1, "room.created"), (2, "message.created"), (1001, "message.created"),
            (1002, "message.created"), (1003, "message.created")]
        assert stack.sql("SELECT seq, \"table\" FROM realtime_deadletter WHERE stream = ?",
                         stream) == [(1002, "rooms.Message")]
        assert (f"journal entry {stream}#1002 cannot be written to rooms.Message"
                in stack.log_text())

        feed([good[0], good[1], entry(1004, "c-1004")])  # redelivered, and one new
        await asyncio.to_thread(
            stack.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", rid,
            expect=[(4,)], timeout=30)
        await until(lambda: journal_lag(stack) == 0, "the persister to acknowledge them")
        assert [r[:2] for r in stack.sql(messages, rid)][1:] == [
            ("inject1001", 1001), ("inject1003", 1003), ("inject1004", 1004)]
        assert [s for s, _ in stack.sql(events, stream)] == [1, 2, 1001, 1002, 1003, 1004]
    finally:
        client.close()
        await sender.close()

