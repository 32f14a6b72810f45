"""The `colloquy` command: log in once, then list rooms, send and tail from scripts.

    colloquy login https://colloquy.example.com      # asks for username and password
    colloquy rooms
    colloquy send ops "deploy finished"
    colloquy tail ops incidents --json               # one JSON object per message
    colloquy tui                                     # the terminal app

A room is named by its id, its name, or, for a direct conversation, the other
person's username (`@ada`). The token comes from COLLOQUY_TOKEN when set (bots,
CI), else from what `colloquy login` stored. Exit codes, for scripts: 0 done,
1 refused or no such room, 2 bad usage, 3 not logged in or the token was
refused, 4 the server cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import secrets
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from websockets.exceptions import InvalidStatus

from colloquy_client import Client, ColloquyError, ConnectionLost, credentials
from colloquy_client.auth import LoginFailed, base_url, fetch_token, socket_url
from colloquy_client.events import Message
from colloquy_client.state import LocalState, Room

REFUSED, USAGE, AUTH, UNREACHABLE = 1, 2, 3, 4


class Exit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _fail(code: int, message: str) -> NoReturn:
    raise Exit(code, message)


# --- connecting -------------------------------------------------------------------


def _credentials(server: str | None) -> tuple[str, str]:
    token = os.environ.get("COLLOQUY_TOKEN")
    if token:
        found = server or os.environ.get("COLLOQUY_SERVER")
        if not found:
            _fail(USAGE, "COLLOQUY_TOKEN is set: name the server too (--server or"
                         " COLLOQUY_SERVER)")
        return base_url(found), token
    stored = credentials.load(base_url(server) if server else None)
    if stored is None:
        _fail(AUTH, "not logged in: run `colloquy login URL` first")
    return stored


async def _connect(server: str | None, *, reconnect: bool = False) -> tuple[Client, str]:
    url, token = _credentials(server)
    client = Client(socket_url(url), token=token, auto_reconnect=reconnect)
    try:
        await client.connect()
        await client.resume()  # the first request: live events flow from here
    except InvalidStatus as exc:
        if exc.response.status_code == 403:
            _fail(AUTH, f"{url} refused the token: run `colloquy login {url}` again")
        _fail(UNREACHABLE, f"{url} answered HTTP {exc.response.status_code}")
    except (OSError, TimeoutError) as exc:
        _fail(UNREACHABLE, f"cannot reach {url}: {exc}")
    return client, url


async def _state(client: Client) -> LocalState:
    assert client.hello is not None
    state = LocalState(client.hello["user"]["id"])
    await state.load(client)
    # Direct conversations are found by the other person's username.
    await asyncio.gather(*(state.load_members(client, r.id) for r in state.rooms.values()
                           if r.kind == "direct"))
    return state


def _room(state: LocalState, name: str) -> Room:
    room = state.find(name)
    if room is None:
        _fail(REFUSED, f"no such room: {name!r} (see `colloquy rooms`)")
    return room


# --- commands ---------------------------------------------------------------------


async def login(args: argparse.Namespace) -> None:
    url = base_url(args.url)
    # The terminal is read in a thread: the prompts block.
    username = args.username or await asyncio.to_thread(input, "Username: ")
    password = (sys.stdin.readline().rstrip("\n") if args.password_stdin
                else await asyncio.to_thread(getpass.getpass))
    try:
        token = await fetch_token(url, username, password, label="colloquy command line")
    except LoginFailed as exc:
        _fail(AUTH, f"log-in refused: {exc}")
    where = credentials.save(url, username, token)
    print(f"Logged in to {url} as {username} (token kept in {where}).")


async def rooms(args: argparse.Namespace) -> None:
    client, _ = await _connect(args.server)
    try:
        state = await _state(client)
    finally:
        await client.close()
    listed = sorted(state.rooms.values(), key=lambda r: r.id)
    if args.json:
        for r in listed:
            print(json.dumps({"id": r.id, "name": r.title(state.me), "kind": r.kind,
                              "unread": state.unread(r.id),
                              "mentions": state.mentions(r.id)}))
        return
    for r in listed:
        counts = f"{state.unread(r.id)} unread" + (
            f", {state.mentions(r.id)} @" if state.mentions(r.id) else "")
        print(f"{r.id:>6}  {r.title(state.me)}  ({counts})")


async def send(args: argparse.Namespace) -> None:
    client, _ = await _connect(args.server)
    try:
        room = _room(await _state(client), args.room)
        body = " ".join(args.text) if args.text != ["-"] else sys.stdin.read()
        reply = await client.request("message.send", room=room.id, body=body,
                                     client_id=f"cli-{secrets.token_hex(8)}")
    except ColloquyError as exc:
        _fail(REFUSED, f"refused: {exc.code}: {exc.message}")
    finally:
        await client.close()
    if args.json:
        print(json.dumps({"room": room.id, "id": reply["id"], "seq": reply["seq"]}))


def _line(message: Message, room: Room, me: int) -> str:
    at = time.strftime("%Y-%m-%d %H:%M", time.localtime(message.ts / 1000))
    who = message.author.username
    return f"{at} #{room.title(me)} {who}: {message.body}"


async def tail(args: argparse.Namespace) -> None:
    client, _ = await _connect(args.server, reconnect=True)
    printed = 0
    try:
        state = await _state(client)
        watched = {_room(state, name).id for name in args.room}
        lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_state(now: str) -> None:
            if now == "closed" and not lost.done():
                lost.set_result(f"the server closed the connection ({client.close_code})")

        client.on_state.append(on_state)
        names = ", ".join(f"#{state.rooms[r].title(state.me)}" for r in sorted(watched))
        # On stderr, so stdout holds only messages: a script knows it may start now.
        print(f"colloquy: following {names} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while args.count is None or printed < args.count:
            getter = asyncio.ensure_future(client.events.get())
            done, _ = await asyncio.wait({getter, lost}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                _fail(AUTH, lost.result())
            frame = getter.result()
            state.apply(frame)
            message = Message.of(frame["data"], frame["seq"]) if (
                frame["type"] == "message.created") else None
            if message is None or message.room not in watched or message.thread:
                continue
            room = state.rooms[message.room]
            if args.json:
                print(json.dumps({**frame["data"], "seq": frame["seq"]}), flush=True)
            else:
                print(_line(message, room, state.me), flush=True)
            printed += 1
    finally:
        await client.close()


async def tui(args: argparse.Namespace) -> None:
    url, token = _credentials(args.server)
    try:
        from colloquy_client.tui.app import run_tui
    except ImportError:
        _fail(USAGE, "the terminal app is not in this install (it needs the package's"
                     ' [tui] extra: pip install "colloquy-client[tui]")')
    await asyncio.to_thread(run_tui, socket_url(url), token)


# --- the parser -------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="colloquy", description=__doc__.split("\n\n")[0])
    top.add_argument("--server", help="the server's URL (default: the last one logged in to)")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("login", help="log in and keep the token (OS keyring, or a 0600 file)")
    p.add_argument("url")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin")
    p.set_defaults(run=login)
    p = sub.add_parser("rooms", help="your rooms, with unread counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=rooms)
    p = sub.add_parser("send", help="send a message (TEXT '-' reads it from stdin)")
    p.add_argument("room")
    p.add_argument("text", nargs="+")
    p.add_argument("--json", action="store_true", help="print the message's id and seq")
    p.set_defaults(run=send)
    p = sub.add_parser("tail", help="print new messages of the rooms as they arrive")
    p.add_argument("room", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per message")
    p.add_argument("--count", type=int, help="stop after this many messages")
    p.set_defaults(run=tail)
    p = sub.add_parser("tui", help="the terminal app")
    p.set_defaults(run=tui)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        asyncio.run(args.run(args))
    except Exit as exc:
        print(f"colloquy: {exc}", file=sys.stderr)
        return exc.code
    except ConnectionLost as exc:
        print(f"colloquy: {exc}", file=sys.stderr)
        return UNREACHABLE
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
