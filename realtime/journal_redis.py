"""Journal on Redis: Lua append, per-stream window streams, one persister stream.

Keys (P is settings.REDIS_PREFIX):
  P:seq:<stream>   the stream's last seq (INCR)
  P:win:<stream>   Redis Stream of recent frames, entry id "<seq>-1"; trimmed
                   only by the persister, only below what it has committed
  P:journal        Redis Stream every append goes to; consumer group "persisters"
  P:cid:<author>:<client_id>   "<seq>|<meta json>" for idempotent retries
  channel P:ev:<stream>        the published frame (fan-out)
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aredis
from django.conf import settings

from realtime.journal import Appended, frame_parts

# KEYS: seq, window, journal[, dedupe]   ARGV: head, tail, stream, meta, ttl, channel
APPEND_LUA = """
if KEYS[4] then
  local hit = redis.call('GET', KEYS[4])
  if hit then return {0, hit} end
end
local seq = redis.call('INCR', KEYS[1])
local frame = ARGV[1] .. seq .. ARGV[2]
redis.call('XADD', KEYS[2], seq .. '-1', 'f', frame)
redis.call('XADD', KEYS[3], '*', 's', ARGV[3], 'q', seq, 'f', frame)
if KEYS[4] then
  redis.call('SET', KEYS[4], seq .. '|' .. ARGV[4], 'EX', ARGV[5])
end
redis.call('PUBLISH', ARGV[6], frame)
return {1, tostring(seq)}
"""

GROUP = "persisters"


def key(*parts: str) -> str:
    return ":".join((settings.REDIS_PREFIX, *parts))


def event_channel(stream: str) -> str:
    return key("ev", stream)


class RedisJournal:
    def __init__(self, client: aredis.Redis) -> None:
        self.redis = client
        self._append = client.register_script(APPEND_LUA)

    async def append(
        self, stream: str, type_: str, data: dict[str, Any], meta: dict[str, Any],
        idem: tuple[int, str] | None = None,
    ) -> Appended:
        head, tail = frame_parts(stream, type_, data)
        keys = [key("seq", stream), key("win", stream), key("journal")]
        if idem is not None:
            keys.append(key("cid", str(idem[0]), idem[1]))
        created, value = await self._append(
            keys=keys,
            args=[head, tail, stream, json.dumps(meta), settings.DEDUPE_TTL_SECONDS,
                  event_channel(stream)],
        )
        if created:
            return Appended(stream, int(value), meta, True)
        seq, _, original = value.decode().partition("|")
        return Appended(stream, int(seq), json.loads(original), False)

    async def window(
        self, stream: str, *, after: int | None = None, before: int | None = None,
        limit: int,
    ) -> list[tuple[int, str]]:
        wkey = key("win", stream)
        if after is None:  # the newest `limit` before `before` (or the head)
            if before is not None and before <= 1:
                return []
            top = "+" if before is None else f"{before - 1}-1"
            rows = await self.redis.xrevrange(wkey, max=top, min="-", count=limit)
            rows.reverse()
        else:
            rows = await self.redis.xrange(wkey, min=f"{after + 1}-0", max="+", count=limit)
        return [(int(rid.split(b"-")[0]), fields[b"f"].decode()) for rid, fields in rows]

    async def heads(self, streams: list[str]) -> dict[str, int]:
        if not streams:
            return {}
        values = await self.redis.mget([key("seq", s) for s in streams])
        return {s: int(v or 0) for s, v in zip(streams, values, strict=True)}

    async def lag(self) -> tuple[int, float]:
        """(entries waiting for the database, age in seconds of the oldest)."""
        jkey = key("journal")
        count = await self.redis.xlen(jkey)
        if not count:
            return 0, 0.0
        first = await self.redis.xrange(jkey, count=1)
        if not first:
            return 0, 0.0
        ms = int(first[0][0].split(b"-")[0])
        return count, max(0.0, time.time() - ms / 1000)
