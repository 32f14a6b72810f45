"""A longer soak than the test suite's: python scripts/soak.py [--seconds 120] [--clients 200].

Starts its own services stack (two daphne processes and a persister, on the
Postgres and Redis that scripts/services.sh starts, in a throwaway database
and key prefix), runs tests/reliability/support.run_soak, prints the
measurements as JSON and exits non-zero if anything was lost, repeated, or a
server's RSS grew more than --max-growth after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability.support import FaultStack, run_soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--rate", type=float, default=40.0, help="messages per second, total")
    parser.add_argument("--drops", type=float, default=3.0, help="socket drops per second")
    parser.add_argument("--max-growth", type=float, default=0.20)
    args = parser.parse_args()

    stack = FaultStack().start()
    try:
        result = asyncio.run(run_soak(
            stack, seconds=args.seconds, clients=args.clients, rooms=args.rooms,
            msgs_per_second=args.rate, drops_per_second=args.drops,
            log=lambda line: print(line, file=sys.stderr, flush=True)))
    finally:
        stack.stop()
    rss = result.rss_summary()
    print(json.dumps({
        "seconds": round(result.seconds, 1), "sockets": result.clients, "rooms": result.rooms,
        **result.counts, "drops": result.drops, "reconnects": result.reconnects,
        "ack_p50_ms": result.ack_p50_ms, "ack_p99_ms": result.ack_p99_ms,
        "settle_s": result.settle_s, "persist_s": result.persist_s,
        "rss": rss, "error_lines": result.error_lines,
    }, indent=2))
    if result.failures:
        print("soak FAILED:\n" + "\n".join(result.failures), file=sys.stderr)
        return 1
    grown = {p: r["growth"] for p, r in rss.items()
             if p.startswith("server") and r["growth"] >= args.max_growth}
    if grown:
        print(f"soak FAILED: RSS grew past {args.max_growth:.0%}: {grown}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
