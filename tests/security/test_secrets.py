"""Secrets at rest and in logs.

A session of everything that handles a secret or a message body: token issue
(right and wrong passwords), tickets (used, reused, unused), a browser login
with its session cookie, a refused bearer token, messages with a distinctive
body on both codecs, and the error paths those bodies can take (forbidden,
too_large, a body the server cannot store). Afterwards:

- core_apitoken.digest is the SHA-256 of each token, and no column of any
  table holds a token, a ticket or a password in the clear (Postgres, or the
  SQLite database and journal);
- no Redis key of the run holds a token or a ticket (services);
- no server or persister log line holds a token, a ticket, a password, the
  session key, or a message body (docs/operations.md, "Logging").
"""

from __future__ import annotations

import asyncio
import hashlib
import http.cookiejar
import re
import secrets
import sqlite3
import urllib.parse
import urllib.request
import uuid
from typing import Any

from websockets.exceptions import InvalidStatus

from colloquy_client import Client, ColloquyError
from tests.stack import PASSWORD, Stack


def login(stack: Stack, username: str, password: str) -> tuple[int, dict[str, str]]:
    """Sign in through /login/ as a browser does; (status, cookies)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    url = stack.http(0) + "/login/"
    with opener.open(url, timeout=10) as r:
        page = r.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token, "no CSRF token in the login form"
    form = urllib.parse.urlencode({"username": username, "password": password,
                                   "csrfmiddlewaretoken": token.group(1)})
    with opener.open(urllib.request.Request(url, data=form.encode(), method="POST"),
                     timeout=10) as r:
        r.read()
        status = r.status
    return status, {c.name: c.value for c in jar}


async def handshake(url: str, *, token: str | None = None, ticket: str | None = None,
                    headers: dict[str, str] | None = None, codec: str = "json") -> int:
    client = Client(url, token=token, ticket=ticket, headers=headers, codec=codec)
    try:
        await client.connect()
    except InvalidStatus as exc:
        return exc.response.status_code
    await client.request("ping")
    await client.close()
    return 101


def columns_holding(stack: Stack, needles: dict[str, str]) -> list[str]:
    """'table.column: what' for every text column of the database holding a needle."""
    found = []
    if stack.profile == "services":
        cols = stack.sql("SELECT table_name, column_name FROM information_schema.columns"
                         " WHERE table_schema = 'public'"
                         " AND data_type IN ('text', 'character varying')")
        for table, column in cols:
            for what, needle in needles.items():
                query = f'SELECT count(*) FROM "{table}" WHERE strpos("{column}", ?) > 0'
                [(n,)] = stack.sql(query, needle)
                if n:
                    found.append(f"{table}.{column}: {what}")
        return found
    for path in (stack.tmp / "data" / "colloquy.sqlite3", stack.tmp / "data" / "journal.sqlite3"):
        db = sqlite3.connect(path, timeout=10)
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for col in db.execute(f'PRAGMA table_info("{table}")').fetchall():
                    for what, needle in needles.items():
                        n = db.execute(f'SELECT count(*) FROM "{table}" WHERE'
                                       f' instr(CAST("{col[1]}" AS TEXT), ?) > 0',
                                       (needle,)).fetchone()[0]
                        if n:
                            found.append(f"{path.name}:{table}.{col[1]}: {what}")
        finally:
            db.close()
    return found


def redis_keys_holding(stack: Stack, needles: dict[str, str]) -> list[str]:
    import redis

    client = redis.Redis.from_url(stack.redis_url, socket_timeout=10)
    found = []
    try:
        for key in client.scan_iter(f"{stack.env['COLLOQUY_REDIS_PREFIX']}:*", count=1000):
            kind = client.type(key).decode()
            if kind == "string":
                blobs = [client.get(key) or b""]
            elif kind == "stream":
                blobs = [b"".join(fields.values()) for _, fields in client.xrange(key)]
            elif kind == "hash":
                blobs = [k + v for k, v in client.hgetall(key).items()]
            elif kind == "set":
                blobs = list(client.smembers(key))
            elif kind == "zset":
                blobs = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            else:
                blobs = []
            blob = key + b"".join(blobs)
            found += [f"{key.decode()}: {what}" for what, needle in needles.items()
                      if needle.encode() in blob]
    finally:
        client.close()
    return found


class Session:
    """Everything one run did with secrets, to be looked for afterwards."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.alice, self.bob, self.carol = stack.new_user(), stack.new_user(), stack.new_user()
        self.marker = f"body-{uuid.uuid4().hex}"
        self.secrets: dict[str, str] = {}
        self.tokens: dict[str, str] = {}

    async def run(self) -> Session:
        stack = self.stack
        wrong = f"wrong-{secrets.token_hex(8)}"
        status, _ = stack.post("/api/auth/token", {"username": self.alice, "password": wrong})
        assert status == 401
        self.secrets["wrong password"] = wrong
        self.secrets["password"] = PASSWORD
        for name in (self.alice, self.bob):
            status, body = stack.post("/api/auth/token", {"username": name, "password": PASSWORD,
                                                          "label": "laptop"})
            assert status == 200
            self.tokens[name] = body["token"]
            self.secrets[f"token of {name}"] = body["token"]
        auth = {"Authorization": f"Bearer {self.tokens[self.alice]}"}
        used = stack.post("/api/auth/ticket", headers=auth)[1]["ticket"]
        unused = stack.post("/api/auth/ticket", headers=auth)[1]["ticket"]
        self.secrets.update({"used ticket": used, "unused ticket": unused})
        bad = "cq_" + secrets.token_urlsafe(32)
        self.secrets["refused token"] = bad
        status, cookies = login(stack, self.carol, PASSWORD)
        assert status == 200 and "sessionid" in cookies, cookies
        self.secrets["session key"] = cookies["sessionid"]

        url = stack.ws_url(0)
        assert await handshake(url, ticket=used) == 101
        assert await handshake(url, ticket=used) == 403
        assert await handshake(url, token=bad) == 403
        origin = stack.env.get("COLLOQUY_ALLOWED_ORIGINS", "http://127.0.0.1:8000").split(",")[0]
        assert await handshake(url, headers={"Cookie": f"sessionid={cookies['sessionid']}",
                                             "Origin": origin}) == 101

        alice = Client(stack.ws_url(0), token=self.tokens[self.alice])
        bob = Client(stack.ws_url(1), token=self.tokens[self.bob], codec="msgpack")
        await alice.connect()
        await bob.connect()
        room = (await alice.request("rooms.create", name="Quiet", members=[self.bob]))["room"]
        lonely = (await bob.request("rooms.create", name="Lonely", members=[]))["room"]
        await asyncio.sleep(0.2)
        for i, (who, where) in enumerate([(alice, room), (bob, room), (alice, room)]):
            await who.request("message.send", room=where["id"], body=f"{self.marker} {i}",
                              client_id=f"sec-{i}")
        failures: list[str] = []
        for who, fields in [
            (alice, {"room": lonely["id"], "body": self.marker, "client_id": "sec-f"}),
            (alice, {"room": room["id"], "body": self.marker + "x" * 10_001,
                     "client_id": "sec-l"}),
            (alice, {"room": room["id"], "body": f"{self.marker} \ud800",
                     "client_id": "sec-s"}),
        ]:
            try:
                await who.request("message.send", **fields)
            except ColloquyError as exc:
                failures.append(exc.code)
        assert failures[:2] == ["forbidden", "too_large"], failures
        await alice.request("history", stream=f"room:{room['id']}", limit=10)
        await bob.request("typing", room=room["id"], thread=self.marker[:40])
        self.secrets["message body"] = self.marker
        for c in (alice, bob):
            await c.close()
        # The persister has written the messages, and everyone had time to log.
        await asyncio.to_thread(
            stack.wait_sql, "SELECT count(*) FROM rooms_message WHERE room_id = ?", room["id"],
            expect=[(3,)], timeout=30)
        await asyncio.sleep(0.5)
        return self


