"""Unread counts: rooms.list for a member of many rooms, and reads in a big room.

    python -m bench.counts_latency [--rooms 500] [--messages 20] [--big 200]
                                   [--calls 60] [--out bench/results/counts_latency.md]

Services profile, in-process, in a throwaway Postgres database and Redis
prefix (dropped at the end), through the server's own code: messages are sent
with rooms.actions.send_message (so the journal's tallies hold them, as they
do in production) and the reads are rooms.actions.mark_read.

1. rooms.list: one employee in --rooms rooms of two members, each with
   --messages messages by the other member (a random part of them read).
   Measured: rooms.selectors.list_rooms (counts, heads, last messages) and
   room_counts (the `counts` op), --calls each after 5 warm-ups. The baseline,
   run in the same command on the same data, is the previous rooms.list: one
   journal read of the newest 100 events per room, counted in Python (what
   rooms.list did before the tallies, capped at 100).
2. Reads in a room of --big members (RECEIPTS_MAX_MEMBERS raised above it, so
   every read is also a receipt): all members move their marker at once, three
   bursts. Measured: mark_read latency (marker update, counts for
   read.updated, the read.updated append, the receipt gathered) and how many
   receipt.updated events the bursts cost on the room stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench.search_latency import bench_env, machine, migrate, pct, throwaway_database


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rooms", type=int, default=500)
    p.add_argument("--messages", type=int, default=20, help="per room")
    p.add_argument("--big", type=int, default=200, help="members of the big room")
    p.add_argument("--calls", type=int, default=60)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=Path("bench/results/counts_latency.md"))
    return p.parse_args(argv)


def make_people(n: int) -> list[Any]:
    from core.models import Employee

    Employee.objects.bulk_create([Employee(username=f"b{i:05d}", display_name=f"B {i}")
                                  for i in range(n)])
    return list(Employee.objects.order_by("id"))


def make_rooms(pairs: list[tuple[Any, Any]], big: list[Any]) -> tuple[list[int], int]:
    from rooms.models import Membership, Room

    rooms = Room.objects.bulk_create([Room(name=f"pair {i}", kind="group")
                                      for i in range(len(pairs))] + [Room(name="big")])
    Membership.objects.bulk_create(
        [Membership(room=r, user=u) for r, pair in zip(rooms, pairs, strict=False) for u in pair]
        + [Membership(room=rooms[-1], user=u) for u in big])
    return [r.pk for r in rooms[:-1]], rooms[-1].pk


async def old_rooms_list(user_id: int) -> list[dict[str, Any]]:
    """rooms.list as it was before the tallies (commit 1f33387): a read per room."""
    from realtime import runtime, streams
    from realtime.db import run_db
    from rooms.selectors import rooms_for

    rooms = await run_db(rooms_for, user_id)
    journal = (await runtime.get()).journal
    heads = await journal.heads([f"room:{r['id']}" for r in rooms])
    for room in rooms:
        stream = f"room:{room['id']}"
        room["last_seq"] = heads[stream]
        recent = await streams.read(stream, limit=100) if room["last_seq"] else []
        events = [(seq, json.loads(frame)) for seq, frame in recent]
        messages = [(seq, e["data"]) for seq, e in events if e["type"] == "message.created"]
        room["unread"] = sum(1 for seq, d in messages
                             if seq > room["read_seq"] and d["author"]["id"] != user_id)
        room["last_message"] = messages[-1][1] if messages else None
    return rooms


async def timed(call: Any, n: int) -> list[float]:
    for _ in range(5):
        await call()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def scenario(args: argparse.Namespace) -> dict[str, Any]:
    from django.conf import settings

    from realtime import runtime
    from realtime.access import reader_for
    from realtime.db import run_db
    from rooms import actions, selectors

    rng = random.Random(args.seed)
    people = await run_db(make_people, 1 + args.rooms + args.big)
    me, partners, big = people[0], people[1:1 + args.rooms], people[1 + args.rooms:]
    pair_ids, big_id = await run_db(make_rooms, [(me, p) for p in partners], [me, *big[1:]])
    readers = {p.pk: await run_db(reader_for, p) for p in [me, *partners, *big]}
    t0 = time.perf_counter()
    for room_id, partner in zip(pair_ids, partners, strict=True):
        acks = [await actions.send_message(readers[partner.pk], room_id=room_id,
                                           body=f"note {i}", client_id=f"{room_id}-{i}")
                for i in range(args.messages)]
        upto = acks[rng.randrange(len(acks))]["seq"] if rng.random() < 0.7 else 0
        if upto:
            await actions.mark_read(readers[me.pk], room_id=room_id, seq=upto)
    load_s = time.perf_counter() - t0
    new = await selectors.list_rooms(me.pk)
    old = await old_rooms_list(me.pk)
    assert [(r["id"], r["unread"]) for r in new] == [(r["id"], r["unread"]) for r in old]
    out: dict[str, Any] = {
        "load_s": load_s, "unread_total": sum(r["unread"] for r in new),
        "list_new": await timed(lambda: selectors.list_rooms(me.pk), args.calls),
        "counts_op": await timed(lambda: selectors.room_counts(me.pk), args.calls),
        "list_old": await timed(lambda: old_rooms_list(me.pk), args.calls),
    }
    # The big room: everyone reads at once, three times over.
    members = [me, *big[1:]]
    sender = readers[members[1].pk]
    journal = (await runtime.get()).journal
    stream = f"room:{big_id}"
    start = (await journal.heads([stream]))[stream]
    latencies: list[float] = []
    alone: list[float] = []
    bursts: list[float] = []
    for i in range(30):  # one member reading alone: the cost of one read
        await actions.send_message(sender, room_id=big_id, body=f"solo {i}",
                                   client_id=f"solo-{i}")
        head = (await journal.heads([stream]))[stream]
        t = time.perf_counter()
        await actions.mark_read(readers[me.pk], room_id=big_id, seq=head)
        alone.append((time.perf_counter() - t) * 1000)
    await asyncio.sleep(settings.RECEIPT_COALESCE_MS / 1000 * 2.5)
    start = (await journal.heads([stream]))[stream]
    for burst in range(3):
        for i in range(10):
            await actions.send_message(sender, room_id=big_id, body=f"big {burst} {i}",
                                       client_id=f"big-{burst}-{i}")
        head = (await journal.heads([stream]))[stream]

        async def read(member: Any, head: int = head) -> None:
            t = time.perf_counter()
            await actions.mark_read(readers[member.pk], room_id=big_id, seq=head)
            latencies.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(read(m) for m in members))
        bursts.append(time.perf_counter() - t0)
        await asyncio.sleep(settings.RECEIPT_COALESCE_MS / 1000 * 2.5)  # the last gather
    events = await journal.window(stream, after=start, limit=100_000)
    out["receipt_events"] = sum(1 for _, f in events if '"type":"receipt.updated"' in f)
    out["big_reads"] = latencies
    out["alone"] = alone
    out["bursts"] = bursts
    out["big_members"] = len(members)
    return out


def summary(label: str, ms: list[float]) -> str:
    return (f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {pct(ms, 0.99):.1f} |"
            f" {max(ms):.1f} |")


def report(args: argparse.Namespace, r: dict[str, Any]) -> str:
    ratio = statistics.median(r["list_old"]) / statistics.median(r["list_new"])
    lines = [
        "# Unread counts: rooms.list for a member of many rooms, reads in a big room",
        "",
        f"`python -m bench.counts_latency --rooms {args.rooms} --messages {args.messages}"
        f" --big {args.big} --calls {args.calls}` (services: Postgres + Redis, in-process).",
        "",
        *machine(),
        "",
        f"{args.rooms} rooms x {args.messages} messages loaded through send_message in"
        f" {r['load_s']:.1f} s; the employee has {r['unread_total']} unread in all.",
        "",
        "| call | calls | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        summary(f"rooms.list, tallies ({args.rooms} rooms)", r["list_new"]),
        summary("counts op", r["counts_op"]),
        summary("baseline: rooms.list as before (a read per room)", r["list_old"]),
        "",
        f"rooms.list is **{ratio:.1f} x** faster than the baseline (p50), and uncapped.",
        "",
        f"Reads in a room of {r['big_members']} members (receipts on), three bursts in which"
        " every member reads at once:",
        "",
        "| call | calls | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        summary("one member reading alone (marker, counts, read.updated, receipt)",
                r["alone"]),
        summary("every member at once: each read's wait", r["big_reads"]),
        "",
        f"A burst of {r['big_members']} reads takes {statistics.median(r['bursts']):.2f} s"
        f" (median of 3): **{r['big_members'] / statistics.median(r['bursts']):.0f}"
        " reads/s** on this machine.",
        "",
        f"receipt.updated events on the room stream for the {len(r['big_reads'])} reads:"
        f" **{r['receipt_events']}**.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with throwaway_database() as (dbname, tag):
        env = bench_env(dbname, tag)
        env["COLLOQUY_RECEIPTS_MAX_MEMBERS"] = str(args.big + 1)
        print(f"database {dbname}: migrating…", flush=True)
        migrate(env)
        os.environ.update(env)
        import django

        django.setup()
        from bench.servers import REDIS_BASE, REDIS_DB, delete_redis_prefix

        try:
            result = asyncio.run(scenario(args))
        finally:
            delete_redis_prefix(f"{REDIS_BASE}/{REDIS_DB}", env["COLLOQUY_REDIS_PREFIX"])
        text = report(args, result)  # before the drop: it asks Postgres its version
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
