"""Real server processes for the tests: the server, the persister, Postgres, Redis.

`Stack` starts one profile from scratch in a throwaway database (and Redis key
prefix), with a pool of employees made in one go, and hands out fresh users so
tests never share state. Embedded: one server. Services: two server processes
sharing Redis (server 0 and 1) and one `manage.py persister`. The server is the
production one (`python -m realtime.serve`: uvicorn) unless the stack is named
with a server ("services-daphne"); COLLOQUY_TEST_SERVER changes the default.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import html.parser
import http.cookiejar
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidStatus

from colloquy_client import Client, ColloquyError

ROOT = Path(__file__).resolve().parent.parent
SERVER = os.environ.get("COLLOQUY_TEST_SERVER", "uvicorn")
PASSWORD = "pw-test-only"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_DB = 9  # tests use their own Redis database and a per-run key prefix

# Employees made up front per stack; the whole suite takes about a thousand.
POOL = {"employee": 3000, "guest": 200, "moderator": 50, "executive": 30}
# Usernames are the role's letter and a number: e0001, g0001, m0001, x0001.
PREFIX = {"employee": "e", "guest": "g", "moderator": "m", "executive": "x"}
PRESENCE_TTL = 4.0
OFFLINE_DELAY = 1.5

# `manage.py shell -c` source that makes the pool: one process, one password
# hash, one bulk insert; hundreds of users in about a second.
FAST_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"
POOL_SCRIPT = (
    "from django.contrib.auth.hashers import make_password\n"
    "from core.models import Employee\n"
    f"h = make_password({PASSWORD!r})\n"
    f"pool = {json.dumps(POOL)}\n"
    f"prefix = {json.dumps(PREFIX)}\n"
    "Employee.objects.bulk_create([Employee(username=f'{prefix[r]}{i:04d}', password=h,"
    " display_name=f'{r.title()} {i}', role=r) for r, n in pool.items()"
    " for i in range(1, n + 1)])\n"
)


# Every module holding an OPS table of ops it registers.
OP_TABLES = [Path("consumers") / "ops.py", Path("roundtables") / "ops.py"]


def ops_in_source() -> list[str]:
    """The keys of every OPS table (OP_TABLES), read without importing Django."""
    found: list[str] = []
    for module in OP_TABLES:
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            target = (getattr(node, "target", None)
                      or (getattr(node, "targets", None) or [None])[0])
            if isinstance(target, ast.Name) and target.id == "OPS":
                value = node.value  # type: ignore[attr-defined]
                found += [k.value for k in value.keys if isinstance(k, ast.Constant)]
                break
        else:
            raise AssertionError(f"no OPS table in {module}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


class Stack:
    def __init__(self, profile: str) -> None:
        """`profile` is "embedded" or "services", optionally "-<server>" ("embedded-daphne")."""
        profile, _, server = profile.partition("-")
        self.profile = profile
        self.server_kind = server or SERVER
        self.tmp = Path(tempfile.mkdtemp(prefix=f"colloquy-{profile}-"))
        self.logs: list[Path] = []
        self.servers: list[tuple[subprocess.Popen[bytes], int]] = []
        self.persister: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}
        self._ready: list[str] = []  # pool users with tokens issued, not yet handed out
        self._counters = {role: itertools.count(1) for role in POOL}
        tag = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"  # unique even within one second
        self.env = {**os.environ, "COLLOQUY_DATA_DIR": str(self.tmp / "data"),
                    "COLLOQUY_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
                    # Every event any test causes is checked against its schema.
                    "COLLOQUY_CHECK_EVENT_SCHEMAS": "1",
                    # Log-ins at test speed (realtime/settings.py, PASSWORD_HASHERS).
                    "COLLOQUY_PASSWORD_HASHERS": FAST_HASHER,
                    # The test-only stream kind (tests/boards): an app added by itself.
                    "COLLOQUY_EXTRA_APPS": "tests.boards",
                    # A small replay window, so tests reach the database path too.
                    "COLLOQUY_JOURNAL_WINDOW": "20",
                    # Presence timings scaled down so crash and debounce tests are quick.
                    "COLLOQUY_PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
                    "COLLOQUY_PRESENCE_REFRESH_SECONDS": "1",
                    "COLLOQUY_PRESENCE_OFFLINE_DELAY_SECONDS": str(OFFLINE_DELAY),
                    # No digest e-mails but in tests/test_digests.py, which turns them on.
                    "COLLOQUY_DIGEST_INTERVAL_SECONDS": "0",
                    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
        self.env.pop("DATABASE_URL", None)
        self.env.pop("REDIS_URL", None)
        if profile == "services":
            self.dbname = f"colloquy_test_{tag}"
            self.database_url = f"postgres://postgres@127.0.0.1:5432/{self.dbname}"
            self.redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
            self.env.update(
                DATABASE_URL=self.database_url, REDIS_URL=self.redis_url,
                COLLOQUY_REDIS_PREFIX=f"cqt{tag}",
                # Claim a killed persister's entries quickly in tests.
                COLLOQUY_PERSIST_CLAIM_IDLE_MS="2000",
            )

    # --- processes -------------------------------------------------------------

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, text=True,
            capture_output=True, check=check, timeout=120,
        )

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
               ) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        out = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **(extra_env or {})}, stdout=out,
            stderr=subprocess.STDOUT,
        )

    def _launch(self, port: int, extra_env: dict[str, str] | None = None
                ) -> subprocess.Popen[bytes]:
        proc = self._spawn(
            f"server-{port}",
            [sys.executable, "-m", "realtime.serve", "--port", str(port),
             "--server", self.server_kind],
            extra_env,
        )
        wait_http(f"http://127.0.0.1:{port}/healthz")
        return proc

    def start_server(self, extra_env: dict[str, str] | None = None) -> int:
        port = free_port()
        self.servers.append((self._launch(port, extra_env), port))
        return port

    def start_persister(self) -> subprocess.Popen[bytes]:
        assert self.profile == "services"
        self.persister = self._spawn("persister", [sys.executable, "manage.py", "persister"])
        return self.persister

    def kill_persister(self) -> None:
        assert self.persister is not None
        self.persister.send_signal(signal.SIGKILL)
        self.persister.wait(10)
        self.persister = None

    def kill_server(self, index: int) -> int:
        proc, port = self.servers[index]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        return port

    def restart_server(self, index: int) -> None:
        """kill -9 server `index` if it runs, then start it again on the same port."""
        proc, port = self.servers[index]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        self.servers[index] = (self._launch(port), port)

    def start(self) -> Stack:
        if self.profile == "services":
            subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {self.dbname}"],
                           check=True, capture_output=True)
        self.manage("migrate", "--noinput", "-v0")
        self._make_pool()
        self.start_server()
        if self.profile == "services":
            self.start_server()
            self.start_persister()
        return self

    def stop(self) -> None:
        procs = [p for p, _ in self.servers]
        if self.persister is not None:
            procs.append(self.persister)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.profile == "services":
            subprocess.run(["psql", PG_ADMIN, "-qc",
                            f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)"],
                           capture_output=True)
            import redis

            client = redis.Redis.from_url(self.redis_url)
            prefix = self.env["COLLOQUY_REDIS_PREFIX"]
            keys = list(client.scan_iter(f"{prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i:i + 500])

    def _make_pool(self) -> None:
        self.manage("shell", "-c", POOL_SCRIPT)

    # --- users and clients -----------------------------------------------------

    def new_user(self, role: str = "employee") -> str:
        """A username from the pool nobody else has used in this run."""
        n = next(self._counters[role])
        assert n <= POOL[role], f"the test pool has only {POOL[role]} {role}s; raise POOL"
        return f"{PREFIX[role]}{n:04d}"

    def issue_tokens(self, names: list[str]) -> dict[str, str]:
        """Bearer tokens for these pool users, issued in one process.

        POST /api/auth/token checks the password (PBKDF2, about a second per user
        on a busy machine); this goes through the same action, core.actions.
        issue_token. tests/test_auth.py covers the HTTP endpoint itself.
        """
        script = (
            "import json\n"
            "from core.actions import issue_token\n"
            "from core.models import Employee\n"
            f"users = Employee.objects.filter(username__in={names!r})\n"
            "print('TOKENS', json.dumps({u.username: issue_token(u, 'tests') for u in users}))\n"
        )
        out = self.manage("shell", "-c", script).stdout
        [line] = [x for x in out.splitlines() if x.startswith("TOKENS ")]
        tokens: dict[str, str] = json.loads(line[len("TOKENS "):])
        assert sorted(tokens) == sorted(names), out
        self.tokens.update(tokens)
        return tokens

    def user_with_token(self, batch: int = 12) -> str:
        """A fresh pool employee whose token is issued (in batches of `batch`)."""
        if not self._ready:
            names = [self.new_user() for _ in range(batch)]
            self.issue_tokens(names)
            self._ready.extend(names)
        return self._ready.pop(0)

    def http(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.servers[index % len(self.servers)][1]}"

    def ws_url(self, index: int = 0) -> str:
        return f"ws://127.0.0.1:{self.servers[index % len(self.servers)][1]}/ws/"

    def post(self, path: str, body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, index: int = 0) -> tuple[int, Any]:
        status, _, answer = self.post_raw(path, json.dumps(body or {}).encode(), headers, index)
        return status, answer

    def post_raw(self, path: str, data: bytes, headers: dict[str, str] | None = None,
                 index: int = 0) -> tuple[int, dict[str, str], Any]:
        """POST `data` as it is: the status, the response headers (lower-cased names)
        and the JSON answer."""
        req = urllib.request.Request(
            self.http(index) + path, data=data, method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, _lower(r.headers), json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _lower(e.headers), json.loads(e.read() or b"{}")

    def get_raw(self, path: str, headers: dict[str, str] | None = None,
                index: int = 0) -> tuple[int, dict[str, str], bytes]:
        """GET: the status, the response headers (lower-cased names) and the body."""
        req = urllib.request.Request(self.http(index) + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, _lower(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, _lower(e.headers), e.read()

    def token(self, username: str) -> str:
        if username not in self.tokens:
            status, body = self.post("/api/auth/token",
                                     {"username": username, "password": PASSWORD})
            assert status == 200, body
            self.tokens[username] = body["token"]
        return self.tokens[username]

    async def client(self, username: str, *, server: int = 0, codec: str = "json",
                     **kwargs: Any) -> Client:
        client = Client(self.ws_url(server), token=self.token(username), codec=codec, **kwargs)
        await client.connect()
        return client

    # --- looking at the database ----------------------------------------------

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run a read-only query against the profile's database."""
        if self.profile == "services":
            import psycopg

            with psycopg.connect(self.database_url) as conn:
                return conn.execute(query.replace("?", "%s"), args).fetchall()
        db = sqlite3.connect(self.tmp / "data" / "colloquy.sqlite3", timeout=10)
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()

    def wait_sql(self, query: str, *args: Any, expect: Any, timeout: float = 15.0) -> Any:
        """Poll a query until it returns `expect` (the persister is asynchronous)."""
        deadline = time.monotonic() + timeout
        got: Any = None
        while time.monotonic() < deadline:
            got = self.sql(query, *args)
            if got == expect:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{query} returned {got!r}, expected {expect!r}")

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


