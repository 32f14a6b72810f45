"""Bad input: each kind gets its documented answer, and nobody else loses anything.

Every test puts three employees in one room: a talker (well behaved, server 0),
a neighbour (server 1 on the services profile) and the sender of the bad input.
After the bad input, the talker speaks again and the neighbour must have
received exactly the talker's messages, in order; the bad socket, unless the
server closed it, must still answer a ping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from colloquy_client import Client, ColloquyError
from tests.stack import Stack, close_code_within

MAX_FRAME_BYTES = 65536
MAX_BODY_CHARS = 10000
RATE_BURST = 60
RATE_PER_SECOND = 20
FLOOD_STRIKES = 50
NO_SUCH_ROOM = 999_999_999
FRAME_TOO_LARGE = 4013  # close codes: docs/protocol.md, "Close codes"
FLOOD = 4029
BATCH = 12  # users issued tokens per manage.py call


class Probe(Client):
    """A Client that also queues every ok/error frame, even one no request awaits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def _on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("op") in ("ok", "error"):
            self.replies.put_nowait(frame)
        super()._on_frame(frame)

    async def reply(self, timeout: float = 5.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def send_obj(self, frame: Any) -> None:
        await self.send_raw(self._encode(frame))

    async def ask(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self.send_obj(frame)
        return await self.reply()


class Scene:
    """A room with a talker, a neighbour and the sender of bad input (`bad`)."""

    def __init__(self, stack: Stack, talker: Client, neighbour: Client, bad: Probe,
                 room: dict[str, Any], bad_is_member: bool) -> None:
        self.stack = stack
        self.talker = talker
        self.neighbour = neighbour
        self.bad = bad
        self.room = room["id"]
        self.stream = f"room:{room['id']}"
        self.bad_is_member = bad_is_member
        self.said: list[tuple[dict[str, Any], str]] = []
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, stack: Stack, *, codec: str = "json",
                   bad_is_member: bool = True) -> Scene:
        talker, neighbour, bad = (stack.user_with_token(BATCH) for _ in range(3))
        t = await stack.client(talker, server=0)
        members = [neighbour, bad] if bad_is_member else [neighbour]
        room = (await t.request("rooms.create", name="Bad input", members=members))["room"]
        n = await stack.client(neighbour, server=1)
        await n.request("ping")  # live events flow from the first request on
        probe = Probe(stack.ws_url(0), token=stack.token(bad), codec=codec)
        await probe.connect()
        scene = cls(stack, t, n, probe, room, bad_is_member)
        await scene.say("before")
        return scene

    async def say(self, body: str) -> dict[str, Any]:
        ack = await self.talker.request("message.send", room=self.room, body=body,
                                        client_id=f"talk-{next(self._ids)}")
        self.said.append((ack, body))
        return ack

    async def room_events(self, client: Client, until_seq: int) -> list[dict[str, Any]]:
        """Every event `client` receives on the room's stream, up to `until_seq`."""
        got: list[dict[str, Any]] = []

        async def collect() -> None:
            while not got or got[-1].get("seq", 0) < until_seq:
                event = await client.events.get()
                if event["stream"] == self.stream:
                    got.append(event)

        await asyncio.wait_for(collect(), 10)
        return got

    def expected(self) -> list[tuple[Any, ...]]:
        author = self.talker.hello["user"] if self.talker.hello else None
        return [("message.created", ack["seq"], ack["id"], body, author)
                for ack, body in self.said]

    @staticmethod
    def seen(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e["type"], e.get("seq"), e["data"].get("id"), e["data"].get("body"),
                 e["data"].get("author")) for e in events]

    async def assert_others_unaffected(self, bad_open: bool = True) -> None:
        """The talker speaks once more; the neighbour (and an open bad member) got it all."""
        last = await self.say("after")
        assert self.seen(await self.room_events(self.neighbour, last["seq"])) == self.expected()
        if bad_open:
            alive = await self.bad.ask({"op": "ping", "ref": "alive"})
            assert set(alive) == {"op", "ref", "ts"}
            assert (alive["op"], alive["ref"]) == ("ok", "alive")
            if self.bad_is_member:
                assert self.seen(await self.room_events(self.bad, last["seq"])) == \
                    self.expected()
        assert self.neighbour.close_code is None
        assert self.talker.close_code is None

    async def close(self) -> None:
        await asyncio.gather(self.talker.close(), self.neighbour.close(), self.bad.close())


