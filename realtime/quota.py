"""Limits per employee, across all their sockets and server processes.

Sockets: at most MAX_SOCKETS_PER_EMPLOYEE open at once; one more is refused
(close code 4030), so a runaway script cannot hold thousands. Embedded: counted
in this process (the embedded profile is one process). Services: a lease per
socket in one Redis sorted set per employee, claimed atomically (parallel
handshakes cannot all pass) and renewed by each process, so a killed process's
sockets free their slots when their leases run out.

Ops: EMPLOYEE_RATE_PER_SECOND over all an employee's sockets, besides each
socket's own bucket. Each process admits ops from a local bucket per employee
and, in services, takes what it admitted from the employee's shared bucket in
Redis every RATE_SYNC_SECONDS; an employee whose shared bucket runs dry is
refused on that process until it would refill. One Redis round trip per
process per sync, whatever the op rate: the hot path never waits on Redis.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from django.conf import settings

from realtime.ratelimit import TokenBucket

log = logging.getLogger(__name__)

# KEYS[1]: the employee's lease set; ARGV: now ms, lease ms, max, connection.
_CLAIM_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


# One token bucket per employee, shared by the processes. KEYS: the buckets;
# ARGV: now (s), rate, burst, then the ops each key's employee was admitted since
# the last sync. Returns each bucket's level after taking them (below 0: in debt).
_TAKE_LUA = """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local ttl = math.ceil(burst / rate * 1000) + 1000
local out = {}
for i, key in ipairs(KEYS) do
  local level = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(level[1]) or burst
  local at = tonumber(level[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate) - tonumber(ARGV[3 + i])
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, ttl)
  out[i] = tostring(tokens)
end
return out
"""


def _lease_ms() -> int:
    # Three heartbeats: a process renews every heartbeat, so one missed renewal
    # (a stall) frees nothing.
    return int(settings.HEARTBEAT_SECONDS * 3000)


class EmployeeQuota:
    def __init__(self, redis: Any = None, prefix: str = "") -> None:
        self.redis = redis
        self.prefix = prefix
        self.local: dict[int, set[str]] = {}  # employee → connection ids here
        self.buckets: dict[int, TokenBucket] = {}
        self.admitted: collections.Counter[int] = collections.Counter()
        self.refused_until: dict[int, float] = {}  # employee → time.time() it may go on
        self._claim = redis.register_script(_CLAIM_LUA) if redis is not None else None
        self._take = redis.register_script(_TAKE_LUA) if redis is not None else None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self.redis is not None:
            for loop in (self._sync_rates(), self._renew_leases()):
                task = asyncio.get_running_loop().create_task(loop)
                self._tasks.add(task)

    def _key(self, kind: str, user: int) -> str:
        return f"{self.prefix}:{kind}:{user}"

    # --- sockets -------------------------------------------------------------------

    async def claim(self, user: int, conn: str) -> bool:
        """A slot for one more socket of `user`, or False when they hold the maximum."""
        here = self.local.setdefault(user, set())
        if self._claim is None:
            if len(here) >= settings.MAX_SOCKETS_PER_EMPLOYEE:
                return False
        elif not await self._claim(keys=[self._key("sockets", user)],
                                   args=[int(time.time() * 1000), _lease_ms(),
                                         settings.MAX_SOCKETS_PER_EMPLOYEE, conn]):
            return False
        here.add(conn)
        return True

    async def release(self, user: int, conn: str) -> None:
        here = self.local.get(user)
        if here is None or conn not in here:
            return
        here.discard(conn)
        if not here:
            del self.local[user]
            self.buckets.pop(user, None)
        if self.redis is not None:
            try:
                await self.redis.zrem(self._key("sockets", user), conn)
            except Exception:  # the lease runs out by itself
                log.warning("could not release a socket slot of user %s", user)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(settings.HEARTBEAT_SECONDS)
            try:
                expiry = int(time.time() * 1000) + _lease_ms()
                async with self.redis.pipeline(transaction=False) as pipe:
                    for user, conns in list(self.local.items()):
                        key = self._key("sockets", user)
                        pipe.zadd(key, dict.fromkeys(conns, expiry))
                        pipe.pexpire(key, _lease_ms())
                    await pipe.execute()
            except Exception:
                log.warning("could not renew socket leases; retrying next heartbeat")

    # --- ops -----------------------------------------------------------------------

    def take(self, user: int) -> bool:
        """One op of `user` within their rate across all sockets and processes."""
        if self.refused_until.get(user, 0.0) > time.time():
            return False
        bucket = self.buckets.get(user)
        if bucket is None:
            bucket = self.buckets[user] = TokenBucket(settings.EMPLOYEE_RATE_PER_SECOND,
                                                      settings.EMPLOYEE_RATE_BURST)
        if not bucket.take():
            return False
        if self.redis is not None:
            self.admitted[user] += 1
        return True

    async def _sync_rates(self) -> None:
        rate = settings.EMPLOYEE_RATE_PER_SECOND
        while True:
            await asyncio.sleep(settings.RATE_SYNC_SECONDS)
            if not self.admitted:
                continue
            batch, self.admitted = self.admitted, collections.Counter()
            users = list(batch)
            now = time.time()
            try:
                levels = await self._take(
                    keys=[self._key("rate", u) for u in users],
                    args=[now, rate, settings.EMPLOYEE_RATE_BURST, *(batch[u] for u in users)])
            except Exception:
                log.warning("could not share op counts; local limits only until Redis is back")
                continue
            for user, level in zip(users, levels, strict=True):
                if float(level) < 0:  # in debt: wait until the bucket is back to zero
                    self.refused_until[user] = now - float(level) / rate
            self.refused_until = {u: t for u, t in self.refused_until.items() if t > now}
