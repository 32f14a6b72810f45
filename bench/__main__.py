"""Colloquy benchmark harness.

    python -m bench                 # short mode, a few minutes
    python -m bench --full          # every scenario at full size, + daphne; about 30-40 min
    python -m bench --only fanout,idle --profiles embedded
    python -m bench --only pure     # just the pure asyncio baseline (or: stock)

Scenarios (each reports delivered messages/s, delivery latency p50/p99/max from
the send timestamp in the body to receipt, loss and duplicates, server CPU µs
per delivery from /proc/<pid>/stat, server RSS, and the load client's own CPU):

  fanout      1,000 members in one room, one sender, paced rate stepped up until
              p99 > 150 ms or any loss; JSON and msgpack; the highest rate that held
  reactions   the same ladder with reaction.add / reaction.remove instead of messages
              (each op is one reaction event to all 1,000; JSON; reported as
              "fanout_reactions" next to the message ladders, with the same ratios)
  roundtable  a live round table on two server processes (one on embedded): the 1,000
              members open it (roundtable.get) and vote on its 10 questions within 5 s
              (ranking events per viewer against their bound, final counts, zero loss,
              vote ack latency); then the fan-out ladder with question.ask into it instead of
              message.send ("fanout_questions", with the same ratios as messages)
  ackhalf     ack latency p99 while fan-out runs at half that rate (+ a probe chat)
  resume      1,000 clients reconnect at once and each resumes 100 missed messages
  rooms       100 rooms x 10 members, everyone chatting, total rate stepped up
  idle        N connections held by one server process: RSS per connection, connect rate
  persist     a burst of messages; persister throughput and lag from ack to row
  baselines   the same fan-out against stock Channels and a bare asyncio broadcast
              (`pure` or `stock` alone: one of them)

Colloquy is served the production way, `python -m realtime.serve` (uvicorn on
uvloop); `--daphne` (always in --full) adds a JSON fan-out ladder on daphne
serving the same app, for comparison.

The server is pinned to core 0 and the load worker to core 1 (`--no-pin` to
let them float). Results go to bench/out/ as JSON and a markdown summary.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import contextlib
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import servers
from bench.loadgen import percentiles, raise_nofile, worker_main
from bench.servers import ColloquyStack, CpuMeter, Proc, rss_kib

OUT = Path(__file__).resolve().parent / "out"
P99_TARGET_MS = 150.0

SHORT: dict[str, Any] = {
    "mode": "short", "receivers": 1000, "step_s": 2.0, "growth": 1.5, "bisect": 1,
    # The cap is past every server's limit here (merged writes let Colloquy
    # pass 200 msgs/s into 1,000 members), so the ladder finds the limit.
    "fan_start": 8.0, "fan_cap": 500.0, "drain_max": 10.0, "stall": 3.0,
    "stock_rates": [0.5, 1.0, 2.0, 4.0], "stock_step_s": 6.0,
    "chat_start": 20.0, "chat_step_s": 3.0,
    "ackhalf_s": 5.0, "idle_n": 2000, "burst_n": 10000, "resume_clients": 1000,
    "resume_missed": 100, "daphne": False, "resume_paced": False, "resume_limit": 60.0,
    # Round tables: the votes are sent within this window (the issue: "within 5 s").
    "rt_vote_s": 4.0, "rt_questions": 10,
}
FULL: dict[str, Any] = {
    # 6-second steps: at the rates that matter (>= 20 msgs/s) a step is >= 120,000
    # deliveries; the whole --full ran in 6 minutes with 4-second steps here.
    **SHORT, "mode": "full", "step_s": 6.0, "growth": 1.5, "bisect": 2,
    "drain_max": 20.0, "stall": 5.0, "stock_rates": [0.5, 1.0, 2.0, 3.0, 4.0, 6.0],
    "stock_step_s": 10.0, "chat_step_s": 5.0, "ackhalf_s": 15.0, "idle_n": 10000,
    "burst_n": 100000, "daphne": True, "resume_paced": True, "resume_limit": 120.0,
}
# Sockets the question fan-out ladder asks from, in turn (see colloquy_roundtable_questions).
RT_ASKERS = 10

SCENARIOS = ["fanout", "reactions", "roundtable", "ackhalf", "resume", "rooms", "idle",
             "persist", "baselines"]
BASELINES = ["pure", "stock"]  # `--only pure` / `--only stock`: one baseline


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- the load worker ------------------------------------------------------------------


class Load:
    """The load worker process, driven over a pipe."""

    def __init__(self, cpus: list[int] | None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker_main, args=(child, cpus), daemon=True)
        self.proc.start()
        assert self.proc.pid is not None
        self.pid: int = self.proc.pid

    def call(self, cmd: str, timeout: float = 900.0, during: Any = None, **args: Any) -> Any:
        self.start(cmd, **args)
        return self.result(cmd, timeout, during)

    def start(self, cmd: str, **args: Any) -> None:
        """Send a command without waiting: it runs while this process drives another."""
        self.conn.send((cmd, args))

    def result(self, cmd: str, timeout: float = 900.0, during: Any = None) -> Any:
        deadline = time.monotonic() + timeout
        while not self.conn.poll(0.05):
            if during is not None:
                during()
            if not self.proc.is_alive():
                raise RuntimeError(f"load worker died during {cmd}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"load worker: {cmd} took over {timeout}s")
        status, result = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"load worker {cmd} failed:\n{result}")
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc.is_alive():
                self.call("exit", timeout=20)
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


# --- helpers ------------------------------------------------------------------------


def held(step: dict[str, Any], p99_ms: float = P99_TARGET_MS) -> bool:
    lat = step["latency_ms"]
    return (step["loss"] == 0 and step["dups"] == 0 and not step["receivers_closed"]
            and not step["ack_errors"] and step["unacked"] == 0 and step["delivered"] > 0
            and lat["p99"] is not None and lat["p99"] <= p99_ms)


def annotate(step: dict[str, Any], cpu: dict[str, float], server_pid: int | None,
             load_pid: int) -> dict[str, Any]:
    step["cpu"] = cpu
    if server_pid:
        with contextlib.suppress(OSError):
            step["server_rss_kib"] = rss_kib(server_pid)
    with contextlib.suppress(OSError):
        step["client_rss_kib"] = rss_kib(load_pid)
    delivered = step.get("delivered") or step.get("events") or 0
    if "server_cpu_s" in cpu:
        step["server_cpu_share"] = round(cpu["server_cpu_s"] / cpu["wall_s"], 3)
    if not delivered:  # nothing arrived: a cost per delivery would be meaningless
        return step
    if "server_cpu_s" in cpu:
        step["server_us_per_delivery"] = round(cpu["server_cpu_s"] * 1e6 / delivered, 1)
        step["server_cpu_share"] = round(cpu["server_cpu_s"] / cpu["wall_s"], 3)
    if "redis_cpu_s" in cpu:
        step["redis_us_per_delivery"] = round(cpu["redis_cpu_s"] * 1e6 / delivered, 2)
    if "client_cpu_s" in cpu:
        step["client_us_per_delivery"] = round(cpu["client_cpu_s"] * 1e6 / delivered, 1)
        step["client_cpu_share"] = round(cpu["client_cpu_s"] / cpu["wall_s"], 3)
    return step


def settle(pids: list[int | None], idle_share: float = 0.25, limit: float = 20.0) -> float:
    """Wait (up to `limit` s) until the CPU share of `pids` (server, persister, Redis) over
    0.5 s drops below `idle_share`: connect-time work (presence writes, catch-up) must
    not land in the first step."""
    t0 = time.monotonic()
    live = [p for p in pids if p]
    while time.monotonic() - t0 < limit:
        try:
            c0 = sum(servers.cpu_seconds(p) for p in live)
            time.sleep(0.5)
            if (sum(servers.cpu_seconds(p) for p in live) - c0) / 0.5 < idle_share:
                break
        except OSError:
            break
    return round(time.monotonic() - t0, 2)


def brief(step: dict[str, Any]) -> str:
    lat = step["latency_ms"]
    return (f"rate {step['rate']:g}/s → {step.get('deliveries_per_s')} deliveries/s, "
            f"p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, loss {step['loss']}, "
            f"dups {step['dups']}, closed {step['receivers_closed']}, "
            f"server {step.get('server_us_per_delivery')} µs/delivery "
            f"({step.get('server_cpu_share')} core), client {step.get('client_cpu_share')} core, "
            f"others {step.get('cpu', {}).get('other_cores')} cores"
            + (f", ack p99 {step['ack_ms']['p99']} ms" if step.get("ack_ms") else ""))


def colloquy_spec(user: dict[str, Any], codec: str = "json") -> dict[str, Any]:
    return {"id": user["id"], "headers": {"Authorization": f"Bearer {user['token']}"},
            "subprotocol": f"colloquy.v1.{codec}"}


def pyspy_bin() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def summarize_pyspy(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive sample shares per function from py-spy's collapsed output."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        names = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 2)[-1]
                 if " (" in f else f for f in frames]
        self_c[names[-1]] += n
        for name in set(names):
            incl[name] += n
    def share(c: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / max(1, total), 1)) for k, v in c.most_common(top)]

    return {"samples": total, "self_pct": share(self_c), "inclusive_pct": share(incl)}


class SqlPoller:
    """Highest persisted seq per room, with one open connection (services or SQLite)."""

    def __init__(self, stack: ColloquyStack, rooms: list[int]) -> None:
        self.rooms = rooms
        self.profile = stack.profile
        sub = "(SELECT coalesce(max(seq), 0) FROM rooms_message WHERE room_id = {})"
        if stack.profile == "services":
            import psycopg

            self.conn: Any = psycopg.connect(stack.database_url, autocommit=True)
            self.query = "SELECT " + ", ".join(sub.format("%s") for _ in rooms)
        else:
            import sqlite3

            self.conn = sqlite3.connect(stack.tmp / "data" / "colloquy.sqlite3", timeout=10)
            self.query = "SELECT " + ", ".join(sub.format("?") for _ in rooms)
        self.polls: list[tuple[int, tuple[int, ...]]] = []

    def poll(self) -> tuple[int, ...]:
        row = tuple(self.conn.execute(self.query, self.rooms).fetchone())
        self.polls.append((time.monotonic_ns() // 1000, row))
        return row

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def lags_ms(self, acks: list[tuple[int, int, int]]) -> list[float]:
        """For each (room, seq, ack time): first poll that saw the row, minus the ack."""
        index = {room: i for i, room in enumerate(self.rooms)}
        times = [t for t, _ in self.polls]
        per_room = [[row[i] for _, row in self.polls] for i in range(len(self.rooms))]
        out = []
        for room, seq, t_ack in acks:
            col = per_room[index[room]]
            k = bisect.bisect_left(col, seq)
            if k < len(col):
                out.append(max(0.0, (times[k] - t_ack) / 1000))
        return out


async def _make_rooms(url: str, users: list[dict[str, Any]], plan: dict[str, Any]
                      ) -> dict[str, Any]:
    from colloquy_client import Client

    async def create(owner: dict[str, Any], members: list[dict[str, Any]], name: str) -> int:
        client = Client(url, token=owner["token"])
        await client.connect()
        try:
            reply = await client.request("rooms.create", timeout=300, name=name,
                                         members=[m["username"] for m in members])
            return int(reply["room"]["id"])
        finally:
            await client.close()

    out: dict[str, Any] = {}
    f = plan["fanout"]
    out["fanout"] = await create(users[f[0]], [users[i] for i in f[1:]], "Fan-out")
    p = plan["probe"]
    out["probe"] = await create(users[p[0]], [users[i] for i in p[1:]], "Probe")
    chat = []
    for k in range(0, len(plan["chat"]), 20):
        batch = plan["chat"][k:k + 20]
        chat += await asyncio.gather(*(create(users[g[0]], [users[i] for i in g[1:]],
                                              f"Chat {k + j}") for j, g in enumerate(batch)))
    out["chat"] = chat
    out["burst"] = list(await asyncio.gather(*(create(users[i], [], f"Burst {i}")
                                               for i in plan["burst"])))
    return out


async def _make_roundtable(url: str, host: dict[str, Any], askers: list[dict[str, Any]]
                          ) -> dict[str, Any]:
    """A live round table for everyone, hosted by an executive (only executives and
    admins create them), with one approved question from each asker (no
    pre-moderation); {id, questions: [ids]}."""
    from colloquy_client import Client

    client = Client(url, token=host["token"])
    await client.connect()
    try:
        # Creating and starting notify the whole audience (every bench employee): long
        # timeouts, the full mode has 11,000 of them.
        made = await client.request("roundtable.create", timeout=600, title="Ask the CEO",
                                    description="bench", starts_at=int(time.time() * 1000),
                                    hosts=[host["username"]], audience={"kind": "everyone"})
        rid = int(made["roundtable"]["id"])
        await client.request("roundtable.start", timeout=600, roundtable=rid)
    finally:
        await client.close()

    async def ask(k: int, user: dict[str, Any]) -> int:
        asker = Client(url, token=user["token"])
        await asker.connect()
        try:
            reply = await asker.request("question.ask", timeout=60, roundtable=rid,
                                        body=f"Question {k}: what comes next?",
                                        client_id=f"setup-{k}")
            return int(reply["question"]["id"])
        finally:
            await asker.close()

    return {"id": rid, "questions": list(await asyncio.gather(
        *(ask(k, u) for k, u in enumerate(askers))))}


def vote_plan(voters: list[int], questions: list[int], seed: int = 14
              ) -> tuple[list[list[int]], collections.Counter[int]]:
    """[voter, question] in a shuffled order, and the distinct votes per question.
    Every voter votes on 1 to 3 questions (40% a second, 15% a third), the first
    questions more popular than the last; 5% vote on one of theirs again (a double
    click), which must not count twice."""
    rng = random.Random(seed)
    weights = [len(questions) - k for k in range(len(questions))]
    votes: list[list[int]] = []
    distinct: collections.Counter[int] = collections.Counter()
    for voter in voters:
        n = 1 + (rng.random() < 0.40) + (rng.random() < 0.15)
        chosen: list[int] = []
        while len(chosen) < n:
            q = rng.choices(questions, weights)[0]
            if q not in chosen:
                chosen.append(q)
        for q in chosen:
            votes.append([voter, q])
            distinct[q] += 1
        if rng.random() < 0.05:
            votes.append([voter, chosen[0]])
    rng.shuffle(votes)
    return votes, distinct


# --- the run ------------------------------------------------------------------------


class Bench:
    def __init__(self, cfg: dict[str, Any], args: argparse.Namespace) -> None:
        self.cfg = cfg
        self.args = args
        self.pin = not args.no_pin and (os.cpu_count() or 1) >= 2
        self.server_cpus = [0] if self.pin else None
        self.client_cpus = [1] if self.pin else None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.outdir = OUT / f"{cfg['mode']}-{stamp}"
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.logdir = self.outdir / "logs"
        self.logdir.mkdir(exist_ok=True)
        self.results: dict[str, Any] = {"machine": machine(), "config": cfg,
                                        "command": " ".join(sys.argv), "runs": {}}
        self.redis_pid = servers.redis_pid()

    def want(self, name: str) -> bool:
        if name in BASELINES and "baselines" in self.args.only:
            return True
        return name in self.args.only

    def save(self) -> None:
        (self.outdir / "results.json").write_text(json.dumps(self.results, indent=1))

    # --- fan-out ladder (any server) ---------------------------------------------------

    def ladder(self, load: Load, server: Proc, extra_pids: dict[str, int | None],
               sender: int, room: int, receivers: list[int], kind: str, start: float,
               step_s: float, stop_p99: float, rates: list[float] | None = None,
               label: str = "", cmd: str = "fanout",
               senders: list[int] | None = None) -> dict[str, Any]:
        cfg = self.cfg
        steps: list[dict[str, Any]] = []
        pids = {"server": server.pid, "client": load.pid, "redis": self.redis_pid, **extra_pids}
        settled = settle([server.pid, self.redis_pid, *extra_pids.values()])
        if settled > 1.0:
            log(f"  {label} server busy after connecting: waited {settled:.1f} s")

        def step(rate: float, confirm: bool = True) -> dict[str, Any]:
            # A failed step is run once more before it counts: on a shared machine one
            # burst of someone else's work must not end a ladder (both attempts are kept).
            res = attempt(rate)
            if confirm and not held(res, stop_p99) and rates is None and server.alive():
                res["repeated"] = True
                res = attempt(rate)
            return res

        def attempt(rate: float) -> dict[str, Any]:
            meter = CpuMeter(pids)
            # `reactions` steps take no kind: they are Colloquy's alone.
            extra: dict[str, Any] = {"kind": kind} if cmd == "fanout" else {}
            if senders:
                extra["senders"] = senders
            res = load.call(cmd, sender=sender, room=room, rate=rate, duration=step_s,
                            receivers=receivers, drain_max=cfg["drain_max"],
                            stall=cfg["stall"], **extra)
            annotate(res, meter.stop(), server.pid, load.pid)
            res["held"] = held(res)
            log(f"  {label} {brief(res)}")
            steps.append(res)
            if res["receivers_closed"] or res["loss"]:
                reopened = load.call("reopen")
                res["reopened"] = reopened
                time.sleep(1.0)
            return res

        good: float | None = None
        bad: float | None = None
        rate = start
        i = 0
        while True:
            if not server.alive():
                log(f"  {label} server died:\n{server.tail()}")
                break
            if rates is not None:
                if i >= len(rates):
                    break
                rate = rates[i]
            res = step(rate)
            i += 1
            if res["held"]:
                good = rate
            if not held(res, stop_p99):
                bad = rate
                break
            if rates is None:
                nxt = min(cfg["fan_cap"], round(rate * cfg["growth"], 1))
                if nxt <= rate:  # held at the cap: that is as far as the ladder goes
                    break
                rate = nxt
        # Nothing held at the first rate: step down (halving, to 0.5 msgs/s) to find one.
        while rates is None and good is None and bad is not None and bad / 2 >= 0.5 \
                and server.alive():
            res = step(round(bad / 2, 2))
            if res["held"]:
                good = res["rate"]
            else:
                bad = res["rate"]
        for _ in range(cfg["bisect"] if rates is None else 0):
            if good is None or bad is None or bad - good < max(1.0, 0.05 * good):
                break
            mid = round((good + bad) / 2, 1)
            res = step(mid)
            if res["held"]:
                good = mid
            else:
                bad = mid
        best = max((s for s in steps if s["held"]), key=lambda s: s["rate"], default=None)
        lossless = [s for s in steps if s["loss"] == 0 and s["dups"] == 0
                    and not s["receivers_closed"] and s["delivered"]]
        best_any = max(lossless, key=lambda s: s["deliveries_per_s"] or 0, default=None)
        return {"steps": steps, "max_held_rate": good, "first_failed_rate": bad,
                "held": best, "best_lossless_any_latency": best_any, "settle_s": settled}

    # --- Colloquy ------------------------------------------------------------------------

    def run_colloquy(self, profile: str) -> None:
        cfg = self.cfg
        # Idle sockets belong to users outside the 1,000-member room (index 1001 on):
        # the room's presence fan-out is measured by the fan-out scenario's connects.
        n_users = max(cfg["idle_n"] + 1001, 2200)
        executive = n_users  # one more, outside every other scenario: creates round tables
        stack = ColloquyStack(profile, self.logdir)
        run: dict[str, Any] = {"profile": profile}
        self.results["runs"][f"colloquy-{profile}"] = run
        try:
            log(f"colloquy/{profile}: migrate, {n_users} users with tokens")
            t0 = time.monotonic()
            stack.setup(n_users + 1, roles={executive: "executive"})
            users = stack.users
            n = cfg["receivers"]
            plan = {
                "fanout": list(range(0, n + 1)),  # owner (sender) + n receivers
                "probe": [n + 1, n + 2],
                "chat": [list(range(1100 + 10 * k, 1110 + 10 * k)) for k in range(100)],
                "burst": list(range(2100, 2110)),
            }
            server, port = stack.start_server(cpus=self.server_cpus)
            url = f"ws://127.0.0.1:{port}/ws/"
            rooms = asyncio.run(_make_rooms(url, users, plan))
            roundtable = None
            if self.want("roundtable"):
                # For everyone; the fan-out room's members are its viewers, and 10 of
                # them asked its questions.
                askers = [users[i] for i in plan["fanout"][1:1 + cfg["rt_questions"]]]
                roundtable = asyncio.run(_make_roundtable(url, users[executive], askers))
                roundtable["ranking_per_second"] = float(stack.manage(
                    "shell", "-c", "from django.conf import settings; "
                    "print(settings.ROUNDTABLE_RANKING_PER_SECOND)").split()[-1])
                run["roundtable_id"] = roundtable["id"]
            stack.stop(server)
            run["setup_s"] = round(time.monotonic() - t0, 1)
            run["room_ids"] = {k: v for k, v in rooms.items() if k != "chat"}
            log(f"colloquy/{profile}: setup done in {run['setup_s']}s")
            persister = stack.start_persister() if profile == "services" else None
            ctx = {"stack": stack, "users": users, "plan": plan, "rooms": rooms,
                   "persister": persister, "roundtable": roundtable}
            todo: list[tuple[str, Any]] = []
            if self.want("fanout"):
                for codec in ("json", "msgpack"):
                    todo.append((f"fanout_{codec}",
                                 lambda c=codec: self.colloquy_fanout(run, ctx, c)))
            if self.want("reactions"):
                todo.append(("reactions", lambda: self.colloquy_reactions(run, ctx)))
            if self.want("roundtable"):
                # The votes first, on the round table's 10 questions alone; the question
                # ladder then adds thousands more to it.
                todo.append(("roundtable_votes",
                             lambda: self.colloquy_roundtable_votes(run, ctx)))
                todo.append(("fanout_questions",
                             lambda: self.colloquy_roundtable_questions(run, ctx)))
            if (self.want("ackhalf") or self.want("resume")) and not self.want("fanout"):
                todo.append(("ackhalf", lambda: self.colloquy_ackhalf_resume(run, ctx, None)))
            if cfg["daphne"] and self.want("fanout") and profile == "services":
                todo.append(("daphne", lambda: self.colloquy_daphne(run, ctx)))
            for name in ("rooms", "idle", "persist"):
                if self.want(name):
                    todo.append((name, getattr(self, f"colloquy_{name}")))
            for name, job in todo:
                try:  # one scenario failing must not cost the others
                    if name in ("rooms", "idle", "persist"):
                        job(run, ctx)
                    else:
                        job()
                except Exception as exc:
                    run.setdefault("errors", {})[name] = repr(exc)[:2000]
                    log(f"colloquy/{profile}: {name} FAILED {exc!r}"[:600])
                self.save()
        except Exception as exc:
            run["error"] = repr(exc)
            log(f"colloquy/{profile}: FAILED {exc!r}")
            import traceback

            traceback.print_exc()
        finally:
            stack.teardown()
            self.save()

    def _fanout_setup(self, ctx: dict[str, Any], codec: str, server: str = ""
                      ) -> tuple[Load, Proc, int, dict[str, Any]]:
        stack, users, plan = ctx["stack"], ctx["users"], ctx["plan"]
        server = server or servers.default_server()
        proc, port = stack.start_server(server, cpus=self.server_cpus)
        load = Load(self.client_cpus)
        info: dict[str, Any] = {"server": server}
        sender = users[plan["fanout"][0]]
        res = load.call("connect", host="127.0.0.1", port=port, path="/ws/",
                        specs=[colloquy_spec(sender, codec)])
        assert res["ok"] == 1, res
        time.sleep(0.3)
        rss0 = rss_kib(proc.pid)
        recv_users = [users[i] for i in plan["fanout"][1:]]
        res = load.call("connect", host="127.0.0.1", port=port, path="/ws/",
                        specs=[colloquy_spec(u, codec) for u in recv_users], concurrency=50)
        info["connect"] = res
        first = load.call("first", ids=[sender["id"]] + [u["id"] for u in recv_users])
        info["first"] = first
        # Sockets the server closed right after hello (see RESULTS.md: the bus publisher's
        # pool) are reopened, so the ladder starts with every member present.
        info["reopened_after_connect"] = load.call("reopen")
        time.sleep(0.5)
        rss1 = rss_kib(proc.pid)
        info["rss_before_kib"], info["rss_after_kib"] = rss0, rss1
        info["rss_per_connection_kib"] = round((rss1 - rss0) / max(1, res["ok"]), 1)
        log(f"  connected {res['ok']} receivers ({res['failed']} failed) at "
            f"{res['per_s']}/s; RSS +{info['rss_per_connection_kib']} KiB/connection")
        return load, proc, port, info

    def colloquy_fanout(self, run: dict[str, Any], ctx: dict[str, Any], codec: str,
                        server: str = "", key: str | None = None) -> float | None:
        cfg, stack, users, plan = self.cfg, ctx["stack"], ctx["users"], ctx["plan"]
        server = server or servers.default_server()
        key = key or f"fanout_{codec}"
        log(f"colloquy/{stack.profile}: {key} ({cfg['receivers']} members, {server})")
        load, proc, _port, info = self._fanout_setup(ctx, codec, server)
        try:
            persister = ctx.get("persister")
            lad = self.ladder(load, proc, {"persister": persister.pid if persister else None},
                              users[plan["fanout"][0]]["id"], ctx["rooms"]["fanout"],
                              [users[i]["id"] for i in plan["fanout"][1:]], "colloquy",
                              cfg["fan_start"], cfg["step_s"], P99_TARGET_MS, label=key)
            run[key] = {**info, **lad}
            log(f"  {key}: max held rate {lad['max_held_rate']} msgs/s")
            if key == "fanout_json" and (self.want("ackhalf") or self.want("resume")):
                self.colloquy_ackhalf_resume(run, ctx, lad["max_held_rate"],
                                             reuse=(load, proc, _port, info))
            return lad["max_held_rate"]
        finally:
            load.close()
            stack.stop(proc)

    def colloquy_reactions(self, run: dict[str, Any], ctx: dict[str, Any]) -> None:
        cfg, stack, users, plan = self.cfg, ctx["stack"], ctx["users"], ctx["plan"]
        key = "fanout_reactions"
        log(f"colloquy/{stack.profile}: {key} ({cfg['receivers']} members)")
        load, proc, _port, info = self._fanout_setup(ctx, "json")
        try:
            persister = ctx.get("persister")
            lad = self.ladder(load, proc, {"persister": persister.pid if persister else None},
                              users[plan["fanout"][0]]["id"], ctx["rooms"]["fanout"],
                              [users[i]["id"] for i in plan["fanout"][1:]], "colloquy",
                              cfg["fan_start"], cfg["step_s"], P99_TARGET_MS, label=key,
                              cmd="reactions")
            run[key] = {**info, **lad}
            log(f"  {key}: max held rate {lad['max_held_rate']} reactions/s")
        finally:
            load.close()
            stack.stop(proc)

    def colloquy_roundtable_votes(self, run: dict[str, Any], ctx: dict[str, Any]) -> None:
        """The round table watched by the fan-out room's members, on two server
        processes (every other socket on each; one on the embedded profile), all of
        them voting within cfg["rt_vote_s"] seconds."""
        cfg, stack, users, plan, rt = (self.cfg, ctx["stack"], ctx["users"], ctx["plan"],
                                       ctx["roundtable"])
        key = "roundtable_votes"
        viewers = [users[i] for i in plan["fanout"][1:]]
        ids = [u["id"] for u in viewers]
        # The embedded profile's bus is in-process (another process's events reach its
        # sockets only on resume): one process there.
        n_servers = 2 if stack.profile == "services" else 1
        log(f"colloquy/{stack.profile}: {key} ({len(viewers)} viewers and voters on "
            f"{n_servers} server process(es), round table {rt['id']})")
        # Both processes on the server core: the point is what crosses processes (each
        # gathers its own rankings), not two cores' throughput.
        procs: list[Proc] = []
        ports: list[int] = []
        for _ in range(n_servers):
            proc, port = stack.start_server(cpus=self.server_cpus)
            procs.append(proc)
            ports.append(port)
        load = Load(self.client_cpus)
        persister = ctx.get("persister")
        out: dict[str, Any] = {"servers": n_servers, "server_ports": ports,
                               "viewers": len(viewers), "roundtable": rt["id"],
                               "questions": rt["questions"]}
        run[key] = out
        try:
            specs = [{**colloquy_spec(u), "port": ports[k % n_servers]}
                     for k, u in enumerate(viewers)]
            out["connect"] = load.call("connect", host="127.0.0.1", port=ports[0], path="/ws/",
                                       specs=specs, concurrency=50)
            load.call("first", ids=ids)
            out["reopened_after_connect"] = load.call("reopen")
            out["settle_s"] = settle([*(p.pid for p in procs), self.redis_pid,
                                      persister.pid if persister else None])
            watch = load.call("rt_watch", ids=ids, roundtable=rt["id"])
            out["watch"] = watch
            log(f"  roundtable.get by {watch['ok']} of {watch['sockets']} at once: p50 "
                f"{watch['get_ms']['p50']} p99 {watch['get_ms']['p99']} max "
                f"{watch['get_ms']['max']} ms, errors {watch['errors']}")
            before = {int(q): n for q, n in watch["questions"].items()}
            votes, distinct = vote_plan(ids, rt["questions"])
            want_all = {q: before.get(q, 0) + distinct[q] for q in rt["questions"]}
            rate = rt["ranking_per_second"]
            meter = CpuMeter({**{f"server_{k}": p.pid for k, p in enumerate(procs)},
                              "persister": persister.pid if persister else None,
                              "redis": self.redis_pid, "client": load.pid})
            cast = load.call("rt_vote", votes=votes, window=cfg["rt_vote_s"])
            # Past the last gathered period of either process, and its append.
            time.sleep(2 / rate + 0.5)
            out["cpu"] = meter.stop()
            out["votes"] = {**cast, "planned": len(votes), "distinct": sum(distinct.values()),
                            "repeats": len(votes) - sum(distinct.values()),
                            "voters": len(ids), "per_question": dict(distinct)}
            final = load.call("request", sid=ids[0],
                              frame={"op": "roundtable.get", "roundtable": rt["id"]})
            shown = {q["id"]: q["votes"] for q in final.get("questions", [])
                     if q["id"] in want_all}
            listed = ",".join(str(q) for q in rt["questions"])
            rows = dict(stack.sql(f"SELECT question_id, count(*) FROM roundtables_vote "
                                  f"WHERE question_id IN ({listed}) GROUP BY question_id"))
            stored = {q: int(rows.get(q, 0)) for q in rt["questions"]}
            # The viewers' last rankings name only questions that got votes.
            want = {q: n for q, n in want_all.items() if distinct[q]}
            check = load.call("rt_check", head=final["seq"], want=want,
                              t_last_ack_us=cast["t_last_ack_us"])
            carried = sum(1 for n in cast["acked_by_port"].values() if n)
            span = cast["span_s"] or 0.0
            bound = carried * (math.ceil(span * rate) + 1)
            out.update({
                "ranking_per_second": rate, "processes_with_votes": carried,
                "duration_s": span,
                "bound": bound,
                "bound_formula": "processes that carried votes x (ceil(duration_s x "
                                 "ROUNDTABLE_RANKING_PER_SECOND) + 1); duration_s: the first "
                                 "vote sent to the last vote acked",
                "final_head": final.get("seq"), "check": check,
                "expected": want_all, "roundtable_get": shown, "vote_rows": stored,
                "final_get_ms": final.get("latency_ms"),
            })
            out["verdicts"] = {
                "votes_within_5s": cast["send_s"] <= 5.0 and cast["unacked"] == 0
                and not cast["errors"] and cast["skipped"] == 0,
                "rankings_within_bound": check["rankings_max"] is not None
                and check["rankings_max"] <= bound,
                "final_counts_exact": shown == want_all and stored == want_all
                and check["viewers_last_exact"] == check["viewers"],
                "zero_loss": check["missing"] == 0 and check["dups"] == 0
                and check["viewers_behind_head"] == 0 and check["unwatched"] == 0
                and check["viewers"] == len(ids),
            }
            log(f"  votes: {cast['acked']} acked of {len(votes)} ({out['votes']['distinct']} "
                f"distinct) sent in {cast['send_s']} s, last ack after {span} s; ack p50 "
                f"{cast['ack_ms']['p50']} p99 {cast['ack_ms']['p99']} max "
                f"{cast['ack_ms']['max']} ms; errors {cast['errors']}, by port "
                f"{cast['acked_by_port']}")
            log(f"  rankings per viewer: max {check['rankings_max']} median "
                f"{check['rankings_median']} (bound {bound}); last exact at "
                f"{check['viewers_last_exact']}/{check['viewers']} viewers; roundtable.get "
                f"{'=' if shown == want_all else '≠'} distinct votes; rows "
                f"{'=' if stored == want_all else '≠'}; missing {check['missing']}, dups "
                f"{check['dups']}, behind {check['viewers_behind_head']}; "
                f"verdicts {out['verdicts']}")
        finally:
            load.close()
            for proc in procs:
                stack.stop(proc)

    def colloquy_roundtable_questions(self, run: dict[str, Any], ctx: dict[str, Any]
                                      ) -> None:
        """The fan-out ladder with question.ask into the round table the 1,000 members
        opened: each question is one question.created to each of them."""
        cfg, stack, users, plan, rt = (self.cfg, ctx["stack"], ctx["users"], ctx["plan"],
                                       ctx["roundtable"])
        key = "fanout_questions"
        log(f"colloquy/{stack.profile}: {key} ({cfg['receivers']} viewers, round table "
            f"{rt['id']})")
        load, proc, port, info = self._fanout_setup(ctx, "json")
        try:
            receivers = [users[i]["id"] for i in plan["fanout"][1:]]
            # They watch it: every socket opens it (after the votes scenario their
            # sockets hold its stream from the connect on anyway).
            info["watch"] = load.call("rt_watch", ids=receivers, roundtable=rt["id"])
            # The questions come from several employees in turn, as in a real round
            # table (one may ask ROUNDTABLE_QUESTIONS_PER_MINUTE, 5): one socket's ops are
            # answered in order, so one asker would measure its own ask latency (about
            # 16 ms under this load, 60 a second at most), not the fan-out.
            sender = users[plan["fanout"][0]]
            askers = [sender] + [users[i] for i in plan["burst"][:RT_ASKERS - 1]]
            res = load.call("connect", host="127.0.0.1", port=port, path="/ws/",
                            specs=[colloquy_spec(u) for u in askers[1:]])
            assert res["ok"] == len(askers) - 1, res
            for u in askers:  # each holds the stream, as a viewer does
                opened = load.call("request", sid=u["id"], brief=True,
                                   frame={"op": "roundtable.get", "roundtable": rt["id"]})
                assert opened["op"] == "ok", opened
            info["askers"] = len(askers)
            persister = ctx.get("persister")
            lad = self.ladder(load, proc, {"persister": persister.pid if persister else None},
                              sender["id"], rt["id"], receivers, "question",
                              cfg["fan_start"], cfg["step_s"], P99_TARGET_MS, label=key,
                              senders=[u["id"] for u in askers])
            run[key] = {**info, "roundtable": rt["id"], **lad}
            log(f"  {key}: max held rate {lad['max_held_rate']} questions/s")
            # What opening it costs now that the ladder asked thousands of questions
            # (the snapshot holds every one).
            after = load.call("request", sid=receivers[0], brief=True, timeout=120,
                              frame={"op": "roundtable.get", "roundtable": rt["id"]})
            run[key]["get_after"] = {k: after.get(k) for k in
                                     ("op", "questions", "latency_ms", "bytes", "code")}
            log(f"  roundtable.get after the ladder: {after.get('questions')} questions, "
                f"{after.get('bytes')} bytes, {after.get('latency_ms')} ms")
        finally:
            load.close()
            stack.stop(proc)

    def colloquy_ackhalf_resume(self, run: dict[str, Any], ctx: dict[str, Any],
                                fan_max: float | None, reuse: Any = None) -> None:
        cfg, stack, users, plan, rooms = (self.cfg, ctx["stack"], ctx["users"], ctx["plan"],
                                          ctx["rooms"])
        log(f"colloquy/{stack.profile}: ack latency at half the fan-out rate, resume storm")
        if reuse is not None:  # the fan-out ladder's server and sockets, all members back
            load, proc, port, info = reuse
            load.call("reopen")
        else:
            load, proc, port, info = self._fanout_setup(ctx, "json")
        persister = ctx.get("persister")
        pids = {"server": proc.pid, "client": load.pid, "redis": self.redis_pid,
                "persister": persister.pid if persister else None}
        sender = users[plan["fanout"][0]]["id"]
        receivers = [users[i]["id"] for i in plan["fanout"][1:]]
        probe: Load | None = None
        try:
            if self.want("ackhalf"):
                # The probe chats from a process of its own (not pinned): the main
                # load worker reads ~100,000+ deliveries/s on its core and would
                # time the probe's acks late by its own backlog.
                probe = Load(None)
                probe_user = users[plan["probe"][0]]
                probe.call("connect", host="127.0.0.1", port=port, path="/ws/",
                           specs=[colloquy_spec(probe_user)])
                probe.call("first", ids=[probe_user["id"]])
                rate = round((fan_max or 1.0) / 2, 2)
                spy = None
                spy_out = self.outdir / f"pyspy-{stack.profile}-ackhalf.txt"
                if self.args.pyspy and pyspy_bin():
                    spy = subprocess.Popen(
                        [pyspy_bin(), "record", "--pid", str(proc.pid), "--format", "raw",
                         "--duration", str(int(cfg["ackhalf_s"])), "--rate", "200",
                         "--nonblocking", "-o", str(spy_out)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                meter = CpuMeter(pids)
                probe.start("probe", sock=probe_user["id"], room=rooms["probe"], rate=20.0,
                            duration=cfg["ackhalf_s"])
                res = load.call("fanout", sender=sender, room=rooms["fanout"], rate=rate,
                                duration=cfg["ackhalf_s"], receivers=receivers,
                                drain_max=cfg["drain_max"], stall=cfg["stall"])
                res.update(probe.result("probe", timeout=cfg["ackhalf_s"] + 60))
                annotate(res, meter.stop(), proc.pid, load.pid)
                res["held"] = held(res)
                if spy is not None:
                    spy.wait(60)
                    if spy_out.exists():
                        res["pyspy"] = summarize_pyspy(spy_out)
                log(f"  ackhalf {brief(res)}; probe ack p99 {res['probe_ack_ms']['p99']} ms")
                run["ackhalf"] = {**info, "fan_max": fan_max, "step": res}
                if res["receivers_closed"] or res["loss"]:
                    load.call("reopen")
            if self.want("resume"):
                run["resume"] = self._resume(load, proc, pids, sender, receivers, rooms)
        finally:
            if probe is not None:
                probe.close()
            if reuse is None:
                load.close()
                stack.stop(proc)

    def _resume(self, load: Load, proc: Proc, pids: dict[str, Any], sender: int,
                receivers: list[int], rooms: dict[str, Any]) -> dict[str, Any]:
        out = {"storm": self._resume_once(load, proc, pids, sender, receivers, rooms, 0)}
        if out["storm"]["complete"] < out["storm"]["clients"] and (
                self.cfg["resume_paced"] or self.args.resume_paced):
            # The same, with reconnects paced 100 at a time (what a client's backoff and
            # jitter approximate): does resume itself work once the storm is spread?
            load.call("reopen")
            out["paced100"] = self._resume_once(load, proc, pids, sender, receivers, rooms, 100)
        return out

    def _resume_once(self, load: Load, proc: Proc, pids: dict[str, Any], sender: int,
                     receivers: list[int], rooms: dict[str, Any], concurrency: int
                     ) -> dict[str, Any]:
        cfg = self.cfg
        clients = receivers[:cfg["resume_clients"]]
        # Everyone is caught up to `head` (checked: zero loss), then goes away.
        warm = load.call("fanout", sender=sender, room=rooms["fanout"], rate=20.0,
                         duration=0.5, receivers=clients, drain_max=10, stall=2)
        head = warm["max_seq"]
        load.call("close", ids=clients)
        time.sleep(0.5)
        missed = load.call("fanout", sender=sender, room=rooms["fanout"], rate=500.0,
                           duration=cfg["resume_missed"] / 500.0, receivers=[],
                           drain_max=10, stall=1)
        meter = CpuMeter(pids)
        res = load.call("resume", ids=clients, streams={f"room:{rooms['fanout']}": head},
                        lo=missed["mid_lo"], hi=missed["mid_hi"], limit=cfg["resume_limit"],
                        concurrency=concurrency, timeout=400)
        res["concurrency"] = concurrency or len(clients)
        annotate(res, meter.stop(), proc.pid, load.pid)
        res["warm_loss"] = warm["loss"]
        res["missed_sent"] = missed["acked"]
        log(f"  resume ({res['concurrency']} at once): {res['complete']}/{res['clients']} "
            f"complete, errors {res['errors']}, loss {res['loss']}, "
            f"dups {res['dups']}, hello p99 {res['hello_ms']['p99']} ms, all missed events "
            f"p50 {res['complete_ms']['p50']} p99 {res['complete_ms']['p99']} max "
            f"{res['complete_ms']['max']} ms; server {res.get('server_us_per_delivery')} "
            f"µs/event")
        return res

    def colloquy_daphne(self, run: dict[str, Any], ctx: dict[str, Any]) -> None:
        """The same app on daphne (the issue compares daphne and uvicorn): JSON ladder."""
        server = "serve:daphne" if servers.have_serve() else "daphne"
        self.colloquy_fanout(run, ctx, "json", server=server, key="fanout_json_daphne")

    def colloquy_rooms(self, run: dict[str, Any], ctx: dict[str, Any]) -> None:
        cfg, stack, users, plan, rooms = (self.cfg, ctx["stack"], ctx["users"], ctx["plan"],
                                          ctx["rooms"])
        log(f"colloquy/{stack.profile}: many rooms (100 x 10, everyone chatting)")
        proc, port = stack.start_server(cpus=self.server_cpus)
        load = Load(self.client_cpus)
        persister = ctx.get("persister")
        pids = {"server": proc.pid, "client": load.pid, "redis": self.redis_pid,
                "persister": persister.pid if persister else None}
        try:
            members = {str(room): [users[i]["id"] for i in group]
                       for room, group in zip(rooms["chat"], plan["chat"], strict=True)}
            ids = [i for group in members.values() for i in group]
            specs = [colloquy_spec(users[i]) for group in plan["chat"] for i in group]
            conn = load.call("connect", host="127.0.0.1", port=port, path="/ws/", specs=specs)
            load.call("first", ids=ids)
            steps: list[dict[str, Any]] = []
            rate = cfg["chat_start"]
            good = None
            settle([proc.pid, self.redis_pid, pids["persister"]])

            def attempt(rate: float) -> dict[str, Any]:
                meter = CpuMeter(pids)
                res = load.call("chat", members=members, total_rate=rate,
                                duration=cfg["chat_step_s"], drain_max=cfg["drain_max"],
                                stall=cfg["stall"])
                annotate(res, meter.stop(), proc.pid, load.pid)
                res["held"] = held(res)
                steps.append(res)
                log(f"  rooms {brief(res)}")
                return res

            while proc.alive():
                res = attempt(rate)
                if not res["held"]:  # as in the fan-out ladder: a failure is run again
                    res["repeated"] = True
                    res = attempt(rate)
                if not res["held"]:
                    if good is None and rate / 2 >= 2:  # the first rate failed: step down
                        rate = round(rate / 2, 1)
                        continue
                    break
                good = rate
                rate = round(rate * cfg["growth"])
                if rate > 5000:  # 50,000 deliveries/s in 10-member rooms: far past the need
                    break
            best = max((s for s in steps if s["held"]), key=lambda s: s["rate"], default=None)
            run["rooms"] = {"connect": conn, "steps": steps, "max_held_rate": good,
                            "held": best}
        finally:
            load.close()
            stack.stop(proc)

    def colloquy_idle(self, run: dict[str, Any], ctx: dict[str, Any]) -> None:
        cfg, stack, users = self.cfg, ctx["stack"], ctx["users"]
        idle_users = users[1001:1001 + cfg["idle_n"]]
        n = len(idle_users)
        log(f"colloquy/{stack.profile}: idle, {n} connections on one server process")
        proc, port = stack.start_server(cpus=self.server_cpus)
        load = Load(self.client_cpus)
        spy = None
        spy_out = self.outdir / f"pyspy-{stack.profile}-connect.txt"
        if self.args.pyspy and pyspy_bin():
            spy = subprocess.Popen(
                [pyspy_bin(), "record", "--pid", str(proc.pid), "--format", "raw",
                 "--duration", "15", "--rate", "200", "--nonblocking", "-o", str(spy_out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run["idle"] = idle_scenario(load, proc, port, "/ws/",
                                        [colloquy_spec(u) for u in idle_users], "colloquy")
            if spy is not None:
                spy.wait(60)
                if spy_out.exists():
                    run["idle"]["pyspy_connect"] = summarize_pyspy(spy_out)
        finally:
            load.close()
            stack.stop(proc)

    def colloquy_persist(self, run: dict[str, Any], ctx: dict[str, Any]) -> None:
        cfg, stack, users, plan, rooms = (self.cfg, ctx["stack"], ctx["users"], ctx["plan"],
                                          ctx["rooms"])
        total = cfg["burst_n"]
        log(f"colloquy/{stack.profile}: persistence, bursts of {total} messages")
        proc, port = stack.start_server(cpus=self.server_cpus)
        load = Load(self.client_cpus)
        out: dict[str, Any] = {}
        run["persist"] = out
        burst_rooms = rooms["burst"]
        poller = SqlPoller(stack, burst_rooms)
        try:
            specs = [colloquy_spec(users[i]) for i in plan["burst"]]
            load.call("connect", host="127.0.0.1", port=port, path="/ws/", specs=specs)
            load.call("first", ids=[s["id"] for s in specs])
            senders = [[users[i]["id"], room] for i, room in
                       zip(plan["burst"], burst_rooms, strict=True)]
            persister = ctx.get("persister")
            # Phase 1: persister running; lag from each ack to its row.
            out["live"] = self._burst(load, proc, persister, poller, senders, total)
            if stack.profile == "services" and persister is not None:
                # Phase 2: persister stopped during the burst, then started: its drain rate.
                stack.stop(persister)
                ctx["persister"] = None
                out["drain"] = self._drain_phase(load, proc, stack, ctx, poller, senders,
                                                 total)
        finally:
            poller.close()
            load.close()
            stack.stop(proc)

    def _burst(self, load: Load, proc: Proc, persister: Proc | None, poller: SqlPoller,
               senders: list[list[int]], total: int) -> dict[str, Any]:
        pids = {"server": proc.pid, "client": load.pid, "redis": self.redis_pid,
                "persister": persister.pid if persister else None}
        start_rows = sum(poller.poll())
        last = [0.0]

        def during() -> None:
            now = time.monotonic()
            if now - last[0] >= 0.05:
                last[0] = now
                poller.poll()

        spy = None
        spy_out = self.outdir / f"pyspy-burst-server-{proc.pid}.txt"
        if self.args.pyspy and pyspy_bin():
            spy = subprocess.Popen(
                [pyspy_bin(), "record", "--pid", str(proc.pid), "--format", "raw",
                 "--duration", "5", "--rate", "200", "--nonblocking", "-o", str(spy_out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        meter = CpuMeter(pids)
        res = load.call("burst", senders=senders, total=total, window=32, during=during,
                        timeout=max(900.0, total / 50), limit=max(600.0, total / 50))
        acks = res.pop("seqs")
        wait_until = time.monotonic() + 120
        top = {room: 0 for room in poller.rooms}
        for room, seq, _ in acks:
            top[room] = max(top[room], seq)
        want = tuple(top[r] for r in poller.rooms)
        while time.monotonic() < wait_until:
            row = poller.poll()
            if all(a >= b for a, b in zip(row, want, strict=True)):
                break
            time.sleep(0.05)
        cpu = meter.stop()
        lags = poller.lags_ms(acks)
        t_first_ack = min(t for _, _, t in acks) if acks else 0
        t_all = poller.polls[-1][0]
        rows = sum(poller.polls[-1][1]) - start_rows
        res.update({
            "persisted": len(lags), "lag_ms": percentiles(lags),
            "persisted_per_s": round(len(lags) / max(1e-6, (t_all - res["t_first_us"]) / 1e6), 1),
            "rows_seen": rows, "cpu": cpu, "poll_interval_ms": 50,
            "server_us_per_message": round(cpu.get("server_cpu_s", 0) * 1e6 / max(1, total), 1),
            "persister_us_per_message": round(cpu.get("persister_cpu_s", 0) * 1e6
                                              / max(1, total), 1),
        })
        del t_first_ack
        poller.polls.clear()
        if spy is not None:
            spy.wait(60)
            if spy_out.exists():
                res["pyspy_server"] = summarize_pyspy(spy_out)
        log(f"  burst: {res['acked']} acked at {res['acks_per_s']}/s (ack p99 "
            f"{res['ack_ms']['p99']} ms); persisted {res['persisted']} at "
            f"{res['persisted_per_s']}/s; lag ack→row p50 {res['lag_ms']['p50']} p99 "
            f"{res['lag_ms']['p99']} max {res['lag_ms']['max']} ms")
        return res

    def _drain_phase(self, load: Load, proc: Proc, stack: ColloquyStack, ctx: dict[str, Any],
                     poller: SqlPoller, senders: list[list[int]], total: int
                     ) -> dict[str, Any]:
        base = sum(poller.poll())
        res = load.call("burst", senders=senders, total=total, window=32,
                        timeout=max(900.0, total / 50), limit=max(600.0, total / 50))
        res.pop("seqs")
        persister = stack.start_persister()
        ctx["persister"] = persister
        spy = None
        spy_out = self.outdir / f"pyspy-{stack.profile}-persister.txt"
        meter = CpuMeter({"persister": persister.pid, "redis": self.redis_pid})
        t_start = time.monotonic()
        first_t = None
        first_rows = 0
        last_rows = base
        last_t = t_start
        while time.monotonic() - t_start < 180:
            rows = sum(poller.poll())
            now = time.monotonic()
            if rows > base and first_t is None:
                first_t, first_rows = now, rows
                if self.args.pyspy and pyspy_bin():  # profile the drain, not the start-up
                    spy = subprocess.Popen(
                        [pyspy_bin(), "record", "--pid", str(persister.pid), "--format",
                         "raw", "--duration", "5", "--rate", "200", "--nonblocking", "-o",
                         str(spy_out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if rows > last_rows:
                last_rows, last_t = rows, now
            if rows - base >= total:
                break
            time.sleep(0.02)
        cpu = meter.stop()
        poller.polls.clear()
        drained = last_rows - base
        span = (last_t - first_t) if first_t else 0
        out = {"burst_acks_per_s": res["acks_per_s"], "backlog": total, "drained": drained,
               "from_start_s": round(last_t - t_start, 3),
               "drain_per_s": round((last_rows - first_rows) / span, 1) if span else None,
               "drain_per_s_incl_startup": round(drained / (last_t - t_start), 1),
               "cpu": cpu,
               "persister_us_per_message": round(cpu.get("persister_cpu_s", 0) * 1e6
                                                 / max(1, drained), 1)}
        if spy is not None:
            spy.wait(60)
            if spy_out.exists():
                out["pyspy_persister"] = summarize_pyspy(spy_out)
        log(f"  drain: {drained}/{total} rows; {out['drain_per_s']} rows/s once running "
            f"({out['drain_per_s_incl_startup']}/s including process start), persister "
            f"{out['persister_us_per_message']} µs/message")
        return out

    # --- baselines ---------------------------------------------------------------------

    def run_baselines(self) -> None:
        run: dict[str, Any] = {}
        self.results["runs"]["baselines"] = run
        if self.want("pure"):
            self.run_pure(run)
        if self.want("stock"):
            self.run_stock(run)

    def run_pure(self, run: dict[str, Any]) -> None:
        """(b) bare asyncio broadcast."""
        cfg = self.cfg
        n = cfg["receivers"]
        log("baseline: pure asyncio broadcast (websockets.broadcast, no Redis)")
        proc, port = servers.start_pure(self.logdir, self.server_cpus)
        load = Load(self.client_cpus)
        try:
            specs = [{"id": i} for i in range(n + 1)]
            load.call("connect", host="127.0.0.1", port=port, path="/", specs=specs[:1],
                      kind="plain")
            time.sleep(0.3)
            rss0 = rss_kib(proc.pid)
            conn = load.call("connect", host="127.0.0.1", port=port, path="/", specs=specs[1:],
                             kind="plain")
            time.sleep(0.5)
            rss1 = rss_kib(proc.pid)
            lad = self.ladder(load, proc, {}, 0, 0, list(range(1, n + 1)), "plain",
                              cfg["fan_start"], cfg["step_s"], P99_TARGET_MS, label="pure")
            run["pure_asyncio"] = {"connect": conn, "rss_per_connection_kib":
                                   round((rss1 - rss0) / max(1, conn["ok"]), 1), **lad}
            log(f"  pure: max held rate {lad['max_held_rate']} msgs/s")
            if self.want("idle"):
                load.call("close")
                run["pure_asyncio"]["idle"] = idle_scenario(
                    load, proc, port, "/", [{"id": i} for i in range(cfg["idle_n"])], "plain")
        finally:
            load.close()
            proc.stop()
        self.save()

    def run_stock(self, run: dict[str, Any]) -> None:
        """(a) the stock Channels tutorial pattern."""
        cfg = self.cfg
        n = cfg["receivers"]
        log("baseline: stock Channels (AsyncWebsocketConsumer + RedisChannelLayer group_send)")
        proc, port, prefix = servers.start_stock(self.logdir, self.server_cpus)
        load = Load(self.client_cpus)
        try:
            path = "/ws/chat/bench/"
            hdr = {"Origin": "http://127.0.0.1"}
            specs = [{"id": i, "headers": hdr} for i in range(n + 1)]
            load.call("connect", host="127.0.0.1", port=port, path=path, specs=specs[:1],
                      kind="plain")
            time.sleep(0.3)
            rss0 = rss_kib(proc.pid)
            conn = load.call("connect", host="127.0.0.1", port=port, path=path,
                             specs=specs[1:], kind="plain")
            time.sleep(1.0)
            rss1 = rss_kib(proc.pid)
            log(f"  connected {conn['ok']} ({conn['failed']} failed) at {conn['per_s']}/s")
            # The stock pattern never holds 150 ms in a 1,000-member room; its ladder runs
            # on to p99 ≤ 1 s (DESIGN.md's yardstick) to find what it sustains at all.
            lad = self.ladder(load, proc, {}, 0, 0, list(range(1, n + 1)), "plain", 0,
                              cfg["stock_step_s"], 1000.0, rates=cfg["stock_rates"],
                              label="stock")
            run["stock_channels"] = {"connect": conn, "rss_per_connection_kib":
                                     round((rss1 - rss0) / max(1, conn["ok"]), 1), **lad}
        finally:
            load.close()
            proc.stop()
            servers.delete_redis_prefix(f"{servers.REDIS_BASE}/{servers.STOCK_REDIS_DB}",
                                        prefix)
        self.save()


def idle_scenario(load: Load, proc: Proc, port: int, path: str, specs: list[dict[str, Any]],
                  kind: str) -> dict[str, Any]:
    warm = load.call("connect", host="127.0.0.1", port=port, path=path, specs=specs[:10],
                     kind=kind)
    if kind == "colloquy":
        load.call("first", ids=[s["id"] for s in specs[:10]])
    time.sleep(0.5)
    rss0 = rss_kib(proc.pid)
    cpu0 = servers.cpu_seconds(proc.pid)
    conn = load.call("connect", host="127.0.0.1", port=port, path=path, specs=specs[10:],
                     kind=kind, concurrency=200, limit=120.0, timeout=1800)
    cpu1 = servers.cpu_seconds(proc.pid)
    first = load.call("first", ids=[s["id"] for s in specs[10:]]) if kind == "colloquy" else None
    time.sleep(2.0)
    # What the open sockets cost while nothing is said (heartbeats, presence refresh…).
    hold = CpuMeter({"server": proc.pid})
    time.sleep(10.0)
    hold_cpu = hold.stop()
    rss1 = rss_kib(proc.pid)
    info = load.call("info")
    opened = conn["ok"] + warm["ok"]
    out = {"connections": opened, "connect": conn, "first": first,
           "rss_before_kib": rss0, "rss_after_kib": rss1,
           "rss_per_connection_kib": round((rss1 - rss0) / max(1, conn["ok"]), 2),
           "server_cpu_ms_per_connect": round((cpu1 - cpu0) * 1000 / max(1, conn["ok"]), 3),
           "client_rss_kib": rss_kib(load.pid), "still_open": info["open"],
           "quiet_server_cores": round(hold_cpu["server_cpu_s"] / hold_cpu["wall_s"], 3),
           "quiet_other_cores": hold_cpu["other_cores"]}
    log(f"  idle: {opened} open, connect {conn['per_s']}/s (p99 "
        f"{conn['connect_ms']['p99']} ms), RSS {rss0}→{rss1} KiB = "
        f"{out['rss_per_connection_kib']} KiB/connection, "
        f"{out['server_cpu_ms_per_connect']} ms CPU/connect; quiet, the server uses "
        f"{out['quiet_server_cores']} core")
    load.call("close")
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform(),
                            "cpus": os.cpu_count()}
    root = Path(__file__).resolve().parent.parent
    with contextlib.suppress(Exception):
        marker = root / ".commit"  # a snapshot made with `git archive` carries its commit here
        info["commit"] = (marker.read_text().strip() if marker.exists() else subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10).stdout.strip())
        if not marker.exists():
            # Server files changed but not committed (others edit the tree while a bench
            # runs): the commit alone would not say what was measured.
            status = subprocess.run(["git", "status", "--porcelain"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout
            info["uncommitted"] = sorted(line[3:] for line in status.splitlines()
                                         if line[3:] and not line[3:].startswith("bench/"))
    with contextlib.suppress(OSError):
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        info["mem_gib"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    for mod in ("django", "channels", "channels_redis", "daphne", "redis", "websockets",
                "msgpack", "uvicorn", "twisted"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            info[mod] = version(mod)
    with contextlib.suppress(Exception):
        import redis

        info["redis_server"] = redis.Redis.from_url(servers.REDIS_BASE).info("server")[
            "redis_version"]
    with contextlib.suppress(Exception):
        info["postgres"] = subprocess.run(
            ["psql", servers.PG_ADMIN, "-tAc", "SHOW server_version"], capture_output=True,
            text=True, timeout=10).stdout.strip()
    return info


def services_up() -> bool:
    import redis

    try:
        redis.Redis.from_url(servers.REDIS_BASE, socket_timeout=2).ping()
        done = subprocess.run(["psql", servers.PG_ADMIN, "-tAc", "SELECT 1"],
                              capture_output=True, timeout=10)
        return done.returncode == 0
    except Exception:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help="every scenario at the issue's sizes, plus the daphne comparison")
    parser.add_argument("--profiles", help="embedded,services (default: services when "
                        "Postgres and Redis answer, else embedded)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma list of {', '.join(SCENARIOS + BASELINES)}")
    parser.add_argument("--daphne", action="store_true",
                        help="also run the JSON fan-out on daphne (always in --full)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client")
    parser.add_argument("--pyspy", action="store_true",
                        help="profile the server with py-spy during the ackhalf step")
    parser.add_argument("--idle", type=int, help="connections in the idle scenario")
    parser.add_argument("--burst", type=int, help="messages per persistence burst")
    parser.add_argument("--receivers", type=int, help="fan-out room members (default 1000)")
    parser.add_argument("--resume-paced", action="store_true",
                        help="after a failed resume storm, retry 100 connects at a time "
                        "(always on in --full)")
    args = parser.parse_args()
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    cfg = dict(FULL if args.full else SHORT)
    if args.daphne:
        cfg["daphne"] = True
    if args.idle:
        cfg["idle_n"] = args.idle
    if args.burst:
        cfg["burst_n"] = args.burst
    if args.receivers:
        cfg["receivers"] = cfg["resume_clients"] = args.receivers
    up = services_up()
    if args.profiles:
        profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    else:
        # The embedded profile (SQLite, in-process bus) is for development; the issue's
        # targets are about the deployed stack, so --full does not run it unless asked.
        profiles = ["services"] if up else ["embedded"]
    if "services" in profiles and not up:
        log("Postgres/Redis not answering (run `make services`); services profile skipped")
        profiles.remove("services")
    raise_nofile()
    bench = Bench(cfg, args)
    log(f"bench {cfg['mode']}: profiles {profiles}, scenarios {args.only}, "
        f"pinning {'server→cpu0, client→cpu1' if bench.pin else 'off'}; out {bench.outdir}")
    t0 = time.monotonic()
    colloquy = [s for s in SCENARIOS if s != "baselines"]
    for profile in profiles:
        if any(bench.want(s) for s in colloquy):
            bench.run_colloquy(profile)
    if any(bench.want(s) for s in BASELINES) and up:
        try:
            bench.run_baselines()
        except Exception as exc:
            bench.results["runs"].setdefault("baselines", {})["error"] = repr(exc)
            log(f"baselines FAILED: {exc!r}")
    bench.results["wall_s"] = round(time.monotonic() - t0, 1)
    bench.save()
    from bench.report import render

    text = render(bench.results)
    (bench.outdir / "summary.md").write_text(text)
    print(text)
    log(f"done in {bench.results['wall_s']}s; {bench.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
