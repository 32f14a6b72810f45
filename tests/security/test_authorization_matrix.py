"""Every op against every kind of caller that must be refused, on both codecs.

The op list is read from consumers/ops.py and roundtables/ops.py (OPS), so a
new op fails test_matrix_names_every_op until it is placed in the matrix.

Callers:
- a member (baseline: every request below is well formed and allowed);
- an employee who is not a member: `forbidden` for every op naming the room,
  the rest allowed;
- a guest: `forbidden` as above, and on rooms.create, rooms.invite (even in a
  room of theirs), employees.search, and presence of people they share no
  room with;
- outside a round table's audience (any employee, and every guest): `forbidden`
  on the ops that name the round table, and `not_found` on those that name only
  a question (a forbidden there would tell which question ids exist), the same
  frame for a real id and for one that does not exist; roundtable.create is for
  executives and administrators only;
- a deactivated employee: every live socket closed with 4003, a new handshake
  refused with HTTP 403;
- a revoked token: its sockets closed with 4001 (protocol.md section 10),
  a new handshake refused with 403, the same user's other token unaffected.

And no guessing reveals anything: the forbidden frame for an existing room and
for one that does not exist, whatever seq is asked for, differ only by the
room id the client sent; other users' streams are forbidden alike.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from colloquy_client import Client, ConnectionLost
from tests.stack import PASSWORD, Stack, close_code_within, ops_in_source
from tests.stack import handshake_status as url_handshake_status

NO_SUCH_ROOM = 987_654_321_012
NO_SUCH_USER = 876_543_210_987
CODECS = ["json", "msgpack"]

# Ops that name a room (or a room stream): a non-member is refused on each.
# The message ops run in this order on one message, so the delete comes last.
MESSAGE_OPS = ["message.edit", "message.versions", "reaction.add", "reaction.remove",
               "thread.follow", "thread.unfollow", "receipts", "message.ack", "acks.list",
               "message.delete"]
ROOM_OPS = ["rooms.invite", "rooms.leave", "rooms.members", "message.send", *MESSAGE_OPS,
            "history", "resume", "read", "typing", "search", "rooms.mute"]
# Changing someone else's message, or seeing who acknowledged it: refused to
# anyone but its author, moderators and admins.
AUTHOR_ONLY = {"message.edit", "message.delete", "acks.list"}
# The author's message in these tests is an announcement (the owner is a
# moderator), so message.ack has something to acknowledge; by another member.
NOT_BY_AUTHOR = {"message.ack"}
NO_MESSAGE = "0" * 32
# Ops that name no room.
OTHER_OPS = ["ping", "rooms.list", "counts", "rooms.create", "presence.set", "presence.query",
             "presence.subscribe", "employees.search", "notifications.list",
             "notifications.read", "notifications.prefs", "roundtables.list"]
# Round-table ops naming the round table, and naming only one of its questions.
ROUNDTABLE_OPS = ["roundtable.get", "roundtable.start", "roundtable.end", "question.ask",
                  "question.pin"]
QUESTION_OPS = ["question.edit", "question.withdraw", "question.vote", "question.moderate",
                "question.answer"]
CREATOR_ONLY = {"roundtable.create"}  # executives and administrators
NO_SUCH_ROUNDTABLE = 765_432_109
NO_SUCH_QUESTION = 654_321_098_765
# Two asks per variant: a socket's burst of ops (RATE_BURST, 60) holds this many.
VARIANTS_PER_SOCKET = 20
STRANGER_SOCKETS = 3  # sockets of test_forbidden_reveals_nothing_about_rooms_or_seqs
GUEST_FORBIDDEN = {"rooms.create", "rooms.invite", "employees.search"}


def room_request(op: str, room: int, *, invitee: str, seq: int = 1,
                 message: str = NO_MESSAGE) -> dict[str, Any]:
    """Well-formed fields of a room op aimed at `room` (and `message` in it)."""
    return {
        "message.edit": {"room": room, "message": message, "body": "edited"},
        "message.versions": {"room": room, "message": message},
        "reaction.add": {"room": room, "message": message, "emoji": "tada"},
        "reaction.remove": {"room": room, "message": message, "emoji": "tada"},
        "thread.follow": {"room": room, "message": message},
        "thread.unfollow": {"room": room, "message": message},
        "receipts": {"room": room, "message": message},
        "message.ack": {"room": room, "message": message},
        "acks.list": {"room": room, "message": message},
        "message.delete": {"room": room, "message": message},
        "rooms.invite": {"room": room, "users": [invitee]},
        "rooms.leave": {"room": room},
        "rooms.members": {"room": room},
        "message.send": {"room": room, "body": "matrix", "client_id": uuid.uuid4().hex[:16]},
        "history": {"stream": f"room:{room}", "limit": 10},
        "resume": {"streams": {f"room:{room}": 0}},
        "read": {"room": room, "seq": seq},
        "typing": {"room": room},
        "search": {"query": "matrix", "room": room},
        "rooms.mute": {"room": room, "level": "mentions"},
    }[op]


def other_request(op: str, *, about: int, name: str = "matrix") -> dict[str, Any]:
    """Well-formed fields of an op that names no room (`about`: a user id)."""
    return {
        "ping": {},
        "rooms.list": {},
        "counts": {},
        "rooms.create": {"name": name, "members": []},
        "presence.set": {"status": "online"},
        "presence.query": {"users": [about]},
        "presence.subscribe": {"users": [about]},
        "employees.search": {"query": "", "limit": 5},
        "notifications.list": {"limit": 5},
        # Only one's own: another's notification id reads nothing (read: 0).
        "notifications.read": {"up_to": 2**53},
        "notifications.prefs": {"off": ["reaction"]},
        "roundtables.list": {},
    }[op]


def roundtable_request(op: str, roundtable: int, question: int) -> dict[str, Any]:
    """Well-formed fields of a round-table op aimed at `roundtable` / `question`."""
    return {
        "roundtable.get": {"roundtable": roundtable},
        "roundtable.start": {"roundtable": roundtable},
        "roundtable.end": {"roundtable": roundtable},
        "question.ask": {"roundtable": roundtable, "body": "matrix?",
                         "client_id": uuid.uuid4().hex[:16]},
        "question.pin": {"roundtable": roundtable, "question": question},
        "question.edit": {"question": question, "body": "matrix, edited?"},
        "question.withdraw": {"question": question},
        "question.vote": {"question": question, "up": True},
        "question.moderate": {"question": question, "action": "reject", "reason": "matrix"},
        "question.answer": {"question": question, "answer": "matrix"},
    }[op]


def create_request(audience_room: int, host: str, moderator: str) -> dict[str, Any]:
    """roundtable.create for the members of one room (never "everyone": that would
    notify the whole test pool)."""
    return {"title": "Matrix", "starts_at": 0, "hosts": [host], "moderators": [moderator],
            "audience": {"kind": "room", "room": audience_room}}


class Probe(Client):
    """A Client whose requests carry a chosen ref and return the reply frame, ok or error."""

    async def ask(self, op: str, ref: Any, timeout: float = 10.0, **fields: Any
                  ) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            assert self._ws is not None
            await self._ws.send(self._encode({"op": op, "ref": ref, **fields}))
            return await asyncio.wait_for(future, timeout)
        except ConnectionClosed as exc:
            raise ConnectionLost(exc.rcvd.code if exc.rcvd else None) from None
        finally:
            self._pending.pop(ref, None)


def server_for(codec: str) -> int:
    return 0 if codec == "json" else 1  # services: one codec per process


async def probe(stack: Stack, username: str, codec: str, *, token: str | None = None
                ) -> Probe:
    client = Probe(stack.ws_url(server_for(codec)), token=token or stack.token(username),
                   codec=codec)
    await client.connect()
    await client.ask("ping", "first")  # live events flow from the first request on
    return client


async def handshake_status(stack: Stack, token: str, codec: str) -> int:
    return await url_handshake_status(stack.ws_url(server_for(codec)), token=token, codec=codec)


def assert_forbidden(frame: dict[str, Any], ref: Any, op: str) -> None:
    assert set(frame) == {"op", "ref", "code", "message"}, (op, frame)
    assert (frame["op"], frame["ref"], frame["code"]) == ("error", ref, "forbidden"), (op, frame)


def assert_ok(frame: dict[str, Any], ref: Any, op: str) -> None:
    assert (frame["op"], frame["ref"]) == ("ok", ref), (op, frame)


class World:
    """Users and rooms for one profile: R (owner, victim-to-be members), GR (owner, guest)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.owner = stack.new_user("moderator")  # may send announcements
        self.executive = stack.new_user("executive")  # hosts the round tables
        self.outsider = stack.new_user()
        self.invitee = stack.new_user()
        self.deactivated = stack.new_user()
        self.revoked = stack.new_user()
        self.guest = stack.new_user("guest")
        self.ids: dict[str, int] = {}
        self.room = 0  # R: owner, deactivated, revoked
        self.guest_room = 0  # GR: owner, guest
        self.head = 0  # last seq of R
        self.guest_message = ""  # the owner's message in the guest's room
        self.roundtable = 0  # for R's members, the owner moderating
        self.question = 0  # the owner's, in it
        # Two codecs x (one socket each in three tests + up to STRANGER_SOCKETS in one).
        self.strangers = [stack.new_user() for _ in range(2 * (3 + STRANGER_SOCKETS))]
        # Guests of the round-table test, one per codec (a budget of their own).
        self.guests = [stack.new_user("guest") for _ in CODECS]

    def stranger(self) -> str:
        """A fresh non-member: each has its own employee-wide op budget, so the
        matrix's bursts never meet rate_limited, whatever order tests run in."""
        return self.strangers.pop()

    async def build(self) -> World:
        stack = self.stack
        await asyncio.to_thread(stack.issue_tokens, self.strangers + self.guests)
        owner = await probe(stack, self.owner, "json")
        for name in (self.outsider, self.guest, self.deactivated, self.revoked):
            c = await probe(stack, name, "json")
            self.ids[name] = c.hello["user"]["id"]
            await c.close()
        self.ids[self.owner] = owner.hello["user"]["id"]
        r = await owner.ask("rooms.create", 1, name="Secret plans",
                            members=[self.deactivated, self.revoked])
        self.room = r["room"]["id"]
        for i in range(5):
            ack = await owner.ask("message.send", 10 + i, room=self.room, body=f"secret {i}",
                                  client_id=f"world-{i}")
            self.head = ack["seq"]
        g = await owner.ask("rooms.create", 2, name="Audit", members=[self.guest])
        self.guest_room = g["room"]["id"]
        welcome = await owner.ask("message.send", 3, room=self.guest_room, body="welcome",
                                  client_id="world-g", requires_ack=True)
        self.guest_message = welcome["id"]
        host = await probe(stack, self.executive, "json")
        audience = await host.ask("rooms.create", 4, name="Round table audience",
                                  members=[self.owner, self.deactivated, self.revoked])
        made = await host.ask("roundtable.create", 5, **create_request(
            audience["room"]["id"], self.executive, self.owner))
        self.roundtable = made["roundtable"]["id"]
        asked = await owner.ask("question.ask", 6, roundtable=self.roundtable,
                                body="secret question", client_id="world-q")
        self.question = asked["question"]["id"]
        await host.close()
        await owner.close()
        return self