# --- helpers the test modules share ------------------------------------------------


class Users:
    """Fresh users of the stack's pool, their bearer tokens issued in one process.

    Through /api/auth/token each new user costs a password check (PBKDF2, about a
    second of CPU on a busy machine); sockets authenticate with the token either way.
    """

    def __init__(self, stack: Stack, employees: int, guests: int = 0) -> None:
        self.stack = stack
        self.free = {"employee": [stack.new_user() for _ in range(employees)],
                     "guest": [stack.new_user("guest") for _ in range(guests)]}
        stack.issue_tokens(self.free["employee"] + self.free["guest"])

    def take(self, role: str = "employee") -> str:
        """A user nobody has used; past the batch, one from the pool (token over HTTP)."""
        return self.free[role].pop(0) if self.free[role] else self.stack.new_user(role)


class Recorder(Client):
    """The test client, keeping every frame after hello in arrival order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[dict[str, Any]] = []

    def _on_frame(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        super()._on_frame(frame)

    @property
    def user(self) -> dict[str, Any]:
        """The user this socket is logged in as (from hello)."""
        assert self.hello is not None
        return self.hello["user"]

    def head(self, stream: str) -> int:
        """The stream's seq when this socket opened (from hello)."""
        assert self.hello is not None
        return self.hello["streams"][stream]

    def durable(self) -> list[dict[str, Any]]:
        """Frames other than ephemeral events (presence and typing carry no seq)."""
        return [f for f in self.frames if f.get("op") != "event" or "seq" in f]

    def stream_events(self) -> list[dict[str, Any]]:
        return [f for f in self.durable() if f.get("op") == "event"]