def assert_error(frame: dict[str, Any], ref: Any, code: str, *mentions: str) -> None:
    """An error frame with exactly these fields and a message for people.

    docs/protocol.md: `message` may change wording, but it says what was
    expected and what arrived, so it names the field at fault (`mentions`).
    """
    assert set(frame) == {"op", "ref", "code", "message"}, frame
    assert (frame["op"], frame["ref"], frame["code"]) == ("error", ref, code), frame
    assert isinstance(frame["message"], str) and frame["message"].strip(), frame
    for word in mentions:
        assert word in frame["message"], frame


# --- not a request at all ------------------------------------------------------


async def test_non_json_text_frame_is_bad_request_with_null_ref(stack: Stack) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_raw('{"op": "ping", "ref": 1')
    assert_error(await scene.bad.reply(), None, "bad_request", "JSON")
    await scene.assert_others_unaffected()
    await scene.close()


@pytest.mark.parametrize("raw", ["[1, 2, 3]", "42", '"ping"', "null"],
                         ids=["array", "number", "string", "null"])
async def test_json_that_is_not_an_object_is_bad_request(stack: Stack, raw: str) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_raw(raw)
    assert_error(await scene.bad.reply(), None, "bad_request", "object")
    await scene.assert_others_unaffected()
    await scene.close()


async def test_missing_op_is_bad_request(stack: Stack) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_obj({"room": scene.room, "body": "no op"})
    assert_error(await scene.bad.reply(), None, "bad_request", "op")
    await scene.assert_others_unaffected()
    await scene.close()


async def test_missing_op_echoes_a_valid_ref(stack: Stack) -> None:
    # docs/protocol.md, "Frames": ref is null only when the request had none or
    # the frame was too broken to read one (not JSON, not an object, a bad ref).
    scene = await Scene.open(stack)
    await scene.bad.send_obj({"ref": 5, "room": scene.room, "body": "no op"})
    assert_error(await scene.bad.reply(), 5, "bad_request", "op")
    await scene.assert_others_unaffected()
    await scene.close()


@pytest.mark.parametrize("ref", [True, 2**53, "r" * 65, [1], {"a": 1}, 1.5],
                         ids=["boolean", "too_big", "too_long", "list", "object", "float"])
async def test_bad_ref_is_bad_request_with_null_ref(stack: Stack, ref: Any) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_obj({"op": "ping", "ref": ref})
    assert_error(await scene.bad.reply(), None, "bad_request", "ref")
    await scene.assert_others_unaffected()
    await scene.close()


async def test_unknown_op_is_bad_request_with_ref_echoed(stack: Stack) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_obj({"op": "rooms.destroy", "ref": "r-9", "room": scene.room})
    assert_error(await scene.bad.reply(), "r-9", "bad_request", "rooms.destroy")
    await scene.assert_others_unaffected()
    await scene.close()


# --- wrong fields ---------------------------------------------------------------


@pytest.mark.parametrize("case, field", [
    ("room_as_string", "room"), ("body_as_number", "body"), ("client_id_missing", "client_id"),
])
async def test_message_send_with_wrong_field_types_is_bad_request_with_ref(
    stack: Stack, case: str, field: str,
) -> None:
    scene = await Scene.open(stack)
    frame: dict[str, Any] = {"op": "message.send", "ref": 17, "room": scene.room,
                             "body": "typed wrong", "client_id": "bad-1"}
    if case == "room_as_string":
        frame["room"] = str(scene.room)
    elif case == "body_as_number":
        frame["body"] = 12345
    else:
        del frame["client_id"]
    assert_error(await scene.bad.ask(frame), 17, "bad_request", f"'{field}'")
    await scene.assert_others_unaffected()
    await scene.close()


async def test_body_over_max_body_chars_is_too_large(stack: Stack) -> None:
    scene = await Scene.open(stack)
    reply = await scene.bad.ask({"op": "message.send", "ref": 3, "room": scene.room,
                                 "body": "x" * (MAX_BODY_CHARS + 1), "client_id": "big"})
    assert_error(reply, 3, "too_large", str(MAX_BODY_CHARS))
    await scene.assert_others_unaffected()
    await scene.close()


# --- frame size -----------------------------------------------------------------


def frame_of_size(room: int, size: int) -> str:
    """A message.send JSON frame of exactly `size` bytes (ASCII, so chars == bytes)."""
    head = json.dumps({"op": "message.send", "ref": 5, "room": room, "client_id": "huge",
                       "body": ""})
    frame = head[:-2] + "x" * (size - len(head)) + head[-2:]
    assert len(frame.encode()) == size and json.loads(frame)["body"]
    return frame


