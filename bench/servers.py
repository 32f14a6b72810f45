"""Server processes under test, and what /proc says about them.

Every process here is started by the bench, pinned with sched_setaffinity
before exec (so all its threads inherit the core), given the hard fd limit,
and stopped by its own PID. Nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The tests start their servers the same way (tests/stack.py).
from tests.stack import free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_BASE = "redis://127.0.0.1:6379"
REDIS_DB = 11  # the bench's own Redis database (tests use 9)
STOCK_REDIS_DB = 12
PASSWORD = "pw-bench-only"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- /proc -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def redis_pid() -> int | None:
    import redis

    try:
        return int(redis.Redis.from_url(REDIS_BASE, socket_timeout=2).info("server")["process_id"])
    except Exception:
        return None


class CpuMeter:
    """CPU seconds used by a set of processes between start() and stop()."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = {k: v for k, v in pids.items() if v}
        self.start()

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                out[name] = cpu_seconds(pid)
        return out

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.c0 = self._read()
        self.m0 = machine_busy_s()

    def stop(self) -> dict[str, float]:
        c1 = self._read()
        m1 = machine_busy_s()
        wall = time.monotonic() - self.t0
        out = {f"{k}_cpu_s": round(c1[k] - self.c0.get(k, c1[k]), 3) for k in c1}
        out["wall_s"] = round(wall, 3)
        # Everything else the machine did meanwhile (other sessions, Postgres…): on a
        # shared box this says how much a step's numbers were disturbed.
        busy = m1 - self.m0
        ours = sum(v for k, v in out.items() if k.endswith("_cpu_s"))
        out["machine_busy_cores"] = round(busy / wall, 2)
        out["other_cores"] = round(max(0.0, busy - ours) / wall, 2)
        return out


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


# --- processes ---------------------------------------------------------------------


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def _preexec(cpus: list[int] | None) -> Any:
    def setup() -> None:
        if cpus:
            os.sched_setaffinity(0, set(cpus))
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return setup


class Proc:
    """A process the bench started; stopped by its PID only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path,
                 cpus: list[int] | None = None) -> None:
        self.name = name
        self.log = logdir / f"{name}.log"
        out = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, preexec_fn=_preexec(cpus))
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""


def daphne_argv(port: int, app: str) -> list[str]:
    # An explicit endpoint for the listen backlog: Twisted's default of 50 turns a
    # thousand simultaneous connects into SYN retries (1 s, 3 s…), not into load.
    return [PY, "-m", "daphne", "-e", f"tcp:port={port}:interface=127.0.0.1:backlog=4096",
            "--websocket_timeout", "-1", "-v", "0", app]


def uvicorn_argv(port: int, app: str, ws: str) -> list[str]:
    return [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--ws", ws, "--lifespan", "off", "--backlog", "4096", "--no-access-log",
            "--log-level", "warning"]


def have_serve() -> bool:
    """`python -m realtime.serve`, the production entry point (uvicorn on uvloop)."""
    return (ROOT / "realtime" / "serve.py").exists()


def serve_argv(port: int, server: str = "uvicorn") -> list[str]:
    return [PY, "-m", "realtime.serve", "--host", "127.0.0.1", "--port", str(port),
            "--server", server]


def default_server() -> str:
    """What Colloquy runs on in the bench: the production entry point when it exists."""
    return "serve" if have_serve() else "uvicorn:websockets"


def have_uvicorn() -> bool:
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


# --- Colloquy ----------------------------------------------------------------------


class ColloquyStack:
    """One profile of Colloquy in a throwaway database, with a pool of users and tokens."""

    # Bench-only settings: the sender must not be rate limited; one call creates the
    # 1,000-member room; logging at WARNING so log lines are not what is measured.
    BENCH_ENV = {
        "COLLOQUY_RATE_PER_SECOND": "1000000",
        "COLLOQUY_RATE_BURST": "1000000",
        "COLLOQUY_EMPLOYEE_RATE_PER_SECOND": "1000000",
        "COLLOQUY_EMPLOYEE_RATE_BURST": "1000000",
        "COLLOQUY_MAX_INVITE_BATCH": "20000",
        "COLLOQUY_LOG_LEVEL": "WARNING",
        # The question fan-out ladder asks up to hundreds of questions a second from one
        # employee: the per-author limit (5 a minute) would refuse the ladder, not
        # measure it. The limit's COUNT still runs on every ask, so its cost is measured.
        "COLLOQUY_ROUNDTABLE_QUESTIONS_PER_MINUTE": "1000000",
        "PYTHONUNBUFFERED": "1",
    }

    def __init__(self, profile: str, logdir: Path) -> None:
        self.profile = profile
        self.logdir = logdir
        self.tag = secrets.token_hex(4)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"colloquy-bench-{profile}-"))
        self.procs: list[Proc] = []
        self.users: list[dict[str, Any]] = []
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        env.update(self.BENCH_ENV)
        env["COLLOQUY_DATA_DIR"] = str(self.tmp / "data")
        if profile == "services":
            self.dbname = f"colloquy_bench_{self.tag}"
            self.database_url = f"postgres://postgres@127.0.0.1:5432/{self.dbname}"
            env.update(DATABASE_URL=self.database_url, REDIS_URL=f"{REDIS_BASE}/{REDIS_DB}",
                       COLLOQUY_REDIS_PREFIX=f"cqb{self.tag}")
        self.env = env

    def manage(self, *args: str) -> str:
        done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, text=True,
                              capture_output=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def setup(self, n_users: int, roles: dict[int, str] | None = None) -> None:
        """`n_users` employees b00000…, each with a token; `roles`: index → role for the
        few who are not plain employees (an executive creates round tables)."""
        if self.profile == "services":
            subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {self.dbname}"],
                           check=True, capture_output=True)
        self.manage("migrate", "--noinput", "-v0")
        # One process, one password hash, one bulk insert of users and of tokens.
        script = f"""
