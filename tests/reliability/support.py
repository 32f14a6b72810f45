"""Fault-injection support: a private Redis, a cuttable Postgres proxy, chatting members.

Nothing here touches the shared Postgres or Redis beyond what tests/stack.py
does (a throwaway database, a per-run key prefix): Redis faults use a
redis-server of our own on a free loopback port, Postgres outages cut a TCP
proxy that stands between the app and the shared server.

`Chat` drives a conversation: members in rooms, each on a chosen server
process, sending numbered messages with unique client_ids. A member that loses
its socket (ConnectionLost, or a request that times out) opens a new socket to
the next live server, sends `resume` with the last seq it saw of every stream,
and retries the unacknowledged message with the same client_id, so a message
that was appended before the fault comes back as the original (duplicate=true).
`Chat.verify` then checks the end state against every ack the members got.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colloquy_client import Client, ColloquyError, ConnectionLost
from tests.stack import Stack, free_port


def measure(test: str, name: str, value: Any, record: Callable[[str, Any], None]) -> None:
    """Print a measured number and attach it to the test's report (record_property),
    from which tests/reliability/conftest.py's terminal summary collects it."""
    print(f"[measure] {test}: {name} = {value}")
    record(name, value)


def services_selected() -> bool:
    profiles = os.environ.get("COLLOQUY_TEST_PROFILES", "embedded,services").split(",")
    return "services" in profiles


