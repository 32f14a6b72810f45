"""Log-in throttling: failed log-ins per username and per client address.

Checked before the password is hashed (PBKDF2 costs tens of milliseconds of CPU),
so a guesser is answered 429 at the price of one lookup. Services: counters in
Redis, shared by every server process. Embedded: in this process's memory (the
embedded profile is one server process).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest

# An attempt is counted before its password is hashed, so parallel guessers
# cannot all pass the check while the first hashes are still running.
# KEYS: the username's and the address's counters; ARGV: now, base, max, forget,
# and each key's free failures. Returns the wait in seconds ("0": go ahead, counted).
_ATTEMPT_LUA = """
local now = tonumber(ARGV[1])
for i = 1, #KEYS do
  local locked = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if locked > now then return tostring(locked - now) end
end
for i = 1, #KEYS do
  local n = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local free, lock = tonumber(ARGV[4 + i]), 0
  if n > free then
    lock = math.min(tonumber(ARGV[2]) * 2 ^ (n - free - 1), tonumber(ARGV[3]))
    redis.call('HSET', KEYS[i], 'until', tostring(now + lock))
  end
  redis.call('EXPIRE', KEYS[i], math.ceil(tonumber(ARGV[4]) + lock))
end
return '0'
"""


def _lock_for(failures: int, free: int) -> float:
    if failures <= free:
        return 0.0
    return min(settings.LOGIN_BACKOFF_BASE_SECONDS * 2 ** (failures - free - 1),
               settings.LOGIN_BACKOFF_MAX_SECONDS)


class _MemoryCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[int, float, float]] = {}  # n, locked until, forget at

    def attempt(self, keys: list[tuple[str, int]]) -> float:
        now = time.time()
        with self._lock:
            if len(self._keys) > 100_000:  # bounded: drop the forgotten ones
                self._keys = {k: v for k, v in self._keys.items() if v[2] > now}
            live = [self._keys[k] if k in self._keys and self._keys[k][2] > now
                    else (0, 0.0, 0.0) for k, _ in keys]
            wait = max(until for _, until, _ in live) - now
            if wait > 0:
                return wait
            for (key, free), (n, _, _) in zip(keys, live, strict=True):
                lock = _lock_for(n + 1, free)
                self._keys[key] = (n + 1, now + lock if lock else 0.0,
                                   now + lock + settings.LOGIN_FORGET_SECONDS)
        return 0.0

    def forget(self, key: str, *, all_of_it: bool) -> None:
        with self._lock:
            if all_of_it:
                self._keys.pop(key, None)
            elif key in self._keys:
                n, until, forget = self._keys[key]
                self._keys[key] = (max(n - 1, 0), until, forget)


class _RedisCounters:
    def __init__(self) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        self._attempt = self._client.register_script(_ATTEMPT_LUA)

    def attempt(self, keys: list[tuple[str, int]]) -> float:
        return float(self._attempt(
            keys=[k for k, _ in keys],
            args=[time.time(), settings.LOGIN_BACKOFF_BASE_SECONDS,
                  settings.LOGIN_BACKOFF_MAX_SECONDS, settings.LOGIN_FORGET_SECONDS,
                  *(free for _, free in keys)]))

    def forget(self, key: str, *, all_of_it: bool) -> None:
        if all_of_it:
            self._client.delete(key)
        else:
            self._client.hincrby(key, "n", -1)


_counters: _MemoryCounters | _RedisCounters | None = None


def _store() -> _MemoryCounters | _RedisCounters:
    global _counters
    if _counters is None:
        _counters = _RedisCounters() if settings.PROFILE == "services" else _MemoryCounters()
    return _counters


def client_address(request: HttpRequest) -> str:
    # Behind a load balancer, serve with --proxy-headers: the server then puts the
    # client's address from X-Forwarded-For here, trusting only the proxy's.
    return str(request.META.get("REMOTE_ADDR", ""))[:64]


def _keys(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    prefix = f"{settings.REDIS_PREFIX}:login"
    return [(f"{prefix}:user:{username.casefold()}", settings.LOGIN_FREE_FAILURES),
            (f"{prefix}:ip:{client_address(request)}", settings.LOGIN_IP_FREE_FAILURES)]


def attempt(request: HttpRequest, username: str) -> int:
    """Count a log-in attempt before its password is hashed: 0 to go ahead, else
    the whole seconds this username or address must wait (the attempt not counted)."""
    wait = _store().attempt(_keys(request, username))
    return math.ceil(wait) if wait > 0 else 0


def succeeded(request: HttpRequest, username: str) -> None:
    """The attempt was right: the username's failures are forgotten, and the
    address's count loses this attempt only (forgetting all of it would let a
    guesser with one account of their own reset it between guesses)."""
    user_key, address_key = (key for key, _ in _keys(request, username))
    _store().forget(user_key, all_of_it=True)
    _store().forget(address_key, all_of_it=False)