@pytest.fixture(scope="module")
async def world(stack: Stack) -> World:
    return await World(stack).build()


def test_matrix_names_every_op() -> None:
    ops = ops_in_source()
    assert sorted(ops) == sorted(ROOM_OPS + OTHER_OPS + ROUNDTABLE_OPS + QUESTION_OPS
                                 + sorted(CREATOR_ONLY))
    assert set(ops) >= GUEST_FORBIDDEN


@pytest.mark.parametrize("codec", CODECS)
async def test_member_gets_ok_on_every_op(stack: Stack, world: World, codec: str) -> None:
    """The baseline: the very requests refused below are well formed."""
    owner = await probe(stack, world.owner, codec)
    base = (await owner.ask("rooms.create", "b", name="Baseline",
                            members=[world.outsider]))["room"]["id"]
    refs = itertools.count(100)
    mine = (await owner.ask("message.send", "m", room=base, body="baseline",
                            client_id=f"baseline-{codec}", requires_ack=True))["id"]
    member = await probe(stack, world.outsider, codec)
    for op in [o for o in OTHER_OPS]:
        ref = next(refs)
        assert_ok(await owner.ask(op, ref, **other_request(op, about=world.ids[world.outsider])),
                  ref, op)
    for op in [o for o in ROOM_OPS if o != "rooms.leave"] + ["rooms.leave"]:
        ref = next(refs)
        fields = room_request(op, base, invitee=world.invitee, message=mine)
        asker = member if op in NOT_BY_AUTHOR else owner
        assert_ok(await asker.ask(op, ref, **fields), ref, op)
    await owner.close()
    await member.close()