async def test_frame_over_max_frame_bytes_closes_with_4013(stack: Stack) -> None:
    # The brief said 1009; daphne's WebSocket layer lets an application send only
    # 1000 and 3000-4999, so docs/protocol.md ("Close codes") names 4013.
    scene = await Scene.open(stack)
    await scene.bad.send_raw(frame_of_size(scene.room, MAX_FRAME_BYTES + 1))
    assert await close_code_within(scene.bad) == FRAME_TOO_LARGE
    assert scene.bad.replies.empty()
    await scene.assert_others_unaffected(bad_open=False)
    await scene.close()


async def test_frame_of_exactly_max_frame_bytes_is_read_not_closed(stack: Stack) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_raw(frame_of_size(scene.room, MAX_FRAME_BYTES))
    assert_error(await scene.bad.reply(), 5, "too_large")  # its body is over the limit
    await scene.assert_others_unaffected()
    await scene.close()


# --- the wrong codec ------------------------------------------------------------


async def test_binary_frame_on_json_subprotocol_is_bad_request(stack: Stack) -> None:
    scene = await Scene.open(stack)
    await scene.bad.send_raw(msgpack.packb({"op": "ping", "ref": 1}))
    assert_error(await scene.bad.reply(), None, "bad_request", "binary")
    await scene.assert_others_unaffected()
    await scene.close()


async def test_text_frame_on_msgpack_subprotocol_is_bad_request(stack: Stack) -> None:
    scene = await Scene.open(stack, codec="msgpack")
    await scene.bad.send_raw('{"op": "ping", "ref": 1}')
    assert_error(await scene.bad.reply(), None, "bad_request", "text")
    await scene.assert_others_unaffected()
    await scene.close()


@pytest.mark.parametrize("raw", [
    b"\xc1\xc1\xc1",  # 0xc1 is never used in msgpack
    b"\x82\xa2op",  # a map of two, cut off after its first key
    b"\x81\xa2op\xa4ping\xff\x00\x13",  # a valid map followed by trailing bytes
    b"\x81\x01\xa4ping",  # a map with an integer key
], ids=["reserved_byte", "truncated", "trailing_bytes", "integer_key"])
async def test_garbage_bytes_on_msgpack_are_bad_request(stack: Stack, raw: bytes) -> None:
    scene = await Scene.open(stack, codec="msgpack")
    await scene.bad.send_raw(raw)
    assert_error(await scene.bad.reply(), None, "bad_request", "msgpack")
    await scene.assert_others_unaffected()
    await scene.close()


# --- authorisation on every op --------------------------------------------------


def _aimed_at(op: str, room: int, colleague: str) -> dict[str, Any]:
    """The fields of `op` aimed at `room`."""
    return {
        "message.send": {"room": room, "body": "let me in", "client_id": "x-1"},
        "history": {"stream": f"room:{room}", "limit": 10},
        "resume": {"streams": {f"room:{room}": 0}},
        "rooms.members": {"room": room},
        "rooms.invite": {"room": room, "users": [colleague]},
        "rooms.leave": {"room": room},
        "read": {"room": room, "seq": 1},
    }[op]


FORBIDDEN_OPS = ["message.send", "history", "resume", "rooms.members", "rooms.invite",
                 "rooms.leave", "read"]


@pytest.mark.parametrize("op", FORBIDDEN_OPS)
async def test_op_on_a_room_you_are_not_in_is_forbidden(stack: Stack, op: str) -> None:
    scene = await Scene.open(stack, bad_is_member=False)
    reply = await scene.bad.ask({"op": op, "ref": 11,
                                 **_aimed_at(op, scene.room, stack.new_user())})
    assert_error(reply, 11, "forbidden", str(scene.room))
    await scene.assert_others_unaffected()
    # Nothing changed: an outsider's invite added nobody, its leave removed nobody.
    members = await scene.talker.request("rooms.members", room=scene.room)
    assert sorted(m["username"] for m in members["members"]) == sorted(
        [scene.talker.hello["user"]["username"], scene.neighbour.hello["user"]["username"]])
    await scene.close()


@pytest.mark.parametrize("op", FORBIDDEN_OPS)
async def test_op_on_a_room_that_does_not_exist_gets_the_same_forbidden(
    stack: Stack, op: str,
) -> None:
    scene = await Scene.open(stack, bad_is_member=False)
    colleague = stack.new_user()
    real = await scene.bad.ask({"op": op, "ref": 21, **_aimed_at(op, scene.room, colleague)})
    fake = await scene.bad.ask({"op": op, "ref": 21, **_aimed_at(op, NO_SUCH_ROOM, colleague)})
    assert_error(fake, 21, "forbidden", str(NO_SUCH_ROOM))
    # Identical but for the room id the client itself sent: nothing leaks.
    assert fake == {**real, "message": real["message"].replace(str(scene.room),
                                                               str(NO_SUCH_ROOM))}
    await scene.assert_others_unaffected()
    await scene.close()


