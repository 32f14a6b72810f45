"""A bounded soak: hundreds of sockets chatting, dropping at random and resuming.

COLLOQUY_SOAK_SECONDS (default 60), COLLOQUY_SOAK_CLIENTS (200) and
COLLOQUY_SOAK_ROOMS (20) size it; `python scripts/soak.py` runs the same
scenario for longer outside pytest. At the end: zero lost, zero duplicated,
and each server process's RSS flat after the warm-up (growth under 20%).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.reliability.support import FaultStack, run_soak, services_selected

SECONDS = float(os.environ.get("COLLOQUY_SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("COLLOQUY_SOAK_CLIENTS", "200"))
ROOMS = int(os.environ.get("COLLOQUY_SOAK_ROOMS", "20"))
MAX_RSS_GROWTH = 0.20

pytestmark = [
    pytest.mark.skipif(not services_selected(), reason="needs the services profile"),
    pytest.mark.timeout(int(300 + 1.5 * SECONDS)),
]


@pytest.fixture(scope="module")
def soak_stack() -> Iterator[FaultStack]:
    stack = FaultStack()
    try:
        yield stack.start()  # type: ignore[misc]
    finally:
        stack.stop()


async def test_soak_loses_nothing_repeats_nothing_and_memory_stays_flat(
    soak_stack: FaultStack, report: Callable[[str, Any], None],
) -> None:
    result = await run_soak(soak_stack, seconds=SECONDS, clients=CLIENTS, rooms=ROOMS,
                            msgs_per_second=40.0, drops_per_second=3.0)
    rss = result.rss_summary()
    c = result.counts
    for name, value in [
        ("seconds", round(result.seconds, 1)),
        ("sockets", result.clients), ("rooms", result.rooms),
        ("messages acked", c["acked"]),
        ("messages in Postgres", c["persisted"]),
        ("deliveries checked (message x member)", c["deliveries"]),
        ("drops by kind", result.drops),
        ("reconnects with resume", result.reconnects),
        ("retries answered duplicate=true", c["duplicate_acks"]),
        ("ack latency p50/p99, retries after drops included (ms)",
         [result.ack_p50_ms, result.ack_p99_ms]),
        ("seconds to settle", result.settle_s and round(result.settle_s, 2)),
        ("seconds for the persister to catch up", result.persist_s and round(result.persist_s, 2)),
        ("VmRSS per process", rss),
        ("ERROR log lines by logger", result.error_lines),
        ("lost (acked, not in Postgres)", c["acked_not_persisted"]),
        ("deliveries missing", c["deliveries_missing"]),
        ("members short of a message", c["members_short"]),
        ("events delivered twice", c["repeats"]),
    ]:
        report(name, value)
    assert result.failures == [], "\n".join(result.failures)[:4000]
    # The soak really exercised reconnects: nearly every drop ended in one (the
    # last drops' reconnects may be cut off by the end of the run, and a drop of a
    # member already reconnecting needs no second one). Loss, duplicates and
    # memory above are the exact checks.
    assert result.reconnects >= 0.9 * sum(result.drops.values())
    assert set(rss) >= {"server0", "server1"}, rss
    for proc in ("server0", "server1"):
        assert rss[proc]["growth"] < MAX_RSS_GROWTH, (proc, rss[proc])
