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

# KEYS[1]: the counter hash; ARGV: now, free, base, max, forget. Returns the lock
# in seconds (0: none). Atomic, so parallel guessers cannot slip between read and write.
_FAIL_LUA = """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local now, free = tonumber(ARGV[1]), tonumber(ARGV[2])
local lock = 0
if n > free then
  lock = math.min(tonumber(ARGV[3]) * 2 ^ (n - free - 1), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'until', tostring(now + lock))
end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[5]) + lock))
return tostring(lock)
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

    def locked_until(self, key: str) -> float:
        with self._lock:
            entry = self._keys.get(key)
        return entry[1] if entry and entry[2] > time.time() else 0.0

    def fail(self, key: str, free: int) -> None:
        now = time.time()
        with self._lock:
            if len(self._keys) > 100_000:  # bounded: drop the forgotten ones
                self._keys = {k: v for k, v in self._keys.items() if v[2] > now}
            n, _, forget = self._keys.get(key, (0, 0.0, 0.0))
            n = n + 1 if forget > now else 1
            until = now + _lock_for(n, free) if n > free else 0.0
            self._keys[key] = (n, until, max(now, until) + settings.LOGIN_FORGET_SECONDS)

    def clear(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)


class _RedisCounters:
    def __init__(self) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        self._fail = self._client.register_script(_FAIL_LUA)

    def locked_until(self, key: str) -> float:
        until = self._client.hget(key, "until")
        return float(until) if until else 0.0

    def fail(self, key: str, free: int) -> None:
        self._fail(keys=[key], args=[time.time(), free, settings.LOGIN_BACKOFF_BASE_SECONDS,
                                     settings.LOGIN_BACKOFF_MAX_SECONDS,
                                     settings.LOGIN_FORGET_SECONDS])

    def clear(self, key: str) -> None:
        self._client.delete(key)


_counters: _MemoryCounters | _RedisCounters | None = None


def _store() -> _MemoryCounters | _RedisCounters:
    global _counters
    if _counters is None:
        _counters = _RedisCounters() if settings.PROFILE == "services" else _MemoryCounters()
    return _counters


def client_address(request: HttpRequest) -> str:
    if settings.CLIENT_IP_HEADER:
        forwarded = request.headers.get(settings.CLIENT_IP_HEADER, "").strip()
        if forwarded:
            return forwarded[:64]
    return str(request.META.get("REMOTE_ADDR", ""))


def _keys(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    prefix = f"{settings.REDIS_PREFIX}:login"
    return [(f"{prefix}:user:{username.casefold()}", settings.LOGIN_FREE_FAILURES),
            (f"{prefix}:ip:{client_address(request)}", settings.LOGIN_IP_FREE_FAILURES)]


def wait_seconds(request: HttpRequest, username: str) -> int:
    """Whole seconds before this username may try again from this address (0: now)."""
    now = time.time()
    until = max(_store().locked_until(key) for key, _ in _keys(request, username))
    return math.ceil(until - now) if until > now else 0


def failed(request: HttpRequest, username: str) -> None:
    for key, free in _keys(request, username):
        _store().fail(key, free)


def succeeded(request: HttpRequest, username: str) -> None:
    """The username's failures are forgotten; the address's are not, or a guesser
    with one account of their own could reset their count between guesses."""
    _store().clear(_keys(request, username)[0][0])
