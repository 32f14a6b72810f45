"""Postgres unreachable for COLLOQUY_PG_OUTAGE_SECONDS (default 30) under traffic.

The server and persister processes reach Postgres through a TCP proxy of the
test's own (support.PgProxy); the outage is the proxy closing every connection
and refusing new ones, and it ends with the proxy listening again. The journal
in Redis is the buffer: sends keep being acked, /readyz reports the lag, the
persister retries its batch with capped backoff, and once Postgres is back
everything lands exactly once.

The stack's Redis is a private redis-server with appendonly + appendfsync
always, so the last test can add a second fault: Redis vanishing while the
persister is between committing a batch and acknowledging it.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from colloquy_client import Client
from tests.reliability.support import (
    Chat,
    FaultStack,
    PgProxy,
    PrivateRedis,
    get_json,
    journal_lag,
    services_selected,
    wait_for,
)

OUTAGE_SECONDS = float(os.environ.get("COLLOQUY_PG_OUTAGE_SECONDS", "30"))
RETRY_CAP_SECONDS = 5.0  # realtime.persister.write_with_retry

pytestmark = [
    pytest.mark.skipif(not services_selected(), reason="needs the services profile"),
    pytest.mark.timeout(240 + 2 * OUTAGE_SECONDS),
]


@pytest.fixture(scope="module")
def proxied() -> Iterator[FaultStack]:
    stack = FaultStack(pg_proxy=PgProxy().start(), redis=PrivateRedis(aof=True).start())
    try:
        yield stack.start()  # type: ignore[misc]
    finally:
        stack.stop()


@dataclass
class Outage:
    chat: Chat
    cut_at: float = 0.0
    restored_at: float = 0.0
    cut_wall: float = 0.0
    restored_wall: float = 0.0
    connections_cut: int = 0
    ready_before: list[tuple[int, Any]] = field(default_factory=list)
    samples: list[tuple[float, int, int, Any]] = field(default_factory=list)  # t, server, status
    caught_up_in: float | None = None  # seconds from restore until the journal was empty
    ready_again_in: float | None = None

    def acked_during(self) -> list[Any]:
        return [a for a in self.chat.acks.values() if self.cut_at < a.acked_at < self.restored_at]

    def latencies_during(self) -> list[float]:
        chat = self.chat
        return [a.acked_at - chat.sent_at[a.client_id] for a in self.acked_during()]


@pytest.fixture(scope="module")
async def outage(proxied: FaultStack) -> Outage:
    stack = proxied
    proxy = stack.pg_proxy
    assert proxy is not None
    chat = await Chat(stack, rooms=3, members_per_room=4, servers=[0, 1], name="pg").open()
    out = Outage(chat)
    out.ready_before = [await asyncio.to_thread(get_json, stack.http(i) + "/readyz")
                        for i in (0, 1)]

    async def fault() -> None:
        await asyncio.sleep(3.0)
        out.cut_at, out.cut_wall = time.monotonic(), time.time()
        out.connections_cut = await asyncio.to_thread(proxy.cut)
        while time.monotonic() < out.cut_at + OUTAGE_SECONDS:
            for server in (0, 1):
                status, body = await asyncio.to_thread(get_json, stack.http(server) + "/readyz")
                out.samples.append((time.monotonic() - out.cut_at, server, status, body))
            await asyncio.sleep(1.0)
        await asyncio.to_thread(proxy.restore)
        out.restored_at, out.restored_wall = time.monotonic(), time.time()

    await chat.run(seconds=3.0 + OUTAGE_SECONDS + 4.0, interval=0.5, during=fault)
    await wait_for(lambda: journal_lag(stack) == 0, "the persister to drain the journal",
                   timeout=90, every=0.2)
    out.caught_up_in = time.monotonic() - out.restored_at

    def ready() -> bool:
        return all(get_json(stack.http(i) + "/readyz")[0] == 200 for i in (0, 1))

    await wait_for(ready, "/readyz to be 200 again", timeout=30, every=0.2)
    out.ready_again_in = time.monotonic() - out.restored_at
    return out


async def test_outage_report(outage: Outage, report: Callable[[str, Any], None]) -> None:
    lat = sorted(outage.latencies_during())
    lags = [b["persister_lag"]["entries"] for _, _, s, b in outage.samples if b]
    report("outage seconds", OUTAGE_SECONDS)
    report("proxied Postgres connections cut", outage.connections_cut)
    report("messages acked during the outage", len(outage.acked_during()))
    report("ack latency during the outage p50/p99/max (ms)",
           [round(1000 * statistics.median(lat), 1),
            round(1000 * lat[int(0.99 * (len(lat) - 1))], 1), round(1000 * lat[-1], 1)])
    report("/readyz persister_lag.entries, first and last sample", [lags[0], lags[-1]])
    report("/readyz oldest_seconds at the last sample",
           outage.samples[-1][3]["persister_lag"]["oldest_seconds"])
    report("seconds from restore until the journal was empty", round(outage.caught_up_in, 3))
    report("seconds from restore until /readyz was 200 on both servers",
           round(outage.ready_again_in, 3))
    assert outage.ready_before == [(200, outage.ready_before[0][1])] * 2 or all(
        s == 200 for s, _ in outage.ready_before)


async def test_sends_are_acked_all_through_the_outage(outage: Outage) -> None:
    chat = outage.chat
    during = outage.acked_during()
    # Every member keeps talking at ~2 messages/s; nearly all of them get through.
    assert len(during) >= len(chat.members) * OUTAGE_SECONDS
    errors = {m.username: m.errors for m in chat.members.values() if m.errors}
    assert errors == {}
    assert max(outage.latencies_during()) < 2.0
    assert all(m.reconnects == 0 for m in chat.members.values())


async def test_readyz_reports_the_database_down_and_the_lag_growing(outage: Outage) -> None:
    assert all(s == 200 for s, _ in outage.ready_before), outage.ready_before
    settled = [(t, srv, s, b) for t, srv, s, b in outage.samples if t > 1.0]
    assert settled
    for _, _, status, body in settled:
        assert status == 503, body
        assert body["status"] == "not ready"
        assert body["database"].startswith("error"), body
        assert body["redis"] == "ok", body
    lags = [b["persister_lag"]["entries"] for _, _, _, b in settled]
    assert all(n > 0 for n in lags), lags
    assert lags[-1] > lags[0]
    last = settled[-1][3]["persister_lag"]["oldest_seconds"]
    assert OUTAGE_SECONDS - 5 < last < OUTAGE_SECONDS + 10


async def test_persister_retries_with_capped_backoff(outage: Outage,
                                                     proxied: FaultStack,
                                                     report: Callable[[str, Any], None]) -> None:
    pattern = re.compile(r"persist of (\d+) entries failed \((\w+)\); retrying in ([\d.]+)s")
    log = proxied.persister_log()
    tries = [(int(n), kind, float(delay)) for n, kind, delay in pattern.findall(log)]
    delays = [d for _, _, d in tries]
    report("persister retries during the outage", len(tries))
    report("persister retry delays (s)", delays)
    assert tries, "the persister never logged a failed attempt"
    assert {kind for _, kind, _ in tries} <= {"OperationalError", "InterfaceError"}, tries
    # One batch retried, not re-read: the same entry count every time.
    assert len({n for n, _, _ in tries}) == 1
    assert delays == sorted(delays)
    assert delays[:5] == [0.2, 0.4, 0.8, 1.6, 3.2]
    assert max(delays) == RETRY_CAP_SECONDS
    # 6.2 s of doubling, then one try per 5 s: no hammering, no giving up.
    expected = 5 + (OUTAGE_SECONDS - 6.2) / RETRY_CAP_SECONDS
    assert expected - 2 <= len(tries) <= expected + 3, (len(tries), expected)


async def test_everything_lands_exactly_once_after_the_outage(
    outage: Outage, report: Callable[[str, Any], None],
) -> None:
    chat = outage.chat
    await chat.settle(timeout=30)
    await chat.wait_persisted()
    counts = chat.verify()
    report("acked", counts["acked"])
    report("persisted exactly once", counts["persisted"])
    report("deliveries checked", counts["deliveries"])


async def test_new_sockets_authenticate_at_once_after_the_outage(
    outage: Outage, proxied: FaultStack,
) -> None:
    """Connections the servers held when Postgres went away must not fail a later login."""
    stack = proxied
    names = list(outage.chat.members)
    refused = []
    for i, name in enumerate(names * 2):
        client = Client(stack.ws_url(i % 2), token=stack.token(name))
        try:
            await client.connect()
            await client.request("ping")
        except Exception as exc:
            refused.append((name, i % 2, repr(exc)[:120]))
        finally:
            await client.close()
    assert refused == []


# --- a second fault on top: Redis vanishes between commit and acknowledgement -----


async def test_persister_survives_redis_vanishing_between_commit_and_ack(
    proxied: FaultStack, report: Callable[[str, Any], None],
) -> None:
    stack = proxied
    redis, proxy = stack.private_redis, stack.pg_proxy
    assert redis is not None and proxy is not None
    chat = await Chat(stack, rooms=1, members_per_room=3, servers=[0, 1], name="both").open()
    members = list(chat.members.values())
    for _ in range(5):
        for m in members:
            await chat.say(m)
    await chat.wait_persisted()
    failed_before = stack.persister_log().count("persist of")
    await asyncio.to_thread(proxy.cut)
    for _ in range(5):
        for m in members:
            await chat.say(m)
    await wait_for(lambda: stack.persister_log().count("persist of") > failed_before,
                   "the persister to fail a write", timeout=20)
    await asyncio.to_thread(redis.kill)
    await asyncio.to_thread(proxy.restore)
    # The persister's next retry (at most 5 s away) commits, then finds Redis gone.
    await asyncio.sleep(8.0)
    alive_while_redis_down = stack.persister is not None and stack.persister.poll() is None
    await asyncio.to_thread(redis.start)
    t0 = time.monotonic()
    alive = stack.persister is not None and stack.persister.poll() is None
    report("persister alive while Redis was down", alive_while_redis_down)
    report("persister exit code", None if alive or stack.persister is None
           else stack.persister.returncode)
    assert alive, "the persister exited:\n" + stack.persister_log()[-2500:]
    await chat.wait_persisted(timeout=30)
    report("seconds from Redis back to everything persisted", round(time.monotonic() - t0, 3))
    await chat.settle(timeout=20)
    chat.verify()
    await chat.close()