async def open_client(stack: Stack, username: str, *, server: int = 0,
                      last_seq: dict[str, int] | None = None, settled: bool = False,
                      **kwargs: Any) -> Recorder:
    """A connected recording client; `last_seq` is where a previous socket of this
    user stopped. `settled`: one request made (live events flow) and the frames
    before it forgotten."""
    client = Recorder(stack.ws_url(server), token=stack.token(username), **kwargs)
    client.last_seq.update(last_seq or {})
    await client.connect()
    if settled:
        await client.request("ping")
        client.frames.clear()
    return client


async def until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy, and return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def close_code_within(client: Client, timeout: float = 5.0) -> int | str | None:
    """The close code the server closed `client` with, or a note that it did not."""
    try:
        return await client.wait_closed(timeout)
    except TimeoutError:
        return f"still open {timeout:g}s later"


async def refused(client: Client, op: str, **fields: Any) -> dict[str, Any]:
    """The error frame the server answers `op` with (a test failure if it is ok)."""
    try:
        reply = await client.request(op, **fields)
    except ColloquyError as err:
        return err.frame
    raise AssertionError(f"{op} was accepted: {reply}")


async def send(client: Client, room: int, body: str, client_id: str) -> dict[str, Any]:
    """message.send, waiting out rate_limited (the retry is idempotent by client_id)."""
    while True:
        try:
            return await client.request("message.send", room=room, body=body,
                                        client_id=client_id)
        except ColloquyError as exc:
            if exc.code != "rate_limited":
                raise
            await asyncio.sleep(0.1)