import json
from django.contrib.auth.hashers import make_password
from core.models import ApiToken, Employee, digest
h = make_password({PASSWORD!r})
n, tag, roles = {n_users}, {self.tag!r}, {dict(roles or {})!r}
Employee.objects.bulk_create([Employee(username=f"b{{i:05d}}", password=h,
    display_name=f"Bench {{i}}", role=roles.get(i, "employee")) for i in range(n)],
    batch_size=2000)
rows = list(Employee.objects.filter(username__startswith="b").order_by("username")
            .values_list("id", "username"))
ApiToken.objects.bulk_create([ApiToken(user_id=pk, digest=digest(f"cqb_{{tag}}_{{u}}"),
    prefix=f"cqb_{{tag}}"[:10], label="bench") for pk, u in rows], batch_size=2000)
print(json.dumps(rows))
"""
        rows = json.loads(self.manage("shell", "-c", script).strip().splitlines()[-1])
        self.users = [{"id": pk, "username": u, "token": f"cqb_{self.tag}_{u}"}
                      for pk, u in rows]

    def start_server(self, server: str = "", cpus: list[int] | None = None,
                     name: str | None = None) -> tuple[Proc, int]:
        """`server`: "serve" (realtime.serve, uvicorn), "serve:daphne" (realtime.serve's
        daphne), "daphne" (daphne started directly) or "uvicorn:<ws implementation>"."""
        server = server or default_server()
        port = free_port()
        if server == "serve":
            argv = serve_argv(port)
        elif server.startswith("serve:"):
            argv = serve_argv(port, server.split(":", 1)[1])
        elif server == "daphne":
            argv = daphne_argv(port, "asgi:application")
        else:  # "uvicorn:<ws implementation>"
            argv = uvicorn_argv(port, "asgi:application", server.split(":", 1)[1])
        proc = Proc(name or f"colloquy-{self.profile}-{server.replace(':', '-')}-{port}",
                    argv, self.env, self.logdir, cpus)
        self.procs.append(proc)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", 60)
        except RuntimeError:
            raise RuntimeError(f"server did not start:\n{proc.tail()}") from None
        return proc, port

    def start_persister(self, cpus: list[int] | None = None) -> Proc:
        proc = Proc(f"persister-{self.tag}-{len(self.procs)}", [PY, "manage.py", "persister"],
                    self.env, self.logdir, cpus)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.profile == "services":
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True) as conn:
                return conn.execute(query.replace("?", "%s"), args).fetchall()
        db = sqlite3.connect(self.tmp / "data" / "colloquy.sqlite3", timeout=10)
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()

    def teardown(self) -> None:
        for proc in list(self.procs):
            proc.stop()
        self.procs.clear()
        if self.profile == "services":
            subprocess.run(["psql", PG_ADMIN, "-qc",
                            f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)"],
                           capture_output=True)
            delete_redis_prefix(f"{REDIS_BASE}/{REDIS_DB}", f"cqb{self.tag}")


def delete_redis_prefix(url: str, prefix: str) -> None:
    import redis

    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(url, socket_timeout=10)
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        keys += list(client.scan_iter(f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])


# --- baselines ---------------------------------------------------------------------


def start_stock(logdir: Path, cpus: list[int] | None) -> tuple[Proc, int, str]:
    port = free_port()
    prefix = f"stockbench{secrets.token_hex(3)}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.baselines.stock_channels.settings",
           "STOCK_REDIS_URL": f"{REDIS_BASE}/{STOCK_REDIS_DB}", "STOCK_PREFIX": prefix,
           "PYTHONUNBUFFERED": "1"}
    proc = Proc(f"stock-channels-{port}",
                daphne_argv(port, "bench.baselines.stock_channels.asgi:application"),
                env, logdir, cpus)
    wait_port(port)
    return proc, port, prefix


def start_pure(logdir: Path, cpus: list[int] | None) -> tuple[Proc, int]:
    port = free_port()
    proc = Proc(f"pure-asyncio-{port}",
                [PY, "-m", "bench.baselines.pure_asyncio", "--port", str(port)],
                {**os.environ, "PYTHONUNBUFFERED": "1"}, logdir, cpus)
    wait_port(port)
    return proc, port