async def test_tokens_and_tickets_are_stored_as_sha256_digests(stack: Stack) -> None:
    session = await Session(stack).run()
    for name, token in session.tokens.items():
        rows = stack.sql("SELECT t.digest, t.prefix FROM core_apitoken t JOIN core_employee e"
                         " ON e.id = t.user_id WHERE e.username = ? AND t.label = 'laptop'",
                         name)
        assert rows == [(hashlib.sha256(token.encode()).hexdigest(), token[:10])]
    unused = session.secrets["unused ticket"]
    assert stack.sql("SELECT count(*) FROM core_ticket WHERE digest = ?",
                     hashlib.sha256(unused.encode()).hexdigest()) == [(1,)]
    used = session.secrets["used ticket"]
    assert stack.sql("SELECT count(*) FROM core_ticket WHERE digest = ?",
                     hashlib.sha256(used.encode()).hexdigest()) == [(0,)]
    # Not a token, a ticket or a password in the clear anywhere in the database.
    # (Django's database sessions are keyed by the session key itself: left out.)
    needles = {k: v for k, v in session.secrets.items()
               if k not in ("message body", "session key")}
    needles.update({f"token of {u}": t for u, t in stack.tokens.items()})
    assert await asyncio.to_thread(columns_holding, stack, needles) == []
    if stack.profile == "services":
        assert await asyncio.to_thread(redis_keys_holding, stack, needles) == []


async def test_no_secret_or_message_body_in_any_log(stack: Stack) -> None:
    session = await Session(stack).run()
    logs = stack.log_text()
    assert "socket handshake refused" in logs  # the servers did log this session
    assert any("persister" in p.name for p in stack.logs) or stack.profile == "embedded"
    needles: dict[str, Any] = dict(session.secrets)
    needles.update({f"token of {u}": t for u, t in stack.tokens.items()})
    leaked = sorted(what for what, value in needles.items() if value in logs)
    assert leaked == [], [
        line for line in logs.splitlines() if any(v in line for v in needles.values())][:5]