def window_floor(stack: Stack, stream: str) -> int | None:
    """The oldest seq of `stream` still in the journal's replay window."""
    if stack.profile == "services":
        import redis

        client = redis.Redis.from_url(stack.redis_url)
        try:
            rows = client.xrange(f"{stack.env['COLLOQUY_REDIS_PREFIX']}:win:{stream}", count=1)
        finally:
            client.close()
        return int(rows[0][0].split(b"-")[0]) if rows else None
    db = sqlite3.connect(stack.tmp / "data" / "journal.sqlite3", timeout=10)
    try:
        return db.execute("SELECT min(seq) FROM journal WHERE stream=?", (stream,)).fetchone()[0]
    finally:
        db.close()


def inject_journal_entry(stack: Stack, stream: str, seq: int, frame: str) -> None:
    """Put an entry straight into the journal the persister reads, as if a server had
    appended it (for entries no op would ever produce)."""
    if stack.profile == "services":
        import redis

        client = redis.Redis.from_url(stack.redis_url)
        try:
            client.xadd(f"{stack.env['COLLOQUY_REDIS_PREFIX']}:journal",
                        {"s": stream, "q": seq, "f": frame})
        finally:
            client.close()
        return
    db = sqlite3.connect(stack.tmp / "data" / "journal.sqlite3", timeout=10)
    try:
        with db:
            db.execute("INSERT INTO journal(stream, seq, frame, created) VALUES (?,?,?,?)",
                       (stream, seq, frame, time.time()))
    finally:
        db.close()


