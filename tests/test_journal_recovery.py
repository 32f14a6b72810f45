"""Redis losing its data (a restart without persistence) must never make a seq repeat."""

from __future__ import annotations

import redis

from tests.stack import Stack

RESEED_GAP = 100000  # settings.JOURNAL_RESEED_GAP's default


async def test_seq_continues_after_redis_loses_its_keys(services: Stack) -> None:
    stack = services
    owner, other = stack.new_user(), stack.new_user()
    sender = await stack.client(owner)
    room = (await sender.request("rooms.create", name="Recovery", members=[other]))["room"]
    acks = [await sender.request("message.send", room=room["id"], body=f"m{i}",
                                 client_id=f"r{i}") for i in range(3)]
    stack.wait_sql("SELECT count(*) FROM rooms_message WHERE room_id = ?", room["id"],
                   expect=[(3,)])
    # What a Redis restart without persistence leaves: none of this run's keys.
    client = redis.Redis.from_url(stack.redis_url)
    prefix = stack.env["COLLOQUY_REDIS_PREFIX"]
    client.delete(*client.keys(f"{prefix}:seq:*"), f"{prefix}:epoch",
                  *client.keys(f"{prefix}:win:*"))
    after = await sender.request("message.send", room=room["id"], body="after", client_id="r9")
    # Seqs jump past any that were acked but lost with Redis's data.
    assert after["seq"] == acks[-1]["seq"] + RESEED_GAP + 1
    stack.wait_sql("SELECT seq FROM rooms_message WHERE id = ?", after["id"],
                   expect=[(after["seq"],)])
    await sender.close()