@pytest.mark.parametrize("codec", CODECS)
async def test_audience_and_staff_get_ok_on_every_roundtable_op(stack: Stack, world: World,
                                                                codec: str) -> None:
    """The baseline of the round-table rows: each request below is well formed and
    allowed to the executive, the moderator (the owner) or an audience member."""
    host = await probe(stack, world.executive, codec)
    member_name = world.stranger()
    room = (await host.ask("rooms.create", "a", name="Audience",
                           members=[world.owner, member_name]))["room"]["id"]
    made = await host.ask("roundtable.create", "c", **create_request(
        room, world.executive, world.owner))
    assert_ok(made, "c", "roundtable.create")
    rid = made["roundtable"]["id"]
    mod, member = await probe(stack, world.owner, codec), await probe(stack, member_name, codec)
    asked = []
    for i in range(3):
        reply = await member.ask("question.ask", f"q{i}", roundtable=rid, body=f"Q{i}?",
                                 client_id=f"ok-{codec}-{i}")
        assert_ok(reply, f"q{i}", "question.ask")
        asked.append(reply["question"]["id"])
    keep, withdrawn, rejected = asked
    steps = [(mod, "roundtable.get", keep), (mod, "roundtable.start", keep),
             (member, "roundtable.get", keep), (member, "question.edit", keep),
             (member, "question.vote", keep), (member, "question.withdraw", withdrawn),
             (mod, "question.moderate", rejected), (mod, "question.pin", keep),
             (host, "question.answer", keep), (host, "roundtable.end", keep)]
    assert sorted({op for _, op, _ in steps} | {"question.ask"}) == sorted(
        ROUNDTABLE_OPS + QUESTION_OPS)
    for i, (client, op, question) in enumerate(steps):
        assert_ok(await client.ask(op, i, **roundtable_request(op, rid, question)), i, op)
    for client in (host, mod, member):
        await client.close()