def journal_lag(stack: Stack) -> int:
    """Journal entries not yet acknowledged by the persister, from /readyz."""
    with urllib.request.urlopen(stack.http(0) + "/readyz", timeout=10) as r:
        return json.loads(r.read())["persister_lag"]["entries"]


async def handshake_status(url: str, **kwargs: Any) -> int:
    """101 when the socket opens (it is closed again at once), else the HTTP status."""
    client = Client(url, **kwargs)
    try:
        await client.connect()
    except InvalidStatus as exc:
        return exc.response.status_code
    await client.close()
    return 101


@contextlib.contextmanager
def extra_server(stack: Stack, env: dict[str, str]) -> Iterator[int]:
    """One more server process with `env`; yields its index, and stops it afterwards."""
    stack.start_server(extra_env=env)
    index = len(stack.servers) - 1
    try:
        yield index
    finally:
        proc, _ = stack.servers.pop(index)
        proc.terminate()
        proc.wait(10)


async def make_room(stack: Stack, owner: str, members: list[str], codec: str = "json"
                    ) -> tuple[Client, dict[str, Any]]:
    """A client of `owner`, and the group room "Launch" it made with `members`."""
    client = await stack.client(owner, codec=codec)
    reply = await client.request("rooms.create", name="Launch", members=members)
    return client, reply["room"]



# --- state convergence -----------------------------------------------------------

State = dict[str, Any]


async def assert_converges(old: State, events: list[dict[str, Any]],
                           apply: Callable[[State, dict[str, Any]], State],
                           fetch: Callable[[], Awaitable[State]], timeout: float = 20.0) -> State:
    """`old`, a state a client fetched, with the event frames it received since
    applied in order, equals the state fetched afresh. Fetches again while they
    differ (the persister may still be writing), up to `timeout`; returns it."""
    expected = old
    for event in events:
        expected = apply(expected, event)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        fresh = await fetch()
        if fresh == expected or asyncio.get_running_loop().time() > deadline:
            assert fresh == expected, ("events applied to the old state differ from a fresh one",
                                       fresh, expected)
            return fresh
        await asyncio.sleep(0.05)

# --- round tables ---------------------------------------------------------------


def executive(stack: Stack) -> str:
    """A new executive (who may create round tables), with a token."""
    name = stack.new_user("executive")
    stack.issue_tokens([name])
    return name


async def round_table(stack: Stack, members: list[str], *, premoderation: bool = False,
                      moderators: int = 1, **extra: Any
                      ) -> tuple[Recorder, list[Recorder], dict[str, Any]]:
    """An executive host's client, moderators' clients, and the round table made for
    the members of a room of `members` (never "everyone": that would notify every
    employee of the test pool, whom other tests count notifications of)."""
    host_name = executive(stack)
    mods = Users(stack, moderators)
    mod_names = [mods.take() for _ in range(moderators)]
    host = await open_client(stack, host_name, settled=True)
    if "audience" not in extra:
        room = (await host.request("rooms.create", name="Audience",
                                   members=members))["room"]["id"]
        extra["audience"] = {"kind": "room", "room": room}
    made = await host.request("roundtable.create", title="Ask the CEO",
                              description="Quarterly round table",
                              starts_at=int(time.time() * 1000) + 3_600_000,
                              hosts=[host_name], moderators=mod_names,
                              premoderation=premoderation, **extra)
    mod_clients = [await open_client(stack, n, server=i % 2, settled=True)
                   for i, n in enumerate(mod_names)]
    return host, mod_clients, made["roundtable"]


