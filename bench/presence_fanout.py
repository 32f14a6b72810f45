"""Presence traffic when the members of a big room connect (issues 3 and 5).

    python -m bench.presence_fanout [--members 1000] [--subscribers 50]
                                    [--max-room-members N] [--profile embedded|services]

Starts a real server (tests/stack.py), puts N employees in one room, connects
N-1 of them (timed: the connect storm), waits until the presence traffic of
those connects has settled; the first `--subscribers` of them then
presence.subscribe to the last member, who connects. Counts, on every other
socket, the presence events about that user: the design says exactly one per
interested socket, and nothing for anyone else. Interested: everyone if the
room has at most PRESENCE_MAX_ROOM_MEMBERS members (the server's setting, or
`--max-room-members`), else only the subscribers. Prints counts and timings;
exits non-zero if any socket got other than what it should.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from colloquy_client import Client
from tests.stack import Stack


def make_room(stack: Stack, names: list[str]) -> None:
    script = (
        "from core.models import Employee\n"
        "from rooms.models import Membership, Room\n"
        "room = Room.objects.create(name='Everyone', kind='group')\n"
        f"ids = Employee.objects.filter(username__in={names!r}).values_list('pk', flat=True)\n"
        "Membership.objects.bulk_create([Membership(room=room, user_id=i) for i in ids])\n"
    )
    stack.manage("shell", "-c", script)


async def settle(clients: list[Client], quiet: float = 2.0) -> None:
    """Drain every client's queue until nothing has arrived for `quiet` seconds."""
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        await asyncio.sleep(0.2)
        if any(c.drain_events() for c in clients):
            last = time.monotonic()


def room_limit(stack: Stack) -> int:
    out = stack.manage("shell", "-c", "from django.conf import settings\n"
                       "print('LIMIT', settings.PRESENCE_MAX_ROOM_MEMBERS)").stdout
    return int(out.split("LIMIT ")[1].split()[0])


async def run(members: int, subscribers: int, max_room_members: int | None,
              profile: str) -> int:
    stack = Stack(profile)
    if max_room_members is not None:
        stack.env["COLLOQUY_PRESENCE_MAX_ROOM_MEMBERS"] = str(max_room_members)
    stack.start()
    try:
        limit = room_limit(stack)
        names = [stack.new_user() for _ in range(members)]
        make_room(stack, names)
        tokens = stack.issue_tokens(names)
        url = stack.ws_url(0)
        clients: list[Client] = []
        t0 = time.monotonic()
        for i in range(0, members - 1, 50):  # connect in waves of 50
            batch = [Client(url, token=tokens[n]) for n in names[i:min(i + 50, members - 1)]]
            await asyncio.gather(*(c.connect() for c in batch))
            await asyncio.gather(*(c.request("ping", timeout=60) for c in batch))
            clients += batch
        connect_s = time.monotonic() - t0
        await settle(clients)
        last = Client(url, token=tokens[names[-1]])
        uid = int(stack.sql("SELECT id FROM core_employee WHERE username = ?", names[-1])[0][0])
        watching = clients[:subscribers]
        await asyncio.gather(*(c.request("presence.subscribe", users=[uid]) for c in watching))
        started = time.monotonic()
        await last.connect()
        await last.request("ping")
        await asyncio.sleep(3.0)  # well past the fan-out of one event
        counts = []
        for c in clients:
            events = [e for e in c.drain_events()
                      if e["type"] == "presence" and e["data"]["user"] == uid]
            counts.append(len(events))
        elapsed = time.monotonic() - started
        told = len(clients) if members <= limit else len(watching)
        want = [1] * told + [0] * (len(clients) - told)
        print(f"profile={profile} members={members} sockets_listening={len(clients)} "
              f"subscribers={len(watching)} PRESENCE_MAX_ROOM_MEMBERS={limit}")
        print(f"connecting {len(clients)} sockets took {connect_s:.1f} s")
        print(f"presence events about the newcomer: total={sum(counts)} "
              f"sockets_with_exactly_one={counts.count(1)} with_none={counts.count(0)} "
              f"with_more={sum(1 for n in counts if n > 1)}")
        print(f"interested sockets: {told}; events per interested socket: "
              f"{sum(counts) / max(told, 1):.3f} (target 1); "
              f"sockets that got what they should: {sum(map(int.__eq__, counts, want))}")
        print(f"window observed: {elapsed:.1f} s")
        for c in [*clients, last]:
            await c.close()
        return 0 if counts == want else 1
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=50,
                        help="listening members that presence.subscribe to the last one")
    parser.add_argument("--max-room-members", type=int, default=None,
                        help="the server's PRESENCE_MAX_ROOM_MEMBERS (default: its own)")
    parser.add_argument("--profile", default="embedded", choices=["embedded", "services"])
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.members, args.subscribers, args.max_room_members,
                             args.profile)))


if __name__ == "__main__":
    main()
