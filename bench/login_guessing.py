"""Password guessing against POST /api/auth/token, with and without the throttle.

    python -m bench.login_guessing [--guesses 200] [--guessers 8] [--profile embedded]

Starts a real stack (tests/stack.py) with two server processes: one with the
log-in throttle as deployed, and a baseline with it turned off (every failure
free), in the same run. On each, `--guessers` threads send `--guesses` wrong
passwords for one employee while another employee logs in over and over; it
reports the answers the guessers got and the legitimate log-in's latency, alone
and under the attack, as a ratio. The per-address throttle is off on both (the
guessers and the employee share 127.0.0.1 here; tests/security covers it).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

from tests.stack import PASSWORD, Stack

OFF = "1000000000"  # failures that are free: no throttle


def log_in(base: str, username: str, password: str) -> tuple[int, float]:
    body = json.dumps({"username": username, "password": password}).encode()
    req = urllib.request.Request(base + "/api/auth/token", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status = r.status
            r.read()
    except urllib.error.HTTPError as e:
        status = e.code
        e.read()
    return status, time.perf_counter() - t0


def legit_latencies(base: str, username: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        status, seconds = log_in(base, username, PASSWORD)
        assert status == 200, status
        out.append(seconds)
    return out


def attack(base: str, victim: str, guesses: int, guessers: int,
           answers: collections.Counter[int]) -> float:
    left = iter(range(guesses))
    lock = threading.Lock()

    def guesser() -> None:
        while True:
            with lock:
                n = next(left, None)
            if n is None:
                return
            status, _ = log_in(base, victim, f"guess-{n}")
            with lock:
                answers[status] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=guesser) for _ in range(guessers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def ms(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
    return f"p50 {statistics.median(values) * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms"


def measure(stack: Stack, index: int, label: str, args: argparse.Namespace) -> float:
    base = stack.http(index)
    victim, employee = stack.new_user(), stack.new_user()
    alone = legit_latencies(base, employee, args.logins)
    answers: collections.Counter[int] = collections.Counter()
    during: list[float] = []
    done = threading.Event()

    def employee_logs_in() -> None:
        while not done.is_set():
            during.extend(legit_latencies(base, employee, 1))

    watcher = threading.Thread(target=employee_logs_in)
    watcher.start()
    took = attack(base, victim, args.guesses, args.guessers, answers)
    done.set()
    watcher.join()
    ratio = statistics.median(during) / statistics.median(alone)
    print(f"{label}: {args.guesses} guesses by {args.guessers} threads in {took:.1f} s, "
          f"answers {dict(sorted(answers.items()))}")
    print(f"  legitimate log-in alone: {ms(alone)}; under attack: {ms(during)} "
          f"({len(during)} log-ins); median ratio {ratio:.2f}x")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guesses", type=int, default=200)
    parser.add_argument("--guessers", type=int, default=8)
    parser.add_argument("--logins", type=int, default=20, help="legitimate log-ins alone")
    parser.add_argument("--profile", default="embedded", choices=["embedded", "services"])
    args = parser.parse_args()
    stack = Stack(args.profile)
    stack.env.pop("COLLOQUY_PASSWORD_HASHERS")  # the deployed hasher: its cost is the point
    stack.env["COLLOQUY_LOGIN_IP_FREE_FAILURES"] = OFF
    stack.env["COLLOQUY_LOG_LEVEL"] = "WARNING"
    stack.start()
    try:
        throttled = measure(stack, 0, "throttled (as deployed)", args)
        stack.start_server(extra_env={"COLLOQUY_LOGIN_FREE_FAILURES": OFF})
        baseline = measure(stack, len(stack.servers) - 1, "baseline (throttle off)", args)
        print(f"under attack, the legitimate log-in is {throttled:.2f}x its time alone with "
              f"the throttle and {baseline:.2f}x without it")
    finally:
        stack.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