async def round_table_viewer(stack: Stack, name: str, rt: int, server: int
                             ) -> tuple[Recorder, dict[str, Any]]:
    """An audience member's client on `server`, with the round table opened."""
    client = await open_client(stack, name, server=server, settled=True)
    return client, await client.roundtable(rt)


def round_table_events(client: Recorder, rt: int) -> list[dict[str, Any]]:
    return [f for f in client.stream_events() if f["stream"] == f"roundtable:{rt}"]



# --- the Django admin, over HTTP ------------------------------------------------

# Staff employees made per stack (keyed by its temp dir), in batches.
_STAFF: dict[str, list[str]] = {}
STAFF_PASSWORD = f"pw-staff-{secrets.token_hex(8)}"
STAFF_BATCH = 8


def make_staff(stack: Stack) -> tuple[str, str]:
    """A new admin-role employee (the Django admin login takes staff only).

    Made in batches, one manage.py call each, as manage.py create_employee would
    make them (role admin: is_staff), with one password hash for the batch.
    """
    ready = _STAFF.setdefault(str(stack.tmp), [])
    if not ready:
        names = [f"staff{secrets.token_hex(4)}" for _ in range(STAFF_BATCH)]
        script = (
            "from django.contrib.auth.hashers import make_password\n"
            "from core.models import Employee\n"
            f"h = make_password({STAFF_PASSWORD!r})\n"
            f"Employee.objects.bulk_create([Employee(username=n, password=h, role='admin',"
            f" is_staff=True, is_superuser=True) for n in {names!r}])\n"
        )
        stack.manage("shell", "-c", script)
        ready.extend(names)
    return ready.pop(0), STAFF_PASSWORD


class _FormFields(html.parser.HTMLParser):
    """The fields a browser would submit from a page's form (the first with a CSRF token)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file"):
                self.fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select is not None and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[-1] = (self._textarea, self.fields[-1][1] + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


class AdminBrowser:
    """The Django admin driven as a browser drives it: a cookie jar, its CSRF token,
    forms submitted with the fields the page holds."""

    def __init__(self, stack: Stack, username: str, password: str, index: int = 0) -> None:
        self.base = stack.http(index)
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.username, self.password = username, password

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as r:
            return str(r.read().decode())

    def login(self) -> AdminBrowser:
        self.submit("/admin/login/?next=/admin/",
                    {"username": self.username, "password": self.password})
        assert "sessionid" in self.cookies(), "the login did not set a session cookie"
        return self

    def cookies(self) -> dict[str, str]:
        return {c.name: c.value or "" for c in self.jar}

    def submit(self, path: str, changes: dict[str, str | None]) -> str:
        """GET the page, then POST its form with `changes` (None: leave the field out,
        as an unticked checkbox is left out). Returns the page answered."""
        page = self.get(path)
        assert re.search(r'name="csrfmiddlewaretoken"', page), f"no form with CSRF on {path}"
        parser = _FormFields()
        parser.feed(page)
        fields = [(k, v) for k, v in parser.fields if k not in changes]
        fields += [(k, v) for k, v in changes.items() if v is not None]
        request = urllib.request.Request(self.base + path, method="POST",
                                         data=urllib.parse.urlencode(fields).encode())
        with self.opener.open(request, timeout=30) as r:
            return str(r.read().decode())


def session_login(stack: Stack, username: str, password: str) -> tuple[str, str]:
    """Log in through Django's login form, as a browser does: the sessionid and
    csrftoken cookies the browser then holds."""
    cookies = AdminBrowser(stack, username, password).login().cookies()
    return cookies["sessionid"], cookies["csrftoken"]


class LoopThread:
    """An event loop in a thread: the sockets live there, hypothesis stays synchronous."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="arena", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
