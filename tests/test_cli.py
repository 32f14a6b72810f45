"""The `colloquy` command against a real server: log in, send and tail between two
employees, and the exit codes scripts rely on."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import PASSWORD, Stack, Users

COLLOQUY = str(Path(sys.executable).parent / "colloquy")


@pytest.fixture(scope="module")
def users(stack: Stack) -> Users:
    return Users(stack, employees=6)


def _env(home: Path) -> dict[str, str]:
    """A user's own config dir, and no OS keyring (CI has none): the 0600 file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLOQUY_")}
    env.update(COLLOQUY_CONFIG_DIR=str(home),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def colloquy(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([COLLOQUY, *args], env=_env(home), input=stdin, text=True,
                          capture_output=True, timeout=60)


def _logged_in(stack: Stack, tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    done = colloquy(home, "login", stack.http(), "--username", name, "--password-stdin",
                    stdin=PASSWORD + "\n")
    assert (done.returncode, done.stderr) == (0, ""), done
    return home


def test_login_keeps_the_token_in_a_private_file_without_a_keyring(
        stack: Stack, users: Users, tmp_path: Path) -> None:
    name = users.take()
    home = _logged_in(stack, tmp_path, name)
    path = home / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [(server, token)] = json.loads(path.read_text()).items()
    assert server == stack.http() and token.startswith("cq_")
    listed = colloquy(home, "rooms", "--json")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


def test_a_wrong_password_exits_3_with_the_reason(stack: Stack, users: Users,
                                                   tmp_path: Path) -> None:
    done = colloquy(tmp_path, "login", stack.http(), "--username", users.take(),
                    "--password-stdin", stdin="not the password\n")
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr == ("colloquy: log-in refused: 401: unknown username or wrong"
                           " password\n")


def test_send_and_tail_round_trip_between_two_employees(stack: Stack, users: Users,
                                                         tmp_path: Path) -> None:
    ada, ben = users.take(), users.take()
    ada_home, ben_home = _logged_in(stack, tmp_path, ada), _logged_in(stack, tmp_path, ben)

    async def make_room() -> int:
        client = await stack.client(ada)
        room = await client.create_room("Deploys", [ben])
        await client.close()
        return int(room["id"])

    room_id = asyncio.run(make_room())
    tail = subprocess.Popen([COLLOQUY, "tail", "Deploys", "--json", "--count", "2"],
                            env=_env(ben_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert tail.stderr is not None
        # Ready once it says so (on stderr: stdout holds only messages).
        assert tail.stderr.readline() == "colloquy: following #Deploys (Ctrl-C to stop)\n"
        for text in ("build 41 is green", "deployed to production"):
            sent = colloquy(ada_home, "send", "Deploys", text)
            assert (sent.returncode, sent.stdout, sent.stderr) == (0, "", "")
        out, err = tail.communicate(timeout=30)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert (tail.returncode, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(m["room"], m["author"]["username"], m["body"]) for m in lines] == [
        (room_id, ada, "build 41 is green"), (room_id, ada, "deployed to production")]
    assert lines[0]["seq"] < lines[1]["seq"]


def test_no_such_room_exits_1(stack: Stack, users: Users, tmp_path: Path) -> None:
    home = _logged_in(stack, tmp_path, users.take())
    for args in (("send", "Nowhere", "hi"), ("tail", "Nowhere")):
        done = colloquy(home, *args)
        assert (done.returncode, done.stdout, done.stderr) == (
            1, "", "colloquy: no such room: 'Nowhere' (see `colloquy rooms`)\n")


def test_a_refused_token_exits_3_and_so_does_no_login(stack: Stack, tmp_path: Path) -> None:
    env = {"COLLOQUY_TOKEN": "cq_not_a_token", "COLLOQUY_SERVER": stack.http()}
    done = subprocess.run([COLLOQUY, "rooms"], env={**_env(tmp_path), **env}, text=True,
                          capture_output=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (
        3, "", f"colloquy: {stack.http()} refused the token: run `colloquy login"
               f" {stack.http()}` again\n")
    never = colloquy(tmp_path / "nobody", "rooms")
    assert (never.returncode, never.stderr) == (
        3, "colloquy: not logged in: run `colloquy login URL` first\n")
