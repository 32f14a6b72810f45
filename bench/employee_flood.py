"""One employee floods with many sockets; another's message acks are timed.

    python -m bench.employee_flood [--sockets 500] [--seconds 10] [--profile embedded]

Starts a real stack (tests/stack.py) with two server processes: one with the
per-employee limits as deployed (MAX_SOCKETS_PER_EMPLOYEE, EMPLOYEE_RATE_*), and
a baseline with them turned off, in the same run. On each, the flooder tries to
open `--sockets` sockets and sends, on every socket it got, pings at just under
the per-socket rate (so no socket is closed as a flood); meanwhile a colleague
sends 10 messages a second into a room of two and times each ack. Reports the
sockets the flooder held, the ops per second it got through, and the
colleague's ack p50/p99 alone and under the flood, as ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from colloquy_client import Client, ColloquyError
from tests.stack import Stack

PER_SOCKET = 18.0  # pings a second on each socket: under RATE_PER_SECOND (20)
OFF = {"COLLOQUY_MAX_SOCKETS_PER_EMPLOYEE": "100000",
       "COLLOQUY_EMPLOYEE_RATE_PER_SECOND": "1000000000",
       "COLLOQUY_EMPLOYEE_RATE_BURST": "1000000000"}


async def open_many(url: str, token: str, n: int) -> list[Client]:
    held: list[Client] = []
    for start in range(0, n, 50):  # waves of 50, as a script would open them
        wave = [Client(url, token=token) for _ in range(start, min(start + 50, n))]
        results = await asyncio.gather(*(c.connect() for c in wave), return_exceptions=True)
        held += [c for c, r in zip(wave, results, strict=True) if not isinstance(r, Exception)]
    return held


async def flood(client: Client, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            await client.request("ping", timeout=30)
            counts["ok"] += 1
        except ColloquyError as exc:
            counts[exc.code] = counts.get(exc.code, 0) + 1
        except Exception:
            counts["lost"] = counts.get("lost", 0) + 1
            return
        await asyncio.sleep(max(0.0, 1 / PER_SOCKET - (time.monotonic() - t0)))


async def acks(sender: Client, room: int, seconds: float, tag: str) -> list[float]:
    out = []
    for i in range(int(seconds * 10)):
        t0 = time.perf_counter()
        await sender.request("message.send", room=room, body=f"{tag} {i}",
                             client_id=f"{tag}-{i}", timeout=30)
        out.append(time.perf_counter() - t0)
        await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t0)))
    return out


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms"


async def measure(stack: Stack, index: int, label: str,
                  args: argparse.Namespace) -> tuple[float, float]:
    url = stack.ws_url(index)
    flooder, colleague, peer = stack.new_user(), stack.new_user(), stack.new_user()
    sender = Client(url, token=stack.token(colleague))
    await sender.connect()
    room = (await sender.request("rooms.create", name="Quiet", members=[peer]))["room"]["id"]
    alone = await acks(sender, room, args.seconds, f"{label}-alone")
    held = await open_many(url, stack.token(flooder), args.sockets)
    counts: dict[str, int] = {"ok": 0}
    until = time.monotonic() + args.seconds
    flooding = asyncio.gather(*(flood(c, until, counts) for c in held))
    during = await acks(sender, room, args.seconds, f"{label}-flood")
    await flooding
    p99 = (statistics.quantiles(alone, n=100)[98], statistics.quantiles(during, n=100)[98])
    print(f"{label}: the flooder holds {len(held)} of {args.sockets} sockets; "
          f"{counts['ok'] / args.seconds:.0f} ops/s got through, answers {counts}")
    print(f"  colleague's ack alone: {ms(alone)}; under the flood: {ms(during)}; "
          f"p99 ratio {p99[1] / p99[0]:.2f}x")
    await asyncio.gather(*(c.close() for c in [*held, sender]))
    return p99


async def run(args: argparse.Namespace) -> None:
    stack = Stack(args.profile)
    stack.env["COLLOQUY_LOG_LEVEL"] = "WARNING"
    stack.start()
    try:
        limited = await measure(stack, 0, "limits as deployed", args)
        stack.start_server(extra_env=OFF)
        baseline = await measure(stack, len(stack.servers) - 1, "baseline (limits off)", args)
        print(f"colleague's ack p99 under the flood: {limited[1] * 1000:.1f} ms with the "
              f"limits, {baseline[1] * 1000:.1f} ms without them "
              f"({baseline[1] / limited[1]:.1f}x); alone {limited[0] * 1000:.1f} ms")
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", default="embedded", choices=["embedded", "services"])
    asyncio.run(run(parser.parse_args()))
    sys.exit(0)


if __name__ == "__main__":
    main()