async def _outside_the_audience(client: Probe, world: World) -> set[str]:
    """Every round-table op aimed at the world's round table and question, then at ids
    that exist nowhere: refused alike. Returns the wordings seen (ids as <id>)."""
    seen: set[str] = set()
    ref = itertools.count(1)
    for op in ROUNDTABLE_OPS + QUESTION_OPS:
        r = next(ref)
        real = await client.ask(op, r, **roundtable_request(op, world.roundtable,
                                                            world.question))
        fake = await client.ask(op, r, **roundtable_request(op, NO_SUCH_ROUNDTABLE,
                                                            NO_SUCH_QUESTION))
        code = "forbidden" if op in ROUNDTABLE_OPS else "not_found"
        assert set(real) == {"op", "ref", "code", "message"}, (op, real)
        assert (real["op"], real["ref"], real["code"]) == ("error", r, code), (op, real)
        ids = ((str(world.roundtable), str(NO_SUCH_ROUNDTABLE)) if op in ROUNDTABLE_OPS
               else (str(world.question), str(NO_SUCH_QUESTION)))
        assert fake == {**real, "message": real["message"].replace(*ids)}, (op, real, fake)
        seen.add(real["message"].replace(ids[0], "<id>"))
    r = next(ref)
    assert_forbidden(await client.ask("roundtable.create", r, **create_request(
        world.room, world.executive, world.owner)), r, "roundtable.create")
    return seen


@pytest.mark.parametrize("codec", CODECS)
async def test_outside_the_audience_every_roundtable_op_is_refused_alike(
        stack: Stack, world: World, codec: str) -> None:
    for name in (world.stranger(), world.guests[CODECS.index(codec)]):
        client = await probe(stack, name, codec)
        assert await _outside_the_audience(client, world) == {
            "you cannot see round table <id>", "no question <id>"}
        listed = await client.ask("roundtables.list", "l")
        assert world.roundtable not in [rt["id"] for rt in listed["roundtables"]]
        await asyncio.sleep(0.2)
        leaked = [e for e in client.drain_events()
                  if e.get("stream", "").endswith(f":{world.roundtable}")]
        assert leaked == []
        await client.close()


