"""The load worker: a separate process, pinned to its own core, holding every client socket.

The orchestrator (bench/__main__.py) drives it over a multiprocessing pipe
with commands ("connect", "fanout", "chat", "burst", "resume", …); each
command runs to completion inside the worker's event loop and answers with a
dict of plain numbers. Latencies are measured here: the sender writes its
send time into the message body and receivers subtract it from the time the
bytes arrived (see bench/wsclient.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import random
import resource
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import msgpack

from bench.wsclient import WS, Sink, now_us, open_ws, reader_stats


def percentiles(values: list[int] | list[float], scale: float = 1.0) -> dict[str, float]:
    """p50/p99/max/mean of `values`, multiplied by `scale` (µs → ms: 0.001)."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None, "mean": None}
    s = sorted(values)
    n = len(s)

    def at(q: float) -> float:
        return round(s[min(n - 1, int(q * n))] * scale, 3)

    return {"n": n, "p50": at(0.50), "p90": at(0.90), "p99": at(0.99),
            "max": round(s[-1] * scale, 3), "mean": round(sum(s) / n * scale, 3)}


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Acks:
    """Counts replies to message.send and their latency."""

    def __init__(self, record_seq: bool = False) -> None:
        self.ok = 0
        self.lat: list[int] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.seqs: list[tuple[int, int, int]] | None = [] if record_seq else None
        self.waiting = 0
        self.max_seq = 0

    def callback(self, room: int = 0) -> Any:
        def done(frame: dict[str, Any], lat: int, now: int) -> None:
            self.waiting -= 1
            if frame.get("op") == "ok":
                self.ok += 1
                self.lat.append(lat)
                seq = frame.get("seq", 0)
                if seq > self.max_seq:
                    self.max_seq = seq
                if self.seqs is not None:
                    self.seqs.append((room, frame["seq"], now))
            else:
                self.errors[str(frame.get("code"))] += 1
        return done


async def paced(total: int, rate: float, send: Callable[[int], None]) -> float:
    """Call send(0) … send(total - 1) at `rate` per second on a fixed schedule (a
    late wakeup catches up at once); the seconds it took."""
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    t0 = loop.time()
    k = 0
    while k < total:
        delay = t0 + k * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        now = loop.time()
        while k < total and t0 + k * interval <= now:
            send(k)
            k += 1
    return loop.time() - t0


class RtView:
    """What one socket saw of a round table's stream from its roundtable.get on."""

    __slots__ = ("head", "rankings", "seqs")

    def __init__(self) -> None:
        self.head = -1  # the snapshot's seq (events after it follow); -1 until the reply
        self.seqs: list[int] = []  # every event's seq on the stream, in arrival order
        # question.votes: (seq, receipt µs, [{question, votes}]), in arrival order
        self.rankings: list[tuple[int, int, list[dict[str, int]]]] = []


