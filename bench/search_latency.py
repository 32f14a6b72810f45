"""Message search latency over a large rooms_message table (Postgres, services profile).

    python -m bench.search_latency [--messages 1000000] [--rooms 200] [--member-of 50]
                                   [--queries 400] [--out bench/results/search_latency.md]

Calls the server's own search, `rooms.search.results` (the `search` op's
body: its count-then-sort-or-walk queries over the indexes of migration rooms 0008,
ts_headline, and the author lookup), in-process, one query after another, in a
throwaway database that is dropped at the end.

Data, from a fixed seed (`--seed`):
  --employees employees (2,000), --rooms group rooms, one searcher who is a
  member of --member-of of them (the rooms `search` covers without `room`).
  --messages messages, each in a uniformly random room (seq increasing per
  room), created_at in whole milliseconds (as the persister stores it) spread
  evenly over the last year, ids uuid4 hex. Bodies are 5-30 words from a
  Zipf-Mandelbrot vocabulary of ~300 common English and ~300 common Russian
  words interleaved by rank (97% of words), plus rare generated words like
  "proj1234" (3%, uniform over a pool of messages/20 of them, so each appears
  in ~10 messages at any scale). 1% of messages are edited (rooms_messagestate
  row, new body, version 2) and 0.5% deleted (body NULL, deleted_at, version 1).

Query classes (websearch_to_tsquery syntax), each over the searcher's rooms
("all") and again with the `room` filter (one of those rooms, "room"), limit 20,
no cursor (the first page), drawn round-robin:
  en_common  one of the 5 most common English words             the
  ru_common  one of the 5 most common Russian words             и
  rare       a generated word from a stored body                proj1234
  and2       two words of the 60 most common                    this он
  phrase     two adjacent words of a stored body, quoted        "code review"
  or         two less common words (ranks 60-400)               deploy or ветка
  not        a common word minus another                        the -и
"A stored body" is one sampled while loading from the searcher's rooms; its
room is the one a "room" query filters by, so those have at least one hit.
Common-word queries over all the searcher's rooms must fill the page (20
hits), and so must single-room ones in a room of at least 1,000 messages: an
empty answer is not what is measured.

Latency is wall time per call (time.perf_counter), after 20 warm-up queries;
percentiles are nearest-rank. Also reported: the client's and the Postgres
backend's CPU per query (from /proc), and how busy the rest of the machine was
meanwhile, since this box is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.servers import PG_ADMIN, PY, REDIS_BASE, REDIS_DB, ROOT, cpu_seconds, machine_busy_s

CHUNK = 100_000  # rows per COPY: bounded memory, and progress lines
WARMUP = 20
LIMIT = 20  # the op's default page
COMMON_TOP = 5
DAY_MS = 86_400_000

# ~300 common words of each language, roughly by frequency (most common first).
# No "or": websearch_to_tsquery reads it as an operator. No hyphens: the parser
# would split them into several lexemes.
_EN = """
the be to of and a in that have i it for not on with he as you do at this but his by
from they we say her she an will my one all would there their what so up out if about
who get which go me when make can like time no just him know take people into year
your good some could them see other than then now look only come its over think also
back after use two how our work first well way even new want because any these give
day most us is are was were been has had did said thanks please ok yes sorry hi hello
team meeting today tomorrow yesterday week deploy release review build test bug fix
issue ticket server client code branch merge commit docs design plan call sync update
status report data database query cache queue job task sprint demo customer manager
product feature change version config error log alert page incident backup network
api endpoint token user account email message chat room thread link file image doc
sheet slide budget invoice contract office lunch coffee break morning evening night
monday tuesday wednesday thursday friday weekend holiday vacation sick late early soon
done ready blocked waiting pending started finished approved rejected merged deployed
broken working slow fast big small high low next last same different important urgent
quick simple hard easy sure maybe really still again already never always often here
where why should must might need let try help ask tell show send check run start stop
open close read write call meet move keep find leave put mean seem feel become turn
"""
EN_WORDS = _EN.split()

_RU = """
и в не на я быть он с что а по это она этот к но они мы как из у который то за свой
весь год от так о для ты же все тот мочь вы человек такой его сказать только или ещё бы
себя один уже до время если сам когда другой вот говорить наш мой знать стать при чтобы
дело жизнь кто первый очень два день её новый рука даже во со раз где там под можно ну
какой после их работа без самый потом надо хотеть ли слово идти большой должен место
иметь ничто сейчас тут лицо каждый друг нет теперь ни глаз тоже тогда видеть вопрос
через да здесь дом сторона думать сделать страна жить чем мир об последний случай
голова более делать смотреть конец перед несколько вид система часть город отношение
деньги земля машина вода проблема час право решить дверь образ история сразу сегодня
завтра вчера неделя проект задача релиз сервер сборка тест ошибка исправить встреча
отчёт клиент команда код база данные письмо звонок спасибо пожалуйста привет коллеги
готово срочно ветка запрос доступ пароль обновление версия документ таблица договор
счёт бюджет план созвон обед кофе утро вечер понедельник вторник среда четверг пятница
выходные отпуск больничный поздно рано скоро сделано жду проверить посмотреть отправить
написать позвонить обсудить согласовать запустить остановить собрать выложить откатить
починить сломалось работает медленно быстро важно нужно хорошо плохо понятно ладно
конечно может наверное точно вообще просто правда опять всегда никогда часто иногда
почему зачем куда откуда сколько минута секунда месяц квартал итог результат цель
причина решение вариант пример схема модель макет дизайн тестирование продакшен стенд
логи алерт инцидент бэкап сеть ключ токен аккаунт почта сообщение чат канал ссылка файл
картинка презентация слайд офис переговорка менеджер руководитель заказчик продукт фича
"""  # noqa: RUF001 - Cyrillic on purpose, not look-alike Latin
RU_WORDS = _RU.split()

RARE_PREFIXES = ["proj", "tkt", "build", "srv", "инц", "заявка"]


def _dedupe(words: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(w for w in words if w != "or"))


@dataclass
class Vocabulary:
    common: list[str]  # EN and RU interleaved by rank: index = Zipf rank - 1
    rare: list[str]
    words: list[str]  # common + rare, aligned with cum_weights
    cum_weights: list[float]
    en: list[str]
    ru: list[str]

    @classmethod
    def build(cls, n_rare: int, rng: random.Random) -> Vocabulary:
        en, ru = _dedupe(EN_WORDS), _dedupe(RU_WORDS)
        common = [w for pair in zip(en, ru, strict=False) for w in pair]
        common += en[len(ru):] + ru[len(en):]
        # Zipf-Mandelbrot (s=1, q=2.7): the top word is ~5% of all words, as "the"
        # is in English text; chat bodies then contain common words in most messages.
        raw = [1.0 / (rank + 2.7) for rank in range(1, len(common) + 1)]
        scale = 0.97 / sum(raw)
        weights = [w * scale for w in raw]
        numbers = rng.sample(range(1000, 1000 + max(10 * n_rare, 10_000)), n_rare)
        rare = [f"{RARE_PREFIXES[i % len(RARE_PREFIXES)]}{n}" for i, n in enumerate(numbers)]
        weights += [0.03 / n_rare] * n_rare
        cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            cum.append(total)
        return cls(common, rare, common + rare, cum, en, ru)

    def body(self, rng: random.Random) -> str:
        return " ".join(rng.choices(self.words, cum_weights=self.cum_weights,
                                    k=rng.randint(5, 30)))


# --- database ----------------------------------------------------------------------


def psql(sql: str) -> None:
    # The admin statements the way bench/servers.py runs them (psql, trust auth).
    subprocess.run(["psql", PG_ADMIN, "-qc", sql], check=True, capture_output=True)


def bench_env(dbname: str, tag: str) -> dict[str, str]:
    """The environment of ColloquyStack's services profile (bench/servers.py): the
    settings want DATABASE_URL and REDIS_URL together; nothing here uses Redis."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{dbname}",
               REDIS_URL=f"{REDIS_BASE}/{REDIS_DB}", COLLOQUY_REDIS_PREFIX=f"cqbs{tag}",
               DJANGO_SETTINGS_MODULE="realtime.settings", COLLOQUY_LOG_LEVEL="WARNING",
               PYTHONUNBUFFERED="1")
    return env


