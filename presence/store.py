"""Where live presence is kept: Redis keys (services) or memory (embedded).

Liveness is per process, not per connection. Each server process keeps one
entry "alive until T" and pushes T forward every refresh period (one script
call, whatever its number of sockets). A connection counts only while its
process is alive, so a process killed with open sockets takes all of them
offline together once its T passes; any process's sweep then announces it.

`update` (register or change a connection, then evaluate) and `evaluate` fold
a user's live connections into one status and, atomically, report a change
only once however many processes ask, so each change is announced exactly once.

Redis keys (P = settings.REDIS_PREFIX):
  P:procs       ZSET process id → alive until (ms); swept when T passes
  P:pp:<proc>   SET "<user>|<connection>" of that process, for the sweep
  P:pu:<user>   HASH connection id → "<process id>|<status>"
  P:pa:<user>   HASH status, last_seen: what was last announced
"""

from __future__ import annotations

from typing import Protocol

STATUSES = ("online", "away")

Change = tuple[str, str, int]  # (previous status, new status, last seen ms)


class PresenceStore(Protocol):
    async def beat(self, proc: str, alive_until_ms: int, now_ms: int,
                   new: bool = False) -> tuple[bool, list[str]]: ...
    async def update(self, proc: str, user: int, conn: str, status: str,
                     now_ms: int) -> Change | None: ...
    async def register(self, proc: str, entries: list[tuple[int, str, str]]) -> None: ...
    async def remove(self, proc: str, user: int, conn: str) -> None: ...
    async def evaluate(self, users: list[int], now_ms: int) -> dict[int, Change]: ...
    async def users_of(self, proc: str) -> list[int]: ...
    async def forget(self, proc: str, now_ms: int) -> None: ...
    async def read(self, users: list[int]) -> dict[int, tuple[str, int | None]]: ...


def fold(statuses: list[str]) -> str:
    """One status for a user from their live connections' statuses."""
    if "online" in statuses:
        return "online"
    return "away" if statuses else "offline"


# KEYS: P:pu:<user>, P:pa:<user>, P:procs, P:pp:<proc>
# ARGV: now, user, connection ("" = only evaluate), process, status
UPDATE_LUA = """
local now = tonumber(ARGV[1])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4] .. '|' .. ARGV[5])
  redis.call('SADD', KEYS[4], ARGV[2] .. '|' .. ARGV[3])
end
local alive = {}
local status = 'offline'
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local v = entries[i + 1]
  local sep = string.find(v, '|', 1, true)
  local proc = string.sub(v, 1, sep - 1)
  local live = alive[proc]
  if live == nil then
    local until_ms = redis.call('ZSCORE', KEYS[3], proc)
    live = (until_ms and tonumber(until_ms) > now) or false
    alive[proc] = live
  end
  if not live then
    redis.call('HDEL', KEYS[1], entries[i])
  elseif string.sub(v, sep + 1) == 'online' then
    status = 'online'
  elseif status == 'offline' then
    status = 'away'
  end
end
local prev = redis.call('HGET', KEYS[2], 'status') or 'offline'
if prev == status then return false end
redis.call('HSET', KEYS[2], 'status', status, 'last_seen', ARGV[1])
return {prev, status, ARGV[1]}
"""

# KEYS: P:procs, P:pp:<proc>. ARGV: process, alive until, now, key ttl (s), "1" to
# register a new process id. Returns {was it alive, processes whose time has passed}.
BEAT_LUA = """
local was = redis.call('ZSCORE', KEYS[1], ARGV[1])
local alive = (was and tonumber(was) > tonumber(ARGV[3])) and 1 or 0
if alive == 1 or ARGV[5] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return {alive, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'LIMIT', 0, 100)}
"""

