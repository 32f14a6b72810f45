"""Where live presence is kept: Redis keys with expiry (services) or memory (embedded).

Per connection: its status ("online" | "away") and an expiry its process keeps
pushing forward. Per user: the last status announced. `evaluate` folds a user's
live connections into one status and, atomically, reports a change only once
however many processes ask, so each change is announced exactly once.

Redis keys (P = settings.REDIS_PREFIX):
  P:pc:<user>   ZSET connection id → expiry (ms)
  P:ps:<user>   HASH connection id → status
  P:pa:<user>   HASH status, last_seen: what was last announced
  P:pexp        ZSET "<user>|<connection>" → expiry, for the sweeper
"""

from __future__ import annotations

from typing import Protocol

STATUSES = ("online", "away")

Change = tuple[str, str, int]  # (previous status, new status, last seen ms)


class PresenceStore(Protocol):
    async def upsert(self, entries: list[tuple[int, str, str]], expires_ms: int) -> None: ...
    async def remove(self, user: int, conn: str) -> None: ...
    async def evaluate(self, user: int, now_ms: int) -> Change | None: ...
    async def expired_users(self, now_ms: int) -> list[int]: ...
    async def read(self, users: list[int]) -> dict[int, tuple[str, int | None]]: ...


def fold(statuses: list[str]) -> str:
    """One status for a user from their live connections' statuses."""
    if "online" in statuses:
        return "online"
    return "away" if statuses else "offline"


EVALUATE_LUA = """
local now = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, c in ipairs(expired) do
  redis.call('ZREM', KEYS[1], c)
  redis.call('HDEL', KEYS[2], c)
  redis.call('ZREM', KEYS[4], ARGV[1] .. '|' .. c)
end
local status = 'offline'
for _, c in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local s = redis.call('HGET', KEYS[2], c)
  if s == 'online' then status = 'online' break end
  if s == 'away' then status = 'away' end
end
local prev = redis.call('HGET', KEYS[3], 'status') or 'offline'
if prev == status then return false end
redis.call('HSET', KEYS[3], 'status', status, 'last_seen', now)
return {prev, status, tostring(now)}
"""


class RedisPresenceStore:
    def __init__(self, client: object, prefix: str, ttl_s: float) -> None:
        self.redis = client
        self.p = prefix
        self.key_ttl = int(ttl_s * 4) + 60  # garbage-collects keys of vanished users
        self._evaluate = client.register_script(EVALUATE_LUA)  # type: ignore[attr-defined]

    def _keys(self, user: int) -> list[str]:
        return [f"{self.p}:pc:{user}", f"{self.p}:ps:{user}", f"{self.p}:pa:{user}",
                f"{self.p}:pexp"]

    async def upsert(self, entries: list[tuple[int, str, str]], expires_ms: int) -> None:
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        for user, conn, status in entries:
            pc, ps, _, pexp = self._keys(user)
            pipe.zadd(pc, {conn: expires_ms})
            pipe.hset(ps, conn, status)
            pipe.expire(pc, self.key_ttl)
            pipe.expire(ps, self.key_ttl)
            pipe.zadd(pexp, {f"{user}|{conn}": expires_ms})
        await pipe.execute()

    async def remove(self, user: int, conn: str) -> None:
        pc, ps, _, pexp = self._keys(user)
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        pipe.zrem(pc, conn)
        pipe.hdel(ps, conn)
        pipe.zrem(pexp, f"{user}|{conn}")
        await pipe.execute()

    async def evaluate(self, user: int, now_ms: int) -> Change | None:
        result = await self._evaluate(keys=self._keys(user), args=[user, now_ms])
        if not result:
            return None
        prev, new, seen = (v.decode() if isinstance(v, bytes) else v for v in result)
        return prev, new, int(seen)

    async def expired_users(self, now_ms: int) -> list[int]:
        members = await self.redis.zrangebyscore(  # type: ignore[attr-defined]
            f"{self.p}:pexp", "-inf", now_ms, start=0, num=1000
        )
        return sorted({int(m.split(b"|", 1)[0]) for m in members})

    async def read(self, users: list[int]) -> dict[int, tuple[str, int | None]]:
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        for user in users:
            pipe.hmget(f"{self.p}:pa:{user}", "status", "last_seen")
        out: dict[int, tuple[str, int | None]] = {}
        for user, (status, seen) in zip(users, await pipe.execute(), strict=True):
            out[user] = (status.decode() if status else "offline",
                         int(seen) if seen else None)
        return out


class LocalPresenceStore:
    """The same semantics in one process's memory (embedded profile)."""

    def __init__(self) -> None:
        self.conns: dict[int, dict[str, tuple[int, str]]] = {}
        self.announced: dict[int, tuple[str, int]] = {}

    async def upsert(self, entries: list[tuple[int, str, str]], expires_ms: int) -> None:
        for user, conn, status in entries:
            self.conns.setdefault(user, {})[conn] = (expires_ms, status)

    async def remove(self, user: int, conn: str) -> None:
        self.conns.get(user, {}).pop(conn, None)

    async def evaluate(self, user: int, now_ms: int) -> Change | None:
        live = {c: v for c, v in self.conns.get(user, {}).items() if v[0] > now_ms}
        if live:
            self.conns[user] = live
        else:
            self.conns.pop(user, None)
        status = fold([s for _, s in live.values()])
        prev = self.announced.get(user, ("offline", 0))[0]
        if prev == status:
            return None
        self.announced[user] = (status, now_ms)
        return prev, status, now_ms

    async def expired_users(self, now_ms: int) -> list[int]:
        return sorted(u for u, cs in self.conns.items() if any(e <= now_ms for e, _ in cs.values()))

    async def read(self, users: list[int]) -> dict[int, tuple[str, int | None]]:
        out: dict[int, tuple[str, int | None]] = {}
        for user in users:
            status, seen = self.announced.get(user, ("offline", None))  # type: ignore[assignment]
            out[user] = (status, seen)
        return out


class TypingGate(Protocol):
    async def open(self, user: int, room: int, thread: str, window_ms: int) -> bool: ...
    async def reset(self, user: int, room: int, thread: str = "") -> None: ...


class RedisTypingGate:
    """SET NX PX: one relayed typing event per sender, room and thread per window,
    whichever process and tab it comes from."""

    def __init__(self, client: object, prefix: str) -> None:
        self.redis = client
        self.p = prefix

    async def open(self, user: int, room: int, thread: str, window_ms: int) -> bool:
        key = f"{self.p}:typ:{user}:{room}:{thread}"
        return bool(await self.redis.set(key, 1, nx=True, px=window_ms))  # type: ignore[attr-defined]

    async def reset(self, user: int, room: int, thread: str = "") -> None:
        await self.redis.delete(f"{self.p}:typ:{user}:{room}:{thread}")  # type: ignore[attr-defined]


class LocalTypingGate:
    def __init__(self) -> None:
        self.until: dict[tuple[int, int, str], float] = {}

    async def open(self, user: int, room: int, thread: str, window_ms: int) -> bool:
        import time

        now = time.monotonic()
        if len(self.until) > 10000:  # forget long-closed windows
            self.until = {k: t for k, t in self.until.items() if t > now}
        if self.until.get((user, room, thread), 0.0) > now:
            return False
        self.until[(user, room, thread)] = now + window_ms / 1000
        return True

    async def reset(self, user: int, room: int, thread: str = "") -> None:
        self.until.pop((user, room, thread), None)