def migrate(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                          text=True, capture_output=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"manage.py migrate failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def raw_connection() -> Any:
    """Django's own psycopg connection: COPY and the queries share one backend."""
    from django.db import connection

    connection.ensure_connection()
    return connection.connection


def scalar(sql: str, params: Sequence[Any] = ()) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- load --------------------------------------------------------------------------


@dataclass
class Loaded:
    searcher_rooms: list[int]
    room_counts: dict[int, int]
    sampled: list[tuple[int, str]]  # (room, body) in the searcher's rooms, for queries
    messages: int = 0
    edited: int = 0
    deleted: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def load(args: argparse.Namespace, vocab: Vocabulary, rng: random.Random) -> Loaded:
    from core.models import Employee
    from rooms.models import Membership, Room

    t0 = time.perf_counter()
    # "!" is an unusable password: no hashing cost, and nobody can log in.
    Employee.objects.bulk_create(
        [Employee(username=f"s{i:05d}", password="!", display_name=f"Search {i}",
                  role="employee") for i in range(args.employees)], batch_size=5000)
    authors = list(Employee.objects.order_by("id").values_list("id", flat=True))
    Room.objects.bulk_create([Room(name=f"room {i}", kind="group", created_by_id=authors[0])
                              for i in range(args.rooms)], batch_size=5000)
    rooms = list(Room.objects.order_by("id").values_list("id", flat=True))
    searcher = authors[0]
    mine = sorted(rng.sample(rooms, min(args.member_of, len(rooms))))
    Membership.objects.bulk_create([Membership(room_id=r, user_id=searcher) for r in mine])
    timings = {"employees, rooms, memberships": time.perf_counter() - t0}

    mine_set = set(mine)
    out = Loaded(mine, {}, [])
    next_seq = dict.fromkeys(rooms, 0)
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - 365 * DAY_MS
    step = 365 * DAY_MS / max(args.messages, 1)
    gen_s = copy_s = 0.0
    conn = raw_connection()
    t_load = time.perf_counter()
    for first in range(0, args.messages, CHUNK):
        t = time.perf_counter()
        messages: list[tuple[Any, ...]] = []
        states: list[tuple[Any, ...]] = []
        for i in range(first, min(first + CHUNK, args.messages)):
            room = rooms[rng.randrange(len(rooms))]
            next_seq[room] += 1
            author = authors[rng.randrange(len(authors))]
            # Whole milliseconds, increasing: what the persister writes (rooms.writer).
            ms = start_ms + int(i * step) + rng.randrange(max(int(step), 1))
            at = datetime.fromtimestamp(ms / 1000, tz=UTC)
            mid = uuid.UUID(int=rng.getrandbits(128), version=4).hex
            body = vocab.body(rng)
            messages.append((mid, room, author, next_seq[room], body, f"c{i}", at))
            if room in mine_set and len(out.sampled) < 5000 and rng.random() < 0.2:
                out.sampled.append((room, body))
            r = rng.random()
            if r < 0.01:
                states.append((mid, room, author, vocab.body(rng), 2,
                               at + timedelta(minutes=rng.randint(1, 600)), None))
            elif r < 0.015:
                states.append((mid, room, author, None, 1, None,
                               at + timedelta(minutes=rng.randint(1, 600))))
        t1 = time.perf_counter()
        with conn.cursor() as cur:
            with cur.copy("COPY rooms_message (id, room_id, author_id, seq, body, client_id,"
                          " created_at) FROM STDIN") as copy:
                for row in messages:
                    copy.write_row(row)
            with cur.copy("COPY rooms_messagestate (message_id, room_id, author_id, body,"
                          " version, edited_at, deleted_at) FROM STDIN") as copy:
                for row in states:
                    copy.write_row(row)
        t2 = time.perf_counter()
        gen_s += t1 - t
        copy_s += t2 - t1
        out.messages += len(messages)
        out.edited += sum(1 for s in states if s[4] == 2)
        out.deleted += sum(1 for s in states if s[6] is not None)
        print(f"  {out.messages:>10,} messages  COPY {len(messages) / (t2 - t1):>8,.0f} rows/s"
              f"  ({time.perf_counter() - t_load:.1f} s)", flush=True)
    out.room_counts = next_seq
    timings["rows built in Python"] = gen_s
    timings["COPY, GIN and btree maintenance included"] = copy_s
    t = time.perf_counter()
    # VACUUM as well as ANALYZE: it flushes the GIN pending lists (fastupdate) that
    # a fresh bulk load leaves behind and sets the visibility map, the steady state
    # autovacuum would reach; otherwise autovacuum might start mid-measurement.
    with conn.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) rooms_message")
        cur.execute("VACUUM (ANALYZE) rooms_messagestate")
    timings["VACUUM (ANALYZE)"] = time.perf_counter() - t
    if args.rebuild_index:
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute("REINDEX INDEX rooms_message_fts")
        timings["REINDEX rooms_message_fts (a build from scratch)"] = time.perf_counter() - t
    out.timings = timings
    return out