# KEYS: P:procs, P:pp:<proc>. ARGV: process, now. Only if it is still dead.
FORGET_LUA = """
local t = redis.call('ZSCORE', KEYS[1], ARGV[1])
if t and tonumber(t) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisPresenceStore:
    def __init__(self, client: object, prefix: str, ttl_s: float) -> None:
        self.redis = client
        self.p = prefix
        # A live process's own set never expires; a vanished one's is swept, or
        # else garbage-collected after this long.
        self.key_ttl = int(ttl_s * 4) + 60
        self._update = client.register_script(UPDATE_LUA)  # type: ignore[attr-defined]
        self._beat = client.register_script(BEAT_LUA)  # type: ignore[attr-defined]
        self._forget = client.register_script(FORGET_LUA)  # type: ignore[attr-defined]

    def _user_keys(self, user: int, proc: str = "") -> list[str]:
        return [f"{self.p}:pu:{user}", f"{self.p}:pa:{user}", f"{self.p}:procs",
                f"{self.p}:pp:{proc}"]

    async def beat(self, proc: str, alive_until_ms: int, now_ms: int,
                   new: bool = False) -> tuple[bool, list[str]]:
        """Keep this process alive; one call whatever its number of sockets.

        Returns whether it was still alive (False: it was swept, or Redis lost it)
        and the processes whose time has passed, for the sweep.
        """
        alive, dead = await self._beat(
            keys=[f"{self.p}:procs", f"{self.p}:pp:{proc}"],
            args=[proc, alive_until_ms, now_ms, self.key_ttl, "1" if new else "0"],
        )
        return bool(alive), [_text(d) for d in dead]

    async def update(self, proc: str, user: int, conn: str, status: str,
                     now_ms: int) -> Change | None:
        """Register or change one connection and evaluate its user: one script call."""
        result = await self._update(keys=self._user_keys(user, proc),
                                    args=[now_ms, user, conn, proc, status])
        return _change(result)

    async def register(self, proc: str, entries: list[tuple[int, str, str]]) -> None:
        """Register many connections at once (a process that lost its entry)."""
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        for user, conn, status in entries:
            pipe.hset(f"{self.p}:pu:{user}", conn, f"{proc}|{status}")
            pipe.sadd(f"{self.p}:pp:{proc}", f"{user}|{conn}")
        await pipe.execute()

    async def remove(self, proc: str, user: int, conn: str) -> None:
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        pipe.hdel(f"{self.p}:pu:{user}", conn)
        pipe.srem(f"{self.p}:pp:{proc}", f"{user}|{conn}")
        await pipe.execute()

    async def evaluate(self, users: list[int], now_ms: int) -> dict[int, Change]:
        """Fold each user's live connections; the changes, each reported once."""
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        for user in users:
            await self._update(keys=self._user_keys(user), args=[now_ms, user, "", "", ""],
                               client=pipe)
        changes = {}
        for user, result in zip(users, await pipe.execute(), strict=True):
            if (change := _change(result)) is not None:
                changes[user] = change
        return changes

    async def users_of(self, proc: str) -> list[int]:
        members = await self.redis.smembers(f"{self.p}:pp:{proc}")  # type: ignore[attr-defined]
        return sorted({int(_text(m).split("|", 1)[0]) for m in members})

    async def forget(self, proc: str, now_ms: int) -> None:
        """Drop a dead process's entry and set, unless it came back meanwhile."""
        await self._forget(keys=[f"{self.p}:procs", f"{self.p}:pp:{proc}"], args=[proc, now_ms])

    async def read(self, users: list[int]) -> dict[int, tuple[str, int | None]]:
        pipe = self.redis.pipeline(transaction=False)  # type: ignore[attr-defined]
        for user in users:
            pipe.hmget(f"{self.p}:pa:{user}", "status", "last_seen")
        out: dict[int, tuple[str, int | None]] = {}
        for user, (status, seen) in zip(users, await pipe.execute(), strict=True):
            out[user] = (status.decode() if status else "offline",
                         int(seen) if seen else None)
        return out


def _change(result: list[bytes | str] | None) -> Change | None:
    if not result:
        return None
    prev, new, seen = (_text(v) for v in result)
    return prev, new, int(seen)


class LocalPresenceStore:
    """The same semantics in one process's memory (embedded profile): the one
    process is always alive, and when it dies its sockets die with it."""

    def __init__(self) -> None:
        self.conns: dict[int, dict[str, str]] = {}  # user → connection → status
        self.announced: dict[int, tuple[str, int]] = {}

    async def beat(self, proc: str, alive_until_ms: int, now_ms: int,
                   new: bool = False) -> tuple[bool, list[str]]:
        return True, []

    async def update(self, proc: str, user: int, conn: str, status: str,
                     now_ms: int) -> Change | None:
        self.conns.setdefault(user, {})[conn] = status
        return (await self.evaluate([user], now_ms)).get(user)

    async def register(self, proc: str, entries: list[tuple[int, str, str]]) -> None:
        for user, conn, status in entries:
            self.conns.setdefault(user, {})[conn] = status

    async def remove(self, proc: str, user: int, conn: str) -> None:
        mine = self.conns.get(user, {})
        mine.pop(conn, None)
        if not mine:
            self.conns.pop(user, None)

    async def evaluate(self, users: list[int], now_ms: int) -> dict[int, Change]:
        changes = {}
        for user in users:
            status = fold(list(self.conns.get(user, {}).values()))
            prev = self.announced.get(user, ("offline", 0))[0]
            if prev != status:
                self.announced[user] = (status, now_ms)
                changes[user] = (prev, status, now_ms)
        return changes

    async def users_of(self, proc: str) -> list[int]:
        return []

    async def forget(self, proc: str, now_ms: int) -> None:
        return None

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