# --- rate limit and flood -------------------------------------------------------


async def _burst(probe: Probe, refs: range) -> list[dict[str, Any]]:
    """Send a ping per ref without waiting, then read one reply per ping."""
    for ref in refs:
        await probe.send_obj({"op": "ping", "ref": ref})
    return [await probe.reply() for _ in refs]


def _is_ping_ok(frame: dict[str, Any]) -> bool:
    return frame["op"] == "ok" and set(frame) == {"op", "ref", "ts"}


def _is_rate_limited(frame: dict[str, Any]) -> bool:
    return (set(frame) == {"op", "ref", "code", "message"} and frame["op"] == "error"
            and frame["code"] == "rate_limited" and isinstance(frame["message"], str)
            and bool(frame["message"]))


async def test_ops_past_the_burst_get_rate_limited(stack: Stack) -> None:
    scene = await Scene.open(stack)
    count = RATE_BURST + 40
    started = time.monotonic()
    replies = await _burst(scene.bad, range(1, count + 1))
    elapsed = time.monotonic() - started
    assert [r["ref"] for r in replies] == list(range(1, count + 1))
    for r in replies:
        assert _is_ping_ok(r) or _is_rate_limited(r), r
    # The whole burst passes; past it, only what the bucket refilled meanwhile.
    assert all(r["op"] == "ok" for r in replies[:RATE_BURST])
    passed = sum(r["op"] == "ok" for r in replies)
    assert passed <= RATE_BURST + RATE_PER_SECOND * elapsed + 1, (passed, elapsed)
    assert passed < count
    await asyncio.sleep(0.2)  # back off: tokens come back at RATE_PER_SECOND
    await scene.assert_others_unaffected()
    await scene.close()


async def test_flood_past_flood_strikes_closes_with_4029_and_others_lose_nothing(
    stack: Stack,
) -> None:
    scene = await Scene.open(stack)
    # Spend the burst and a few strikes, and see them answered.
    first = await _burst(scene.bad, range(1, RATE_BURST + 21))
    assert all(_is_ping_ok(r) for r in first[:RATE_BURST])
    assert any(_is_rate_limited(r) for r in first[RATE_BURST:])

    async def flood() -> int | str | None:
        for ref in range(1000, 1000 + 20 * FLOOD_STRIKES):
            try:
                await scene.bad.send_obj({"op": "ping", "ref": ref})
            except ConnectionClosed:
                break
        return await close_code_within(scene.bad)

    async def talk() -> None:
        for i in range(20):
            await scene.say(f"during flood {i}")

    code, _ = await asyncio.gather(flood(), talk())
    assert code == FLOOD
    # Whatever replies were written before the close are ping oks or rate_limited.
    while not scene.bad.replies.empty():
        r = scene.bad.replies.get_nowait()
        assert _is_ping_ok(r) or _is_rate_limited(r), r
    await scene.assert_others_unaffected(bad_open=False)
    await scene.close()


# --- identifiers ------------------------------------------------------------------

BAD_STREAM_NAMES = ["room:١٢", "room:²", "room:\uff11", "room:+1", "room:-1", "room:01",
                    "room: 1", "room:1 ", "room:1\n", "ROOM:1", "room:1:2", "room:", ":1",
                    "room:9007199254740992", "room:" + "9" * 40, "nosuchkind:1", "room"]


def _bad_stream(name: str) -> str:
    return f"a stream is '<kind>:<id>' ('room:<id>', 'user:<id>', ...), got {name!r:.80}"


async def test_every_malformed_stream_name_is_bad_request_in_history_and_resume(
        stack: Stack) -> None:
    client = await stack.client(stack.new_user())
    for name in BAD_STREAM_NAMES:
        for op, fields in (("history", {"stream": name}), ("resume", {"streams": {name: 0}})):
            with pytest.raises(ColloquyError) as err:
                await client.request(op, **fields)
            frame = {k: v for k, v in err.value.frame.items() if k != "ref"}
            assert frame == {"op": "error", "code": "bad_request",
                             "message": _bad_stream(name)}, (op, name)
    assert (await client.request("ping"))["op"] == "ok"
    await client.close()


@pytest.mark.parametrize("room", [0, -1, 2**53, True, 1.0, "1"])
async def test_a_room_id_that_is_not_a_positive_integer_is_bad_request(
        stack: Stack, room: object) -> None:
    client = await stack.client(stack.new_user())
    with pytest.raises(ColloquyError) as err:
        await client.request("rooms.members", room=room)
    assert err.value.frame["code"] == "bad_request"
    assert err.value.frame["message"].startswith("field 'room' must be")
    await client.close()