def sizes() -> list[tuple[str, int]]:
    names = [("rooms_message heap", "pg_relation_size('rooms_message')"),
             ("rooms_message all indexes", "pg_indexes_size('rooms_message')"),
             ("  of which GIN rooms_message_fts", "pg_relation_size('rooms_message_fts')"),
             ("rooms_message total (TOAST incl.)", "pg_total_relation_size('rooms_message')"),
             ("rooms_messagestate heap", "pg_relation_size('rooms_messagestate')"),
             ("rooms_messagestate all indexes", "pg_indexes_size('rooms_messagestate')"),
             ("  of which GIN rooms_messagestate_fts",
              "pg_relation_size('rooms_messagestate_fts')")]
    return [(label, int(scalar(f"SELECT {expr}"))) for label, expr in names]


# --- queries -----------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    kind: str  # e.g. "en_common/all"
    text: str
    rooms: list[int]
    must_fill: bool  # a common word where the page must be full


Made = tuple[str, int | None]  # the query text, and the room a "room" query must use


def query_makers(vocab: Vocabulary, loaded: Loaded,
                 rng: random.Random) -> list[tuple[str, Callable[[], Made]]]:
    top, mid = vocab.common[:60], vocab.common[60:400]
    common = set(vocab.common)
    rare_seen = [(room, w) for room, body in loaded.sampled for w in body.split()
                 if w not in common]

    def rare() -> Made:
        if not rare_seen:  # a tiny load: no sampled body holds one
            return rng.choice(vocab.rare), None
        room, word = rng.choice(rare_seen)
        return word, room

    def phrase() -> Made:
        if not loaded.sampled:  # a tiny load
            return " ".join(f'"{w}"' for w in rng.sample(top, 2)), None
        room, body = rng.choice(loaded.sampled)
        words = body.split()
        i = rng.randrange(len(words) - 1)
        return f'"{words[i]} {words[i + 1]}"', room

    def not_() -> Made:
        a, b = rng.sample(vocab.common[:10], 2)
        return f"{a} -{b}", None

    return [
        ("en_common", lambda: (rng.choice(vocab.en[:COMMON_TOP]), None)),
        ("ru_common", lambda: (rng.choice(vocab.ru[:COMMON_TOP]), None)),
        ("rare", rare),
        ("and2", lambda: (" ".join(rng.sample(top, 2)), None)),
        ("phrase", phrase),
        ("or", lambda: (" or ".join(rng.sample(mid, 2)), None)),
        ("not", not_),
    ]