@pytest.mark.parametrize("codec", CODECS)
async def test_non_member_is_forbidden_on_every_room_op(stack: Stack, world: World,
                                                        codec: str) -> None:
    outsider = await probe(stack, world.stranger(), codec)
    refs = itertools.count(1)
    for op in ROOM_OPS:
        ref = next(refs)
        frame = await outsider.ask(op, ref, **room_request(op, world.room,
                                                           invitee=world.invitee))
        assert_forbidden(frame, ref, op)
    for op in OTHER_OPS:
        ref = next(refs)
        frame = await outsider.ask(op, ref, **other_request(op, about=world.ids[world.owner]))
        assert_ok(frame, ref, op)
        if op in ("rooms.list", "counts"):
            assert world.room not in [r["id"] for r in frame["rooms"]]
    await asyncio.sleep(0.2)
    leaked = [e for e in outsider.drain_events() if e.get("stream") == f"room:{world.room}"]
    assert leaked == []
    await outsider.close()


@pytest.mark.parametrize("codec", CODECS)
async def test_guest_is_forbidden_where_documented(stack: Stack, world: World,
                                                   codec: str) -> None:
    guest = await probe(stack, world.guest, codec)
    refs = itertools.count(1)
    stranger, roommate = world.ids[world.outsider], world.ids[world.owner]
    # Rooms they are not in: forbidden, as for anyone.
    for op in ROOM_OPS:
        ref = next(refs)
        assert_forbidden(await guest.ask(op, ref, **room_request(
            op, world.room, invitee=world.invitee)), ref, op)
    # Ops that name no room.
    for op in OTHER_OPS:
        ref = next(refs)
        frame = await guest.ask(op, ref, **other_request(op, about=stranger))
        if op in GUEST_FORBIDDEN or (op.startswith("presence.") and op != "presence.set"):
            assert_forbidden(frame, ref, op)
        else:
            assert_ok(frame, ref, op)
    # Presence of someone they share a room with is allowed.
    for op in ("presence.query", "presence.subscribe"):
        ref = next(refs)
        assert_ok(await guest.ask(op, ref, users=[roommate]), ref, op)
    ref = next(refs)
    assert_forbidden(await guest.ask("presence.query", ref, users=[roommate, stranger]),
                     ref, "presence.query")
    # In their own room: everything but inviting.
    for op in [o for o in ROOM_OPS if o != "rooms.leave"]:
        ref = next(refs)
        frame = await guest.ask(op, ref, **room_request(op, world.guest_room,
                                                        invitee=world.invitee,
                                                        message=world.guest_message))
        if op == "rooms.invite" or op in AUTHOR_ONLY:
            assert_forbidden(frame, ref, op)
        else:
            assert_ok(frame, ref, op)
    await guest.close()


@pytest.mark.parametrize("codec", CODECS)
async def test_forbidden_reveals_nothing_about_rooms_or_seqs(stack: Stack, world: World,
                                                            codec: str) -> None:
    """Existing room vs no such room, any seq: the same frame but for the id sent."""
    outsider = await probe(stack, world.stranger(), codec)
    head = world.head
    variants: list[tuple[str, dict[str, Any]]] = [
        (op, room_request(op, 0, invitee=world.invitee)) for op in ROOM_OPS]
    for cursor in ({"after": 0}, {"after": head}, {"after": head + 1000}, {"before": head},
                   {"before": 1}, {"limit": 200}):
        variants.append(("history", {"stream": "room:0", "limit": 10, **cursor}))
    for seq in (0, 1, head, head + 1, 10**12):
        variants.append(("resume", {"streams": {"room:0": seq}}))
        variants.append(("read", {"room": 0, "seq": seq}))

    def aim(fields: dict[str, Any], room: int) -> dict[str, Any]:
        out = dict(fields)
        if "room" in out:
            out["room"] = room
        if "stream" in out:
            out["stream"] = f"room:{room}"
        if "streams" in out:
            out["streams"] = {f"room:{room}": v for v in out["streams"].values()}
        return out

    assert len(variants) <= STRANGER_SOCKETS * VARIANTS_PER_SOCKET
    seen: set[str] = set()
    for i, (op, fields) in enumerate(variants):
        if i and i % VARIANTS_PER_SOCKET == 0:  # a fresh socket and user, a fresh budget
            await outsider.close()
            outsider = await probe(stack, world.stranger(), codec)
        real = await outsider.ask(op, i, **aim(fields, world.room))
        fake = await outsider.ask(op, i, **aim(fields, NO_SUCH_ROOM))
        assert_forbidden(real, i, op)
        assert fake == {**real, "message": real["message"].replace(
            str(world.room), str(NO_SUCH_ROOM))}, (op, fields, real, fake)
        seen.add(real["message"].replace(str(world.room), "<id>"))
    # Whatever was asked, only two wordings: "not a member" and "cannot read".
    assert seen == {"you are not a member of room <id>", "you cannot read room:<id>"}
    await outsider.close()