# --- processes we own ----------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own on a free loopback port; restarted by PID only."""

    def __init__(self, *, aof: bool = False) -> None:
        self.port = free_port()
        self.aof = aof
        self.dir = Path(tempfile.mkdtemp(prefix="colloquy-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--dir", str(self.dir), "--daemonize", "no",
                "--protected-mode", "yes", "--loglevel", "warning"]
        if self.aof:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        return argv

    def start(self) -> PrivateRedis:
        log = open(self.dir / "redis.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()}")
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not answer PING in 15s")

    def ping(self) -> bool:
        import redis

        try:
            with redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1) as r:
                return bool(r.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """kill -9, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def client(self) -> Any:
        import redis

        return redis.Redis(port=self.port, socket_timeout=5)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class PgProxy:
    """A loopback TCP proxy to the shared Postgres that a test can cut and restore.

    `cut()` closes every proxied connection and stops listening, so new
    connections are refused (what a Postgres crash or a network partition
    looks like to the app); `restore()` listens again on the same port.
    It runs its own event loop in a thread, so blocking test code never stalls it.
    """

    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()
        self.accepted = 0
        self.thread = threading.Thread(target=self.loop.run_forever, name="pg-proxy",
                                       daemon=True)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(15)

    def start(self) -> PgProxy:
        self.thread.start()
        self._call(self._listen())
        return self

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                 reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self.conns.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.conns.discard(writer)
            self.conns.discard(up_writer)

    async def _cut(self) -> int:
        assert self.server is not None
        self.server.close()
        cut = len(self.conns) // 2
        for w in list(self.conns):
            w.transport.abort()
        self.conns.clear()
        return cut

    def cut(self) -> int:
        """Drop every connection and refuse new ones; returns how many were cut."""
        return self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def make_unique(stack: Stack) -> Stack:
    """Give a services stack a database name and key prefix no other stack can share.

    tests/stack.py names them after the pid and the second, so two stacks built
    in the same second by one process would collide.
    """
    if stack.profile == "services":
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        stack.dbname = f"colloquy_test_{tag}"
        stack.database_url = f"postgres://postgres@127.0.0.1:5432/{stack.dbname}"
        stack.env.update(DATABASE_URL=stack.database_url, COLLOQUY_REDIS_PREFIX=f"cqt{tag}")
    return stack


class FaultStack(Stack):
    """The services profile wired through a private Redis and/or a Postgres proxy.

    `database_url` stays the direct URL, so the test's own checks (stack.sql)
    work during an outage; only the server and persister processes go through
    the proxy.
    """

    def __init__(self, *, redis: PrivateRedis | None = None, pg_proxy: PgProxy | None = None,
                 env: dict[str, str] | None = None) -> None:
        super().__init__("services")
        make_unique(self)
        self.private_redis = redis
        self.pg_proxy = pg_proxy
        if redis is not None:
            self.redis_url = redis.url
            self.env["REDIS_URL"] = redis.url
        if pg_proxy is not None:
            self.env["DATABASE_URL"] = pg_proxy.url(self.dbname)
        self.env.update(env or {})

    @property
    def prefix(self) -> str:
        return self.env["COLLOQUY_REDIS_PREFIX"]

    def redis(self) -> Any:
        import redis

        return redis.Redis.from_url(self.redis_url, socket_timeout=5)

    def pids(self) -> dict[str, int]:
        out = {f"server{i}": p.pid for i, (p, _) in enumerate(self.servers) if p.poll() is None}
        if self.persister is not None and self.persister.poll() is None:
            out["persister"] = self.persister.pid
        return out

    def persister_log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs
                         if p.name.startswith("persister") and p.exists())

    def stop(self) -> None:
        import redis

        try:
            super().stop()
        except redis.RedisError:
            pass  # our private Redis is down; it goes with everything else below
        finally:
            if self.private_redis is not None:
                self.private_redis.stop()
            if self.pg_proxy is not None:
                self.pg_proxy.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)


# --- HTTP and /proc ----------------------------------------------------------------


def get_json(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body else None


def log_times(stack: Stack, needle: str) -> list[float]:
    """Wall-clock times (epoch seconds) of the server and persister log lines containing needle."""
    from datetime import datetime

    out = []
    for line in stack.log_text().splitlines():
        if needle in line:
            try:
                out.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp())
            except ValueError:
                continue
    return sorted(out)


def vm_rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def journal_lag(stack: Stack) -> int:
    """Entries the persister has not acknowledged, read straight from Redis."""
    import redis

    with redis.Redis.from_url(stack.redis_url, socket_timeout=5) as r:
        return int(r.xlen(f"{stack.env['COLLOQUY_REDIS_PREFIX']}:journal"))


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0,
                   every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


# --- chatting members ------------------------------------------------------------


@dataclass
class Ack:
    room: int
    seq: int
    id: str
    author: str
    client_id: str
    duplicate: bool
    acked_at: float = 0.0  # time.monotonic() when the ack arrived


class Recorder(Client):
    """A Client that reports every message.created frame before its own dedupe."""

    def __init__(self, *args: Any, sink: Callable[[dict[str, Any]], None], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.sink = sink

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("op") == "event" and frame.get("seq") is not None:
            self.sink(frame)
        super()._on_frame(frame)


@dataclass
class Member:
    """One employee's connection that survives faults by reconnecting and resuming."""

    stack: Stack
    username: str
    server: int
    codec: str = "json"
    alive: Callable[[], list[int]] | None = None  # servers a reconnect may go to
    client: Recorder | None = None
    # stream → seq → message id (message.created) or the event type (others)
    received: dict[str, dict[int, str]] = field(default_factory=dict)
    arrivals: int = 0  # every stream event frame that arrived, repeats included
    repeats: int = 0  # frames whose (stream, seq) this member already had, same event
    conflicts: list[tuple[str, int, str, str]] = field(default_factory=list)  # seq reused
    reconnects: int = 0
    reconnect_seconds: list[float] = field(default_factory=list)
    reconnected_at: list[float] = field(default_factory=list)  # time.monotonic() values
    retried: int = 0  # sends retried after a lost socket or an error frame
    errors: dict[str, int] = field(default_factory=dict)  # error codes seen on sends
    closed_by_server: list[int | None] = field(default_factory=list)

    def _sink(self, frame: dict[str, Any]) -> None:
        self.arrivals += 1
        stream, seq = frame["stream"], frame["seq"]
        what = frame["data"]["id"] if frame["type"] == "message.created" else frame["type"]
        seen = self.received.setdefault(stream, {})
        if seq in seen:
            if seen[seq] == what:
                self.repeats += 1
            else:
                self.conflicts.append((stream, seq, seen[seq], what))
            return
        seen[seq] = what

    async def connect(self, last_seq: dict[str, int] | None = None) -> None:
        client = Recorder(self.stack.ws_url(self.server), token=self.stack.token(self.username),
                          codec=self.codec, sink=self._sink)
        if last_seq:
            client.last_seq.update(last_seq)
        await client.connect()
        self.client = client
        if last_seq:
            reply = await client.request("resume", streams=dict(last_seq), timeout=30)
            assert reply["more"] == {}, reply
        else:
            await client.request("ping")  # live events flow from the first request on

    def is_open(self) -> bool:
        c = self.client
        return c is not None and c._reader is not None and not c._reader.done()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a network loss would."""
        if self.client is not None and self.client._ws is not None:
            self.client._ws.transport.abort()

    async def reconnect(self, deadline_s: float = 60.0, prefer: int | None = None) -> None:
        """Open a socket on the next live server and resume from the last seqs seen."""
        started = time.monotonic()
        old = self.client
        assert old is not None
        if old._reader is not None and not old._closed_by_us:
            # The reader records the close code once it has seen the connection end.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(old._reader), 2.0)
        self.closed_by_server.append(old.close_code)
        last = dict(old.last_seq)
        with contextlib.suppress(Exception):
            await old.close()
        delay = 0.05
        attempt = 0
        while True:
            servers = self.alive() if self.alive is not None else [self.server]
            if prefer is not None and prefer in servers:
                order = sorted(servers, key=lambda s: (s != prefer, s))
            else:
                order = sorted(servers, key=lambda s: (s == self.server, s))
            self.server = order[attempt % len(order)]
            attempt += 1
            try:
                await self.connect(last)
                break
            except (OSError, TimeoutError, ConnectionLost, ColloquyError, Exception) as exc:
                if time.monotonic() - started > deadline_s:
                    raise AssertionError(
                        f"{self.username} could not reconnect in {deadline_s}s: {exc!r}"
                    ) from exc
                if self.client is not None and self.client is not old:
                    with contextlib.suppress(Exception):
                        await self.client.close()
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)
        self.reconnects += 1
        self.reconnect_seconds.append(time.monotonic() - started)
        self.reconnected_at.append(time.monotonic())

    async def ensure_open(self) -> None:
        if not self.is_open():
            await self.reconnect()

    async def send(self, room: int, body: str, client_id: str,
                   deadline_s: float = 90.0) -> Ack:
        """message.send until acked; retries keep the client_id, so it is idempotent."""
        started = time.monotonic()
        backoff = 0.1
        while True:
            if time.monotonic() - started > deadline_s:
                raise AssertionError(f"{client_id} not acked within {deadline_s}s ({self.errors})")
            try:
                if not self.is_open():
                    await self.reconnect()
                assert self.client is not None
                reply = await self.client.request("message.send", room=room, body=body,
                                                  client_id=client_id, timeout=15)
                return Ack(room, reply["seq"], reply["id"], self.username, client_id,
                           reply["duplicate"], time.monotonic())
            except (ConnectionLost, TimeoutError) as exc:
                self.retried += 1
                kind = "lost" if isinstance(exc, ConnectionLost) else "timeout"
                self.errors[kind] = self.errors.get(kind, 0) + 1
                if isinstance(exc, TimeoutError) and self.is_open():
                    continue
                await self.reconnect()
            except ColloquyError as exc:
                self.retried += 1
                self.errors[exc.code] = self.errors.get(exc.code, 0) + 1
                if exc.code not in ("rate_limited", "internal"):
                    raise
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 2.0)

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()


class Chat:
    """Rooms, their members on chosen servers, numbered messages and every ack."""

    def __init__(self, stack: Stack, *, rooms: int, members_per_room: int,
                 servers: list[int], name: str = "chat") -> None:
        self.stack = stack
        self.name = name
        self.n_rooms = rooms
        self.per_room = members_per_room
        self.servers = servers
        self.down: set[int] = set()
        self.members: dict[str, Member] = {}
        self.rooms: dict[int, list[str]] = {}  # room id → usernames
        self.acks: dict[str, Ack] = {}  # client_id → ack
        self.sent_at: dict[str, float] = {}
        self.ack_latency: list[float] = []
        self.started = time.monotonic()
        self._counter = 0

    def alive(self) -> list[int]:
        return [s for s in self.servers if s not in self.down]

    async def open(self, codecs: tuple[str, ...] = ("json", "msgpack")) -> Chat:
        stack = self.stack
        names = [stack.new_user() for _ in range(self.n_rooms * self.per_room)]
        await asyncio.to_thread(stack.issue_tokens, names)
        for i, name in enumerate(names):
            self.members[name] = Member(stack, name, self.servers[i % len(self.servers)],
                                        codecs[i % len(codecs)], alive=self.alive)
        await asyncio.gather(*(m.connect() for m in self.members.values()))
        for r in range(self.n_rooms):
            group = names[r * self.per_room:(r + 1) * self.per_room]
            # Neighbouring rooms share a member, so one socket carries two rooms.
            if self.n_rooms > 1:
                group = [*group, names[((r + 1) * self.per_room) % len(names)]]
            owner = self.members[group[0]]
            assert owner.client is not None
            reply = await owner.client.request(
                "rooms.create", name=f"{self.name}-{r}", members=group[1:])
            room = reply["room"]["id"]
            self.rooms[room] = group
        # Every member's socket has heard about its rooms (room.added) before traffic.
        for room, group in self.rooms.items():
            for name in group:
                await wait_for(lambda m=self.members[name], s=f"room:{room}":
                               s in m.received, f"{name} to join room {room}", timeout=15,
                               every=0.02)
        return self

    def rooms_of(self, username: str) -> list[int]:
        return [r for r, group in self.rooms.items() if username in group]

    async def say(self, member: Member, room: int | None = None) -> Ack:
        self._counter += 1
        n = self._counter
        room = room if room is not None else random.choice(self.rooms_of(member.username))
        client_id = f"{self.name}-{member.username}-{n}"
        t0 = time.monotonic()
        self.sent_at[client_id] = t0
        ack = await member.send(room, f"{self.name} message {n} from {member.username}",
                                client_id)
        self.ack_latency.append(time.monotonic() - t0)
        previous = self.acks.get(client_id)
        assert previous is None, f"{client_id} acked twice"
        self.acks[client_id] = ack
        return ack

    async def talk(self, member: Member, until: float, interval: float,
                   stop: asyncio.Event | None = None) -> int:
        """Send a message every ~interval seconds until the monotonic time `until`."""
        sent = 0
        while time.monotonic() < until and not (stop and stop.is_set()):
            await self.say(member)
            sent += 1
            await asyncio.sleep(interval * (0.5 + random.random()))
        return sent

    async def run(self, seconds: float, interval: float,
                  during: Callable[[], Any] | None = None) -> None:
        """Every member talks for `seconds`; `during` (a coroutine) runs alongside."""
        until = time.monotonic() + seconds
        talkers = [self.talk(m, until, interval) for m in self.members.values()]
        if during is not None:
            talkers.append(during())
        await asyncio.gather(*talkers)

    async def settle(self, timeout: float = 60.0) -> float:
        """Reconnect closed sockets, wait until every member has every acked message."""
        t0 = time.monotonic()
        for m in self.members.values():
            await m.ensure_open()
        try:
            await wait_for(lambda: not self.missing(), "every member to have every message",
                           timeout=timeout, every=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.describe_missing()}") from None
        await asyncio.sleep(0.3)  # anything repeated would have arrived by now
        return time.monotonic() - t0

    async def wait_persisted(self, timeout: float = 60.0, lost_ok: int = 0) -> float:
        """Wait until the persister has acknowledged everything; returns the seconds waited."""
        t0 = time.monotonic()
        want = len({a.id for a in self.acks.values()}) - lost_ok
        await wait_for(lambda: journal_lag(self.stack) == 0 and len(self.persisted()) >= want,
                       f"{want} messages in Postgres and an empty journal", timeout=timeout,
                       every=0.25)
        return time.monotonic() - t0

    def missing(self, acks: list[Ack] | None = None) -> dict[str, list[tuple[int, int]]]:
        """username → [(room, seq)] of acked messages that member has not received."""
        out: dict[str, list[tuple[int, int]]] = {}
        for ack in self.acks.values() if acks is None else acks:
            for name in self.rooms[ack.room]:
                got = self.members[name].received.get(f"room:{ack.room}", {}).get(ack.seq)
                if got != ack.id:
                    out.setdefault(name, []).append((ack.room, ack.seq))
        return out

    def describe_missing(self) -> str:
        """Who lacks what, with what each such member's socket had seen."""
        lines = []
        by_seq = {(a.room, a.seq): a for a in self.acks.values()}
        for name, gaps in sorted(self.missing().items()):
            m = self.members[name]
            client = m.client
            lines.append(
                f"{name} (server {m.server}, {m.reconnects} reconnects, open={m.is_open()}, "
                f"closes={m.closed_by_server}) lacks {len(gaps)}: "
                + ", ".join(
                    f"room {r} seq {q} (acked {by_seq[(r, q)].acked_at - self.started:.1f}s, "
                    f"by {by_seq[(r, q)].author}, dup={by_seq[(r, q)].duplicate})"
                    for r, q in gaps[:4])
                + f"; last_seq={ {k: v for k, v in (client.last_seq if client else {}).items()} }"
                + f"; reconnected at {[round(t - self.started, 1) for t in m.reconnected_at]}")
        return " | ".join(lines[:8]) + f" ({len(lines)} members short)"

    def persisted(self) -> dict[str, tuple[int, int, str]]:
        """message id → (room, seq, client_id) for this chat's rooms, from Postgres."""
        rows = self.stack.sql(
            "SELECT id, room_id, seq, client_id FROM rooms_message WHERE room_id = ANY(?)",
            list(self.rooms))
        out: dict[str, tuple[int, int, str]] = {}
        for mid, room, seq, cid in rows:
            assert mid not in out
            out[mid] = (room, seq, cid)
        return out

    def stream_events(self) -> list[tuple[str, int, str]]:
        return [(s, q, t) for s, q, t in self.stack.sql(
            "SELECT stream, seq, type FROM realtime_streamevent WHERE stream = ANY(?)"
            " ORDER BY stream, seq", [f"room:{r}" for r in self.rooms])]

    def tally(self) -> dict[str, int]:
        """The end state's numbers, without asserting anything (for reports)."""
        stored = self.persisted()
        ids = {a.id for a in self.acks.values()}
        return {
            "acked": len(self.acks),
            "persisted": len(stored),
            "acked_not_persisted": len(ids - set(stored)),
            "persisted_not_acked": len(set(stored) - ids),
            "deliveries": sum(len(self.rooms[a.room]) for a in self.acks.values()),
            "deliveries_missing": sum(len(v) for v in self.missing().values()),
            "members_short": len(self.missing()),
            "repeats": sum(m.repeats for m in self.members.values()),
            "seq_conflicts": sum(len(m.conflicts) for m in self.members.values()),
            "duplicate_acks": sum(a.duplicate for a in self.acks.values()),
        }

    def verify(self, *, lost_ok: set[str] = frozenset(),  # type: ignore[assignment]
               check_repeats: bool = True) -> dict[str, int]:
        """Every acked message (but `lost_ok`) in Postgres exactly once; every member got all.

        With check_repeats, also that no member was sent one event twice (the
        socket's ordering rule). Returns the counts it checked.
        """
        by_id: dict[str, Ack] = {}
        for ack in self.acks.values():
            assert ack.id not in by_id, f"two client_ids acked with one id: {ack}"
            by_id[ack.id] = ack
        stored = self.persisted()
        expect = {a.id for a in self.acks.values() if a.client_id not in lost_ok}
        missing = sorted(expect - set(stored))
        extra = sorted(set(stored) - set(by_id))
        assert missing == [], f"{len(missing)} acked messages not in Postgres: {missing[:10]}"
        assert extra == [], f"{len(extra)} messages in Postgres nobody got an ack for: {extra}"
        for mid, (room, seq, cid) in stored.items():
            ack = by_id[mid]
            assert (room, seq, cid) == (ack.room, ack.seq, ack.client_id), (mid, ack)
        # The event log: each (stream, seq) once; each acked message's seq exactly once.
        events = self.stream_events()
        keys = [(s, q) for s, q, _ in events]
        assert len(keys) == len(set(keys)), "a (stream, seq) stored twice"
        created = [(s, q) for s, q, t in events if t == "message.created"]
        assert sorted(created) == sorted(
            (f"room:{by_id[m].room}", by_id[m].seq) for m in stored
        ), "message.created events in Postgres differ from the acked messages"
        missing_live = self.missing()
        assert not missing_live, {
            k: v[:5] for k, v in missing_live.items()} | {"members short": len(missing_live)}
        repeats = sum(m.repeats for m in self.members.values())
        conflicts = [c for m in self.members.values() for c in m.conflicts]
        client_dupes = sum(m.client.duplicates for m in self.members.values() if m.client)
        assert conflicts == [], f"a seq carried two different events: {conflicts[:5]}"
        if check_repeats:
            assert repeats == 0, f"{repeats} events delivered twice to one member"
            assert client_dupes == 0
        deliveries = sum(len(self.rooms[a.room]) for a in self.acks.values()
                         if a.client_id not in lost_ok)
        return {"acked": len(self.acks), "persisted": len(stored), "deliveries": deliveries,
                "duplicate_acks": sum(a.duplicate for a in self.acks.values()),
                "repeats": repeats}

    async def close(self) -> None:
        await asyncio.gather(*(m.close() for m in self.members.values()))


# --- soak ---------------------------------------------------------------------------


@dataclass
class SoakResult:
    seconds: float
    clients: int
    rooms: int
    counts: dict[str, int]
    drops: dict[str, int]
    reconnects: int
    rss_kib: dict[str, list[tuple[float, int]]]  # process → [(t, VmRSS KiB)]
    settle_s: float | None
    persist_s: float | None
    ack_p50_ms: float
    ack_p99_ms: float
    error_lines: dict[str, int]  # server/persister log lines at ERROR, by logger
    failures: list[str]  # what verify() and settle() said, if anything

    def rss_summary(self) -> dict[str, dict[str, float]]:
        """Per process: median RSS in the 25-40% window, in the last 15%, the peak, growth."""
        out = {}
        for proc, samples in self.rss_kib.items():
            if not samples:
                continue
            span = samples[-1][0]
            base = [k for t, k in samples if 0.25 * span <= t <= 0.4 * span]
            end = [k for t, k in samples if t >= 0.85 * span]
            if not base or not end:
                continue
            b, e = sorted(base)[len(base) // 2], sorted(end)[len(end) // 2]
            out[proc] = {"baseline_mib": round(b / 1024, 1), "final_mib": round(e / 1024, 1),
                         "peak_mib": round(max(k for _, k in samples) / 1024, 1),
                         "start_mib": round(samples[0][1] / 1024, 1),
                         "growth": round(e / b - 1, 4)}
        return out


def error_lines(stack: Stack) -> dict[str, int]:
    """Log lines at ERROR level, counted by logger name."""
    out: dict[str, int] = {}
    for line in stack.log_text().splitlines():
        parts = line.split(" ", 4)
        if len(parts) > 3 and parts[2] == "ERROR":
            out[parts[3]] = out.get(parts[3], 0) + 1
    return out


async def run_soak(stack: FaultStack, *, seconds: float, clients: int, rooms: int,
                   msgs_per_second: float, drops_per_second: float,
                   log: Callable[[str], None] = print) -> SoakResult:
    """`clients` members in `rooms` rooms chat for `seconds` while sockets drop at random.

    Drops come in three kinds: an abort (TCP reset, no close frame) between sends,
    a clean close between sends, and an abort while a message.send is in flight
    (the retry with the same client_id must not make a second message).
    The result carries the failures instead of raising, so that the numbers are
    reported either way.
    """
    per_room = max(2, clients // rooms)
    chat = Chat(stack, rooms=rooms, members_per_room=per_room, servers=[0, 1], name="soak")
    t_open = time.monotonic()
    await chat.open()
    log(f"soak: {len(chat.members)} sockets in {len(chat.rooms)} rooms open in "
        f"{time.monotonic() - t_open:.1f}s")
    members = list(chat.members.values())
    interval = len(members) / msgs_per_second
    p_drop = drops_per_second / msgs_per_second
    drops = {"abort": 0, "close": 0, "abort_in_flight": 0}
    rss: dict[str, list[tuple[float, int]]] = {name: [] for name in stack.pids()}
    started = time.monotonic()
    until = started + seconds

    async def member_loop(m: Member) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while time.monotonic() < until:
            roll = random.random()
            if roll < p_drop:
                kind = random.choice(list(drops))
                drops[kind] += 1
                if kind == "abort_in_flight":
                    sending = asyncio.ensure_future(chat.say(m))
                    await asyncio.sleep(random.uniform(0, 0.01))
                    m.abort()
                    await sending
                    # The ack may have beaten the abort: then say() had no reason
                    # to reconnect, and the member is still cut off. Every drop
                    # ends in exactly one reconnect.
                    await m.ensure_open()
                else:
                    if kind == "abort":
                        m.abort()
                    else:
                        await m.client.close()  # type: ignore[union-attr]
                    await m.reconnect(prefer=random.choice([0, 1]))
            else:
                await chat.say(m)
            pause = random.expovariate(1 / interval)
            await asyncio.sleep(max(0.0, min(pause, until - time.monotonic())))

    async def sample_rss() -> None:
        while time.monotonic() < until:
            t = time.monotonic() - started
            for name, pid in stack.pids().items():
                rss.setdefault(name, []).append((t, vm_rss_kib(pid)))
            await asyncio.sleep(1.0)

    async def progress() -> None:
        while time.monotonic() < until:
            await asyncio.sleep(15)
            mib = {k: v[-1][1] // 1024 for k, v in rss.items() if v}
            log(f"soak: t={time.monotonic() - started:.0f}s acked={len(chat.acks)} "
                f"drops={sum(drops.values())} rss_mib={mib}")

    await asyncio.gather(*(member_loop(m) for m in members), sample_rss(), progress())
    elapsed = time.monotonic() - started
    failures: list[str] = []
    settle_s: float | None = None
    persist_s: float | None = None
    try:
        settle_s = await chat.settle(timeout=30)
    except AssertionError as exc:
        failures.append(str(exc))
    try:
        persist_s = await chat.wait_persisted(timeout=60)
    except AssertionError as exc:
        failures.append(str(exc))
    if not failures:
        try:
            chat.verify()
        except AssertionError as exc:
            failures.append(str(exc))
    lat = sorted(chat.ack_latency)
    result = SoakResult(
        seconds=elapsed, clients=len(members), rooms=len(chat.rooms), counts=chat.tally(),
        drops=drops, reconnects=sum(m.reconnects for m in members), rss_kib=rss,
        settle_s=settle_s, persist_s=persist_s,
        ack_p50_ms=round(1000 * lat[len(lat) // 2], 1),
        ack_p99_ms=round(1000 * lat[int(0.99 * (len(lat) - 1))], 1),
        error_lines=error_lines(stack), failures=failures,
    )
    await chat.close()
    return result