def make_queries(n: int, vocab: Vocabulary, loaded: Loaded, rng: random.Random) -> list[Query]:
    makers = query_makers(vocab, loaded, rng)
    out: list[Query] = []
    for i in range(n):
        kind, make = makers[(i // 2) % len(makers)]
        common = kind.endswith("_common")
        text, hint = make()
        if i % 2 == 0:
            out.append(Query(f"{kind}/all", text, loaded.searcher_rooms, common))
        else:
            room = hint or rng.choice(loaded.searcher_rooms)
            # One room of fewer than 1,000 messages may hold under 20 of a common word.
            full = common and loaded.room_counts[room] >= 1000
            out.append(Query(f"{kind}/room", text, [room], full))
    return out


@dataclass
class Sample:
    query: Query
    wall_ms: float
    client_cpu_ms: float
    backend_cpu_ms: float
    hits: int


def run_queries(queries: list[Query], warmup: list[Query]) -> tuple[list[Sample], dict[str, float]]:
    from rooms.search import results

    backend = int(scalar("SELECT pg_backend_pid()"))
    for q in warmup:  # caches, plan paths, Python imports: not measured
        results(q.text, q.rooms, before=None, limit=LIMIT)
    samples: list[Sample] = []
    m0, w0 = machine_busy_s(), time.perf_counter()
    ours0 = time.process_time() + cpu_seconds(backend)
    for q in queries:
        # /proc CPU ticks are 10 ms: per query they only add up to a mean.
        b0, c0 = cpu_seconds(backend), time.process_time()
        t0 = time.perf_counter()
        answer = results(q.text, q.rooms, before=None, limit=LIMIT)
        wall = time.perf_counter() - t0
        c1, b1 = time.process_time(), cpu_seconds(backend)
        hits = len(answer["results"])
        if q.must_fill and hits != LIMIT:
            raise AssertionError(f"{q.kind} {q.text!r} returned {hits} hits, not {LIMIT}")
        samples.append(Sample(q, wall * 1000, (c1 - c0) * 1000, (b1 - b0) * 1000, hits))
    wall_s = time.perf_counter() - w0
    busy = machine_busy_s() - m0
    ours = time.process_time() + cpu_seconds(backend) - ours0
    return samples, {"wall_s": wall_s, "machine_busy_cores": busy / wall_s,
                     "other_cores": max(0.0, busy - ours) / wall_s}


def explain(queries: list[Query]) -> list[str]:
    """EXPLAIN ANALYZE of search's own SQL, once per class (--explain)."""
    from django.conf import settings
    from django.db import connection

    from rooms import search

    out: list[str] = []
    seen: set[str] = set()
    for q in queries:
        if q.kind in seen:
            continue
        seen.add(q.kind)
        end = search._END
        args = {"query": q.text, "rooms": q.rooms, "ts": search._at(end.ts), "seq": end.seq,
                "id": end.id, "limit": LIMIT, "cap": settings.SEARCH_SORT_MATCHES}
        with connection.cursor() as cursor:
            # The plan search itself picks: count first, then few or many.
            cursor.execute(search._FEW_SQL, args)
            few = cursor.fetchone()[0] < settings.SEARCH_SORT_MATCHES
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + search._PG_SQL[few], args)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        which = "sort the matches" if few else "walk back from the newest"
        out.append(f"### {q.kind}: `{q.text}` ({which})\n\n```\n{plan}\n```\n")
    return out


# --- report ------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def row(label: str, samples: list[Sample]) -> str:
    wall = [s.wall_ms for s in samples]
    hits = [s.hits for s in samples]
    return (f"| {label} | {len(samples)} | {min(hits)} / {statistics.median(hits):g} /"
            f" {max(hits)} | {pct(wall, 0.5):.2f} | {pct(wall, 0.9):.2f} | {pct(wall, 0.99):.2f}"
            f" | {max(wall):.2f} | {statistics.mean(s.client_cpu_ms for s in samples):.2f}"
            f" | {statistics.mean(s.backend_cpu_ms for s in samples):.2f} |")


def latency_table(samples: list[Sample]) -> str:
    by_kind: dict[str, list[Sample]] = {}
    for s in samples:
        by_kind.setdefault(s.query.kind, []).append(s)
    lines = ["| query class | n | hits min / median / max | p50 ms | p90 ms | p99 ms | max ms"
             " | client CPU ms (mean) | Postgres CPU ms (mean) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [row(kind, by_kind[kind]) for kind in sorted(by_kind, key=_kind_order)]
    lines.append(row("**all**", samples))
    return "\n".join(lines)


def _kind_order(kind: str) -> tuple[int, int]:
    name, scope = kind.split("/")
    names = ["en_common", "ru_common", "rare", "and2", "phrase", "or", "not"]
    return (scope != "all", names.index(name))


def machine() -> list[str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f
                      if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True).stdout.strip() or "?"
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    return [f"- nproc: {len(os.sched_getaffinity(0))}", f"- CPU: {model}",
            f"- Postgres: {scalar('SELECT version()')}",
            f"- Python {platform.python_version()}, commit {commit}",
            f"- load average at the end: {loadavg}"]


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def report(args: argparse.Namespace, loaded: Loaded, table_sizes: list[tuple[str, int]],
           samples: list[Sample], meter: dict[str, float], plans: list[str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = "python -m bench.search_latency " + " ".join(sys.argv[1:])
    lines = [f"# Message search latency ({when})", "",
             f"`{cmd}`: {loaded.messages:,} messages in {args.rooms} rooms"
             f" ({loaded.edited:,} edited, {loaded.deleted:,} deleted), {args.employees:,}"
             f" employees; the searcher is in {len(loaded.searcher_rooms)} rooms"
             f" ({sum(loaded.room_counts[r] for r in loaded.searcher_rooms):,} messages)."
             f" {len(samples)} queries through `rooms.search.results`, limit {LIMIT},"
             f" sequential, after {WARMUP} warm-up ones (classes: the module docstring).", "",
             latency_table(samples), "",
             f"Measured over {meter['wall_s']:.1f} s; the machine was busy"
             f" {meter['machine_busy_cores']:.2f} cores on average, of which"
             f" {meter['other_cores']:.2f} not this client or its Postgres backend.", "",
             "## Load", "", "| step | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in loaded.timings.items()]
    lines += ["", "| relation | size |", "|---|---:|"]
    lines += [f"| {label} | {mib(n)} |" for label, n in table_sizes]
    lines += ["", "## Machine", "", *machine(), ""]
    if plans:
        lines += ["## Plans (EXPLAIN ANALYZE, one query per class)", "", *plans]
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.search_latency",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--rooms", type=int, default=200)
    p.add_argument("--member-of", type=int, default=50)
    p.add_argument("--queries", type=int, default=400)
    p.add_argument("--employees", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--explain", action="store_true",
                   help="add EXPLAIN ANALYZE of one query per class to the report")
    p.add_argument("--rebuild-index", action="store_true",
                   help="also time REINDEX of the GIN index (what 0008 costs on a full table)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_latency.md")
    args = p.parse_args(argv)
    if not 1 <= args.member_of <= args.rooms:
        p.error("--member-of must be 1 to --rooms")
    if args.messages < 1 or args.queries < 1 or args.employees < 1:
        p.error("--messages, --queries and --employees must be positive")
    return args


@contextlib.contextmanager
def throwaway_database() -> Iterator[tuple[str, str]]:
    tag = secrets.token_hex(4)
    dbname = f"colloquy_bench_search_{tag}"
    psql(f"CREATE DATABASE {dbname}")
    try:
        yield dbname, tag
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        # FORCE: a backend still connected (an interrupted COPY) must not keep it.
        subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"],
                       capture_output=True)
        print(f"dropped database {dbname}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    with throwaway_database() as (dbname, tag):
        env = bench_env(dbname, tag)
        print(f"database {dbname}: migrating…", flush=True)
        migrate_s = migrate(env)
        # Django reads its settings from the environment: set it before the import.
        os.environ.update(env)
        import django

        django.setup()
        vocab = Vocabulary.build(max(1000, args.messages // 20), rng)
        print(f"loading {args.messages:,} messages ({len(vocab.common)} common words,"
              f" {len(vocab.rare):,} rare)…", flush=True)
        loaded = load(args, vocab, rng)
        loaded.timings = {"manage.py migrate": migrate_s, **loaded.timings}
        table_sizes = sizes()
        warmup = make_queries(WARMUP, vocab, loaded, rng)
        queries = make_queries(args.queries, vocab, loaded, rng)
        print(f"running {WARMUP} warm-up and {len(queries)} measured queries…", flush=True)
        samples, meter = run_queries(queries, warmup)
        plans = explain(queries) if args.explain else []
        text = report(args, loaded, table_sizes, samples, meter, plans)
    print()
    print(text.split("\n## Plans")[0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