class Worker:
    def __init__(self) -> None:
        self.socks: dict[int, WS] = {}
        self.specs: dict[int, dict[str, Any]] = {}
        self.target: tuple[str, int, str, str] = ("127.0.0.1", 0, "/", "colloquy")
        self.mid = 1
        self.tag = secrets.token_hex(3)  # client_ids stay unique across runs
        self.pad = b"x" * 40
        self._hb: asyncio.Task[None] | None = None
        self.rt_views: dict[int, RtView] = {}  # socket id → its view (cmd_rt_watch)

    # --- connections ---------------------------------------------------------------

    async def cmd_connect(self, host: str, port: int, path: str, specs: list[dict[str, Any]],
                          kind: str = "colloquy", concurrency: int = 200,
                          limit: float = 60.0) -> dict[str, Any]:
        """Open one socket per spec ({id, headers, subprotocol, port}), `concurrency` at a
        time; a spec's own `port` (a second server process) overrides `port`."""
        self.target = (host, port, path, kind)
        sem = asyncio.Semaphore(concurrency)
        lat: list[int] = []
        errors: collections.Counter[str] = collections.Counter()

        async def one(spec: dict[str, Any]) -> None:
            self.specs[spec["id"]] = spec  # kept even on failure: reopen/resume retry it
            async with sem:
                t = now_us()
                sock = WS(spec["id"], host, spec.get("port", port), path,
                          spec.get("headers"), spec.get("subprotocol"), kind)
                try:
                    await open_ws(sock, limit)
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
                    sock.close()
                    return
                lat.append(now_us() - t)
                self.socks[spec["id"]] = sock

        t0 = time.monotonic()
        await asyncio.gather(*(one(s) for s in specs))
        elapsed = time.monotonic() - t0
        if kind == "colloquy" and self._hb is None:
            self._hb = asyncio.get_running_loop().create_task(self._heartbeat())
        return {"ok": len(lat), "failed": sum(errors.values()), "errors": dict(errors),
                "elapsed_s": round(elapsed, 3),
                "per_s": round(len(lat) / elapsed, 1) if elapsed else None,
                "connect_ms": percentiles(lat, 0.001)}

    async def _heartbeat(self) -> None:
        """Colloquy closes sockets silent for 3 heartbeats; real clients ping, so do we."""
        while True:
            await asyncio.sleep(2.0)
            cutoff = time.monotonic() - 15.0
            for sock in list(self.socks.values()):
                if sock.kind == "colloquy" and not sock.closed and sock.last_send < cutoff:
                    sock.request({"op": "ping"})

    async def cmd_first(self, ids: list[int], limit: float = 60.0) -> dict[str, Any]:
        """Each Colloquy socket's first request (a ping), which releases held events."""
        t0 = time.monotonic()
        socks = [self.socks[i] for i in ids if i in self.socks]
        replied: set[int] = set()

        def cb(sock: WS) -> Any:
            return lambda frame, lat, now: replied.add(sock.sid)

        for sock in socks:
            sock.request({"op": "ping", "ref": 0}, cb(sock))
        while time.monotonic() - t0 < limit:
            waiting = [s for s in socks if s.sid not in replied and not s.closed]
            if not waiting:
                break
            await asyncio.sleep(0.02)
        closed = collections.Counter(str(s.close_code) for s in socks if s.closed)
        return {"ok": len(replied), "closed": dict(closed),
                "missing": sum(1 for s in socks if s.sid not in replied and not s.closed),
                "elapsed_s": round(time.monotonic() - t0, 3)}

    async def cmd_reopen(self, limit: float = 60.0) -> dict[str, Any]:
        """Reconnect every socket the server closed (e.g. 4009 after an overload step)."""
        host, port, path, kind = self.target
        dead = [i for i, s in self.socks.items() if s.closed]
        dead += [i for i in self.specs if i not in self.socks]  # never connected
        codes = collections.Counter(str(self.socks[i].close_code) if i in self.socks
                                    else "never" for i in dead)
        if not dead:
            return {"reopened": 0, "codes": {}}
        specs = [self.specs[i] for i in dead]
        for i in dead:
            self.socks.pop(i, None)
        res = await self.cmd_connect(host, port, path, specs, kind, 200, limit)
        if kind == "colloquy":
            await self.cmd_first([s["id"] for s in specs], limit)
        return {"reopened": res["ok"], "failed": res["failed"], "codes": dict(codes)}

    async def cmd_close(self, ids: list[int] | None = None) -> dict[str, Any]:
        ids = list(self.socks) if ids is None else ids
        for i in ids:
            sock = self.socks.pop(i, None)
            if sock is not None:
                sock.close()
        await asyncio.sleep(0.2)
        return {"closed": len(ids), "open": len(self.socks)}

    async def cmd_info(self) -> dict[str, Any]:
        codes = collections.Counter(s.close_code for s in self.socks.values() if s.closed)
        return {"open": sum(1 for s in self.socks.values() if not s.closed),
                "closed": dict((str(k), v) for k, v in codes.items()), "pid": os.getpid()}

    # --- payloads ------------------------------------------------------------------

    def _message(self, sock: WS, kind: str, room: int, mid: int, t: int) -> bytes:
        """One op of a step: "colloquy" a message.send into `room`, "question" a
        question.ask into round table `room` (its question.created carries the body, so
        the marker times it), "plain" a baseline's chat message."""
        if kind == "question":
            return (b'{"op":"question.ask","ref":%d,"roundtable":%d,"body":"~~%d:%d~~%s",'
                    b'"client_id":"%sq%d"}' % (mid, room, mid, t, self.pad, self.tag.encode(),
                                               mid))
        if kind != "colloquy":
            return b'{"message":"~~%d:%d~~%s"}' % (mid, t, self.pad)
        if sock.binary:
            return msgpack.packb({"op": "message.send", "ref": mid, "room": room,
                                  "body": f"~~{mid}:{t}~~{self.pad.decode()}",
                                  "client_id": f"{self.tag}{mid}"}, use_bin_type=True)
        return (b'{"op":"message.send","ref":%d,"room":%d,"body":"~~%d:%d~~%s",'
                b'"client_id":"%s%d"}' % (mid, room, mid, t, self.pad, self.tag.encode(), mid))

    def _send(self, sock: WS, kind: str, room: int, acks: Acks | None) -> int:
        mid = self.mid
        self.mid += 1
        t = now_us()
        if acks is not None:
            acks.waiting += 1
            sock.pending[mid] = (t, acks.callback(room))
        sock.send_data(self._message(sock, kind, room, mid, t), sock.binary)
        return mid

    async def _drain(self, sink: Sink, expected: Any, acks: Acks | None,
                     drain_max: float, stall: float) -> float:
        """Wait until everything expected arrived, or nothing moves for `stall` s."""
        t0 = time.monotonic()
        last_count, last_move = -1, t0
        while True:
            now = time.monotonic()
            if sink.count != last_count:
                last_count, last_move = sink.count, now
            acked_all = acks is None or acks.waiting <= 0
            if acked_all and sink.count >= expected():
                break
            if now - last_move > stall and acked_all:
                break
            if now - t0 > drain_max:
                break
            await asyncio.sleep(0.02)
        return time.monotonic() - t0

    def _result(self, sink: Sink, expected: int, sent: int, acks: Acks | None,
                send_s: float, drain_s: float, t_first: int, receivers: list[WS],
                min_span: float = 0.0) -> dict[str, Any]:
        closed = collections.Counter(s.close_code for s in receivers if s.closed)
        # First send to last receipt, but never shorter than the sending window (a step
        # of one message would otherwise report its burst speed).
        span = (max(sink.last, t_first) - t_first) / 1e6 if sink.count else 0.0
        span = max(span, send_s, min_span)
        return {
            "sent": sent, "acked": acks.ok if acks else sent,
            "ack_errors": dict(acks.errors) if acks else {},
            "unacked": acks.waiting if acks else 0,
            "expected": expected, "delivered": sink.count,
            "loss": max(0, expected - sink.count), "dups": sink.dups, "late": sink.late,
            "send_s": round(send_s, 3), "drain_s": round(drain_s, 3),
            "deliveries_per_s": round(sink.count / span, 1) if span > 0 else None,
            "latency_ms": percentiles(sink.lat, 0.001),
            "ack_ms": percentiles(acks.lat, 0.001) if acks else None,
            "receivers_closed": {str(k): v for k, v in closed.items()},
        }

    async def _finish(self, sink: Sink, recv: list[WS], acks: Acks | None, total: int,
                      rate: float, duration: float, send_s: float, t_first: int,
                      drain_max: float, stall: float,
                      expected: Callable[[], int] | None = None) -> dict[str, Any]:
        """A step after its sends: wait for every receipt (`expected`; by default each
        acked op is one event to every receiver), stop counting, and report."""
        def every_receiver() -> int:
            return (acks.ok if acks else total) * len(recv)

        wanted = expected or every_receiver
        drain_s = await self._drain(sink, wanted, acks, drain_max, stall)
        # Stop counting (late frames of this step must not land in the next one).
        for sock in recv:
            sock.sink = None
        out = self._result(sink, wanted(), total, acks, send_s, drain_s, t_first, recv,
                           min_span=duration)
        out["rate"] = rate
        out["receivers"] = len(recv)
        return out

    # --- scenarios ---------------------------------------------------------------

    async def cmd_fanout(self, sender: int, room: int, rate: float, duration: float,
                         receivers: list[int], kind: str = "colloquy", drain_max: float = 15.0,
                         stall: float = 2.0, probe: dict[str, Any] | None = None,
                         senders: list[int] | None = None) -> dict[str, Any]:
        """One sender at a paced `rate` msgs/s for `duration` s; every receiver counts.
        `senders`: several sockets that send in turn instead (the ops of one socket are
        answered in order, so one sender also measures its own op latency)."""
        total = max(1, round(rate * duration))
        # Ids from here on belong to this step (a probe chat takes ids too, in its own room).
        sink = Sink(self.mid)
        recv = [self.socks[i] for i in receivers if i in self.socks]
        for sock in recv:
            sock.sink = sink
            sock.seen = set()
        srcs = [self.socks[i] for i in (senders or [sender])]
        for src in srcs:
            src.sink = None
            src.leave_fast_reader()  # its acks are timed: read them as they arrive
        acks = Acks() if kind != "plain" else None  # the baselines answer nothing
        probe_acks = Acks() if probe else None
        stop = asyncio.Event()
        probe_task = None
        if probe:
            probe_task = asyncio.get_running_loop().create_task(
                self._probe(self.socks[probe["sock"]], probe["room"], probe["rate"],
                            probe_acks, stop))
        rs0 = reader_stats()
        t_first = now_us()
        send_s = await paced(total, rate,
                             lambda k: self._send(srcs[k % len(srcs)], kind, room, acks))
        mid_hi = self.mid
        stop.set()
        if probe_task is not None:
            await probe_task

        out = await self._finish(sink, recv, acks, total, rate, duration, send_s, t_first,
                                 drain_max, stall)
        out["reader"] = {k: v - rs0[k] for k, v in reader_stats().items()}
        out["mid_lo"], out["mid_hi"] = sink.lo, mid_hi
        out["max_seq"] = acks.max_seq if acks else None
        if probe_acks is not None:
            out["probe_ack_ms"] = percentiles(probe_acks.lat, 0.001)
            out["probe_errors"] = dict(probe_acks.errors)
        return out

    async def cmd_reactions(self, sender: int, room: int, rate: float, duration: float,
                            receivers: list[int], drain_max: float = 15.0, stall: float = 2.0,
                            emoji: str = "tada") -> dict[str, Any]:
        """Reactions instead of messages: the sender posts one message, then adds and
        takes back `emoji` on it at a paced `rate` ops/s; every op is one event to
        every receiver. The event's `version` (1, 2, … on a fresh message) names
        the op, so each receipt is timed from its op's send."""
        src = self.socks[sender]
        src.sink = None
        src.leave_fast_reader()
        posted: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        ref = self.mid
        self.mid += 1
        src.pending[ref] = (now_us(), lambda frame, _lat, _now: posted.set_result(frame))
        src.send_data(b'{"op":"message.send","ref":%d,"room":%d,"body":"react here",'
                      b'"client_id":"%sr%d"}' % (ref, room, self.tag.encode(), ref), False)
        message = (await asyncio.wait_for(posted, 30))["id"]
        total = max(1, round(rate * duration))
        sent_at: dict[int, int] = {}
        sink = Sink()
        sink.react = (message.encode(), sent_at)
        recv = [self.socks[i] for i in receivers if i in self.socks]
        for sock in recv:
            sock.sink = sink
            sock.seen = set()
        acks = Acks()

        def react(k: int) -> None:
            op = b"reaction.add" if k % 2 == 0 else b"reaction.remove"
            ref = self.mid
            self.mid += 1
            t = now_us()
            sent_at[k + 1] = t  # the k-th change of this emoji gets version k + 1
            acks.waiting += 1
            src.pending[ref] = (t, acks.callback(room))
            src.send_data(b'{"op":"%s","ref":%d,"room":%d,"message":"%s","emoji":"%s"}'
                          % (op, ref, room, message.encode(), emoji.encode()), False)

        t_first = now_us()
        send_s = await paced(total, rate, react)

        return await self._finish(sink, recv, acks, total, rate, duration, send_s, t_first,
                                  drain_max, stall)

    # --- round tables ------------------------------------------------------------

    async def cmd_request(self, sid: int, frame: dict[str, Any], timeout: float = 60.0,
                          brief: bool = False) -> dict[str, Any]:
        """One op on one socket; its reply (ok or error) with `latency_ms` and `bytes`
        (its JSON's length). `brief`: lists replaced by their lengths (a snapshot of
        thousands of questions need not cross the pipe)."""
        sock = self.socks[sid]
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        ref = self.mid
        self.mid += 1

        def done(frame: dict[str, Any], lat: int, _now: int) -> None:
            if not reply.done():
                size = len(json.dumps(frame, separators=(",", ":")))
                if brief:
                    frame = {k: len(v) if isinstance(v, list) else v for k, v in frame.items()}
                reply.set_result({**frame, "latency_ms": round(lat / 1000, 3), "bytes": size})

        sock.request({**frame, "ref": ref}, done)
        return await asyncio.wait_for(reply, timeout)

    async def cmd_rt_watch(self, ids: list[int], roundtable: int, limit: float = 120.0
                           ) -> dict[str, Any]:
        """Every socket in `ids` opens the round table (roundtable.get, all at once) and
        from then on records its stream's events: each seq, and each question.votes
        with its counts and receipt time. The recorder is installed before the
        request, so nothing appended after the snapshot's head goes unseen."""
        stream = f"roundtable:{roundtable}"
        views: dict[int, RtView] = {}
        self.rt_views = views

        def on_event(sock: WS, payload: bytes, now: int) -> None:
            frame = json.loads(payload)
            view = views.get(sock.sid)
            if view is None or frame.get("stream") != stream:
                return  # the voter's own user stream (question.voted), and the like
            view.seqs.append(frame["seq"])
            if frame["type"] == "question.votes":
                view.rankings.append((frame["seq"], now, frame["data"]["votes"]))

        sink = Sink()
        sink.on_event = on_event
        socks = [self.socks[i] for i in ids if i in self.socks and not self.socks[i].closed]
        lat: list[int] = []
        errors: collections.Counter[str] = collections.Counter()
        first: list[dict[str, Any]] = []

        def replied(sock: WS) -> Any:
            def done(frame: dict[str, Any], took: int, _now: int) -> None:
                if frame.get("op") != "ok":
                    errors[str(frame.get("code"))] += 1
                    return
                views[sock.sid].head = frame["seq"]
                lat.append(took)
                if not first:
                    first.append(frame)
            return done

        for sock in socks:
            sock.sink = sink
            sock.seen = set()
            views[sock.sid] = RtView()
        t0 = time.monotonic()
        for sock in socks:
            ref = self.mid
            self.mid += 1
            sock.request({"op": "roundtable.get", "ref": ref, "roundtable": roundtable},
                         replied(sock))
        while len(lat) + sum(errors.values()) < len(socks) and time.monotonic() - t0 < limit:  # noqa: ASYNC110 - polled with a deadline
            await asyncio.sleep(0.02)
        heads = [v.head for v in views.values() if v.head >= 0]
        return {"sockets": len(socks), "ok": len(lat), "errors": dict(errors),
                "elapsed_s": round(time.monotonic() - t0, 3),
                "get_ms": percentiles(lat, 0.001),
                "head_min": min(heads, default=None), "head_max": max(heads, default=None),
                "questions": {q["id"]: q["votes"] for q in first[0]["questions"]}
                if first else {}}

    async def cmd_rt_vote(self, votes: list[list[int]], window: float, limit: float = 120.0
                          ) -> dict[str, Any]:
        """question.vote (up) for each [socket id, question], paced evenly over `window`
        seconds; every vote's ack timed. Which server answered each: the port."""
        acks = Acks()
        by_port: collections.Counter[int] = collections.Counter()
        last_ack = [0]
        skipped = [0]

        def on_ack(sock: WS) -> Any:
            inner = acks.callback()

            def done(frame: dict[str, Any], lat: int, now: int) -> None:
                inner(frame, lat, now)
                if frame.get("op") == "ok":
                    by_port[sock.port] += 1
                    last_ack[0] = max(last_ack[0], now)
            return done

        def send(k: int) -> None:
            sid, question = votes[k]
            sock = self.socks.get(sid)
            if sock is None or sock.closed:
                skipped[0] += 1
                return
            ref = self.mid
            self.mid += 1
            acks.waiting += 1
            sock.request({"op": "question.vote", "ref": ref, "question": question,
                          "up": True}, on_ack(sock))

        t_first = now_us()
        send_s = await paced(len(votes), len(votes) / window, send)
        t0 = time.monotonic()
        while acks.waiting > 0 and time.monotonic() - t0 < limit:  # noqa: ASYNC110 - polled with a deadline
            await asyncio.sleep(0.01)
        return {"sent": len(votes) - skipped[0], "skipped": skipped[0], "acked": acks.ok,
                "errors": dict(acks.errors), "unacked": acks.waiting,
                "send_s": round(send_s, 3), "t_first_us": t_first, "t_last_ack_us": last_ack[0],
                "span_s": round((last_ack[0] - t_first) / 1e6, 3) if last_ack[0] else None,
                "ack_ms": percentiles(acks.lat, 0.001),
                "acked_by_port": {str(k): v for k, v in by_port.items()}}

    async def cmd_rt_check(self, head: int, want: dict[int, int], t_last_ack_us: int,
                           limit: float = 30.0) -> dict[str, Any]:
        """After the votes: wait (up to `limit` s) until every view reached `head`, stop
        recording, and judge each view: seqs after its snapshot contiguous up to the
        head (none missing, none twice), its ranking events counted, and its last
        counts per question (the newest question.votes by seq that names it) equal to
        `want`."""
        views = self.rt_views
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if all(max(v.seqs, default=v.head) >= head for v in views.values() if v.head >= 0):
                break
            await asyncio.sleep(0.05)
        for sid in views:
            sock = self.socks.get(sid)
            if sock is not None:
                sock.sink = None
        rankings: list[int] = []
        missing = dups = disorder = exact = unwatched = behind = 0
        wrong: collections.Counter[str] = collections.Counter()
        freshness: list[int] = []  # the last ranking's arrival after the last vote's ack
        for view in views.values():
            if view.head < 0:
                unwatched += 1
                continue
            got = [s for s in view.seqs if s > view.head]
            seen = set(got)
            dups += len(got) - len(seen)
            top = max(head, max(seen, default=0))
            missing += len(set(range(view.head + 1, top + 1)) - seen)
            behind += max(seen, default=view.head) < head
            disorder += sum(1 for a, b in itertools.pairwise(got) if b < a)
            ranks = sorted({r[0]: r for r in view.rankings if r[0] > view.head}.values())
            rankings.append(len(ranks))
            last: dict[int, int] = {}
            for _seq, _t, counts in ranks:
                last.update({c["question"]: c["votes"] for c in counts})
            if last == want:
                exact += 1
            else:
                for q, n in want.items():
                    if last.get(q) != n:
                        wrong[f"{q}: {last.get(q)} for {n}"] += 1
            if ranks and t_last_ack_us:
                freshness.append(max(r[1] for r in ranks) - t_last_ack_us)
        rankings.sort()
        return {"viewers": len(views) - unwatched, "unwatched": unwatched,
                "waited_s": round(time.monotonic() - t0, 3),
                "rankings_max": rankings[-1] if rankings else None,
                "rankings_median": rankings[len(rankings) // 2] if rankings else None,
                "rankings_min": rankings[0] if rankings else None,
                "rankings_histogram": dict(sorted(collections.Counter(rankings).items())),
                "missing": missing, "dups": dups, "out_of_order": disorder,
                "viewers_behind_head": behind, "viewers_last_exact": exact,
                "wrong_last_counts": dict(wrong.most_common(10)),
                "last_ranking_after_last_ack_ms": percentiles(freshness, 0.001)}

    async def _probe(self, sock: WS, room: int, rate: float, acks: Acks | None,
                     stop: asyncio.Event) -> None:
        """A chat in another room, acks timed, while the fan-out runs."""
        sock.sink = None
        while not stop.is_set():
            self._send(sock, "colloquy", room, acks)
            await asyncio.sleep(1.0 / rate)
        t0 = time.monotonic()
        while acks is not None and acks.waiting > 0 and time.monotonic() - t0 < 10:  # noqa: ASYNC110 - polled with a deadline
            await asyncio.sleep(0.02)

    async def cmd_probe(self, sock: int, room: int, rate: float, duration: float
                        ) -> dict[str, Any]:
        """The probe chat alone for `duration` s, in a process that reads nothing else."""
        acks = Acks()
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(duration, stop.set)
        await self._probe(self.socks[sock], room, rate, acks, stop)
        return {"probe_ack_ms": percentiles(acks.lat, 0.001), "probe_errors": dict(acks.errors)}

    async def cmd_chat(self, members: dict[str, list[int]], total_rate: float, duration: float,
                       drain_max: float = 15.0, stall: float = 2.0) -> dict[str, Any]:
        """Many rooms: every member sends; `total_rate` msgs/s spread over all of them."""
        rooms = {int(r): [self.socks[i] for i in ids if i in self.socks]
                 for r, ids in members.items()}
        total = max(1, round(total_rate * duration))
        sink = Sink(self.mid, self.mid + total)
        everyone: list[tuple[WS, int]] = []
        for room, socks in rooms.items():
            for sock in socks:
                sock.sink = sink
                sock.seen = set()
                everyone.append((sock, room))
        random.shuffle(everyone)
        size = {room: len(socks) for room, socks in rooms.items()}
        acks = Acks(record_seq=False)
        # Expected receipts per acked message: its room's connected members.
        per_room_acked: collections.Counter[int] = collections.Counter()

        def cb(room: int) -> Any:
            inner = acks.callback(room)

            def done(frame: dict[str, Any], lat: int, now: int) -> None:
                inner(frame, lat, now)
                if frame.get("op") == "ok":
                    per_room_acked[room] += 1
            return done

        loop = asyncio.get_running_loop()
        t_first = now_us()
        t0 = loop.time()
        sent = 0
        idx = 0
        while sent < total:
            due = min(total, int(total_rate * (loop.time() - t0)) + 1)
            while sent < due:
                sock, room = everyone[idx]
                idx = (idx + 1) % len(everyone)
                mid = self.mid
                self.mid += 1
                t = now_us()
                acks.waiting += 1
                sock.pending[mid] = (t, cb(room))
                sock.send_data(self._message(sock, "colloquy", room, mid, t), sock.binary)
                sent += 1
            await asyncio.sleep(0.005)
        send_s = loop.time() - t0

        def expected() -> int:
            return sum(n * size[r] for r, n in per_room_acked.items())

        return await self._finish(sink, [s for s, _ in everyone], acks, total, total_rate,
                                  duration, send_s, t_first, drain_max, stall, expected)

    async def cmd_burst(self, senders: list[list[int]], total: int, window: int = 32,
                        limit: float = 600.0) -> dict[str, Any]:
        """`total` message.send as fast as acks allow, `window` in flight per sender."""
        acks = Acks(record_seq=True)
        left = [total]
        pairs = [(self.socks[s], room) for s, room in senders]
        for sock, _ in pairs:
            sock.sink = None

        def pump(sock: WS, room: int) -> Any:
            inner = acks.callback(room)

            def done(frame: dict[str, Any], lat: int, now: int) -> None:
                inner(frame, lat, now)
                if left[0] > 0:
                    left[0] -= 1
                    self._send_cb(sock, room, acks, done)
            return done

        t0 = time.monotonic()
        t_first = now_us()
        for sock, room in pairs:
            cb = pump(sock, room)
            for _ in range(window):
                if left[0] <= 0:
                    break
                left[0] -= 1
                self._send_cb(sock, room, acks, cb)
        while (acks.waiting > 0 or left[0] > 0) and time.monotonic() - t0 < limit:  # noqa: ASYNC110 - polled with a deadline
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - t0
        return {"sent": total - left[0], "acked": acks.ok, "errors": dict(acks.errors),
                "unacked": acks.waiting, "elapsed_s": round(elapsed, 3),
                "acks_per_s": round(acks.ok / elapsed, 1), "t_first_us": t_first,
                "ack_ms": percentiles(acks.lat, 0.001), "seqs": acks.seqs}

    def _send_cb(self, sock: WS, room: int, acks: Acks, cb: Any) -> None:
        mid = self.mid
        self.mid += 1
        t = now_us()
        acks.waiting += 1
        sock.pending[mid] = (t, cb)
        sock.send_data(self._message(sock, "colloquy", room, mid, t), sock.binary)

    async def cmd_resume(self, ids: list[int], streams: dict[str, int], lo: int, hi: int,
                         limit: float = 60.0, concurrency: int = 0) -> dict[str, Any]:
        """Reconnect `ids` all at once; each resumes `streams` and must get ids [lo, hi)."""
        host, port, path, kind = self.target
        want = hi - lo
        done_at: dict[int, int] = {}
        ok_at: dict[int, int] = {}
        hello_at: dict[int, int] = {}
        dups = [0]
        errors: collections.Counter[str] = collections.Counter()

        def on_marker(sock: WS, mid: int, now: int) -> None:
            if mid < lo or mid >= hi:
                return
            if mid in sock.seen:
                dups[0] += 1
                return
            sock.seen.add(mid)
            if len(sock.seen) == want:
                done_at[sock.sid] = now

        sink = Sink(lo, hi)
        sink.on_marker = on_marker
        t0 = now_us()

        sem = asyncio.Semaphore(concurrency or len(ids))

        async def one(i: int) -> None:
            spec = self.specs[i]
            sock = WS(i, host, spec.get("port", port), path, spec.get("headers"),
                      spec.get("subprotocol"), kind)
            sock.sink = sink
            try:
                async with sem:
                    await open_ws(sock, limit)
            except Exception as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
                return
            hello_at[i] = now_us()
            self.socks[i] = sock

            def replied(frame: dict[str, Any], lat: int, now: int) -> None:
                if frame.get("op") == "ok":
                    ok_at[i] = now
                else:
                    errors[str(frame.get("code"))] += 1

            sock.request({"op": "resume", "ref": 1, "streams": streams}, replied)

        await asyncio.gather(*(one(i) for i in ids))
        deadline = time.monotonic() + limit
        while (len(done_at) < len(ids) or len(ok_at) < len(ids)) and time.monotonic() < deadline:
            if sum(errors.values()) and len(done_at) + sum(errors.values()) >= len(ids):
                break
            await asyncio.sleep(0.02)
        for i in ids:
            if i in self.socks:
                self.socks[i].sink = None
        got = sum(len(self.socks[i].seen) for i in ids if i in self.socks)
        return {
            "clients": len(ids), "complete": len(done_at), "replied": len(ok_at),
            "errors": dict(errors), "events_expected": want * len(ids), "events": got,
            "loss": want * len(ids) - got, "dups": dups[0],
            "hello_ms": percentiles([t - t0 for t in hello_at.values()], 0.001),
            "complete_ms": percentiles([t - t0 for t in done_at.values()], 0.001),
            "reply_ms": percentiles([t - t0 for t in ok_at.values()], 0.001),
        }


async def _serve(conn: Any) -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def pipe_reader() -> None:
        # A thread blocked in recv(): watching the pipe with add_reader would make its fd
        # non-blocking (uvloop does), and a large command would then arrive in pieces.
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = ("exit", {})
            loop.call_soon_threadsafe(inbox.put_nowait, msg)
            if msg[0] == "exit":
                return

    threading.Thread(target=pipe_reader, name="pipe", daemon=True).start()
    while True:
        cmd, args = await inbox.get()
        if cmd == "exit":
            with contextlib.suppress(Exception):
                await worker.cmd_close()
            conn.send(("ok", None))
            return
        try:
            result = await getattr(worker, f"cmd_{cmd}")(**args)
            conn.send(("ok", result))
        except Exception:
            conn.send(("error", traceback.format_exc()))


def worker_main(conn: Any, cpus: list[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, set(cpus))
    raise_nofile()
    try:  # libuv's loop: cheaper wake-ups and timers than the selector loop
        import uvloop
    except ImportError:
        asyncio.run(_serve(conn))
    else:
        uvloop.run(_serve(conn))