@pytest.mark.parametrize("codec", CODECS)
async def test_other_users_streams_are_forbidden_alike(stack: Stack, world: World,
                                                      codec: str) -> None:
    outsider = await probe(stack, world.stranger(), codec)
    other = world.ids[world.owner]
    mine = outsider.hello["user"]["id"]
    refs = itertools.count(1)
    for op, fields in [("history", {"limit": 10}), ("history", {"after": 0, "limit": 10}),
                       ("resume", None)]:
        ref = next(refs)
        frames = []
        for user in (other, NO_SUCH_USER):
            stream = f"user:{user}"
            req = {"streams": {stream: 0}} if fields is None else {"stream": stream, **fields}
            frames.append(await outsider.ask(op, ref, **req))
        real, fake = frames
        assert_forbidden(real, ref, op)
        assert real["message"] == f"you cannot read user:{other}"
        assert fake == {**real, "message": f"you cannot read user:{NO_SUCH_USER}"}
    # Their own user stream is readable.
    ref = next(refs)
    assert_ok(await outsider.ask("history", ref, stream=f"user:{mine}", limit=10), ref,
              "history")
    await outsider.close()


async def _refused_on_every_op(client: Probe, world: World) -> list[str]:
    """Ops that did NOT fail with ConnectionLost on a closed socket."""
    served = []
    for i, op in enumerate(ROOM_OPS + OTHER_OPS + ROUNDTABLE_OPS + QUESTION_OPS):
        if op in ROOM_OPS:
            fields = room_request(op, world.room, invitee=world.invitee)
        elif op in OTHER_OPS:
            fields = other_request(op, about=world.ids[world.owner])
        else:
            fields = roundtable_request(op, world.roundtable, world.question)
        try:
            frame = await client.ask(op, i, timeout=3, **fields)
            served.append(f"{op}: {frame}")
        except (ConnectionLost, TimeoutError):
            pass
    return served


async def test_deactivated_user_is_closed_4003_and_refused_everywhere(
    stack: Stack, world: World,
) -> None:
    name = world.deactivated
    sockets = [await probe(stack, name, codec) for codec in CODECS]
    done = await asyncio.to_thread(stack.manage, "deactivate_employee", name)
    assert done.stdout.strip() == f"deactivated {name}"
    assert [await close_code_within(s) for s in sockets] == [4003, 4003]
    for s in sockets:
        assert await _refused_on_every_op(s, world) == []
    token = stack.token(name)
    assert [await handshake_status(stack, token, codec) for codec in CODECS] == [403, 403]
    status, _ = stack.post("/api/auth/token", {"username": name, "password": PASSWORD})
    assert status == 401


async def test_revoked_token_is_closed_4001_and_refused_at_the_handshake(
    stack: Stack, world: World,
) -> None:
    name = world.revoked
    revoked = stack.token(name)
    status, body = stack.post("/api/auth/token", {"username": name, "password": PASSWORD})
    assert status == 200
    kept = body["token"]
    on_revoked = [await probe(stack, name, codec, token=revoked) for codec in CODECS]
    on_kept = await probe(stack, name, "msgpack", token=kept)
    done = await asyncio.to_thread(stack.manage, "revoke_token", revoked[:10])
    assert done.stdout.startswith("revoked ")
    assert [await close_code_within(s) for s in on_revoked] == [4001, 4001]
    for s in on_revoked:
        assert await _refused_on_every_op(s, world) == []
    assert [await handshake_status(stack, revoked, codec) for codec in CODECS] == [403, 403]
    # The same employee's other token: its socket stays open and is still authorised.
    assert_ok(await on_kept.ask("history", "k", stream=f"room:{world.room}", limit=5), "k",
              "history")
    assert_ok(await on_kept.ask("roundtable.get", "r", roundtable=world.roundtable), "r",
              "roundtable.get")
    assert await handshake_status(stack, kept, "json") == 101
    await on_kept.close()
