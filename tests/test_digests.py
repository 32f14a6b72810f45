"""Offline digest e-mails: one for an offline employee with unread mentions, with links
into the browser client; none for the connected, the caught-up, the opted-out or the
deactivated; nothing new twice, even with two persisters running the job at once.

The module runs a stack of its own per profile, with Django's file e-mail backend.
Embedded: the server's persister thread sends digests every second (the command
refuses there: only the server knows who is connected). Services: the stack's
persister never sends; tests run `manage.py send_digests`, or start persisters of
their own that send every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from colloquy_client import Client
from tests.groups import arena_id
from tests.stack import ROOT, Recorder, Stack, free_port, open_client, send, until

PROFILES = os.environ.get("COLLOQUY_TEST_PROFILES", "embedded,services").split(",")
BASE_URL = "https://chat.example.test"
DOMAIN = "example.test"
RUN_LINE = "digest run:"  # logged by every periodic run (notifications.digest)
SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # between messages in a file-backend file
ADDRESSES = (  # every pool employee gets <username>@example.test
    "from django.db.models import Value\n"
    "from django.db.models.functions import Concat\n"
    "from core.models import Employee\n"
    f"Employee.objects.update(email=Concat('username', Value('@{DOMAIN}')))\n"
)


@pytest.fixture(scope="module", params=PROFILES, ids=arena_id)
def mail_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = Stack(request.param)
    stack.env.update(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(stack.tmp / "mail"),
        COLLOQUY_PUBLIC_BASE_URL=BASE_URL,
        COLLOQUY_DIGEST_INTERVAL_SECONDS="1" if stack.profile == "embedded" else "0",
    )
    stack.start()
    try:
        stack.manage("shell", "-c", ADDRESSES)
        yield stack
    finally:
        stack.stop()


# --- helpers ---------------------------------------------------------------------------


def address(username: str) -> str:
    return f"{username}@{DOMAIN}"


def all_mail(stack: Stack) -> list[EmailMessage]:
    folder = stack.tmp / "mail"
    found: list[EmailMessage] = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        for chunk in path.read_bytes().split(SEPARATOR):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk, policy=email.policy.default))  # type: ignore[arg-type]
    return found


class Mailbox:
    """The digests sent to some users since it was made."""

    def __init__(self, stack: Stack, users: list[str]) -> None:
        self.stack = stack
        self.users = {address(u): u for u in users}
        self.seen = {m["Message-ID"] for m in all_mail(stack)}

    def new(self) -> list[EmailMessage]:
        return [m for m in all_mail(self.stack)
                if m["Message-ID"] not in self.seen and m["To"] in self.users]

    def recipients(self) -> list[str]:
        return sorted(self.users[m["To"]] for m in self.new())

    def of(self, username: str) -> list[str]:
        """The bodies of the digests sent to `username`, oldest first."""
        return [m.get_content() for m in self.new() if m["To"] == address(username)]


def manage(stack: Stack, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, text=True,
                          env={**stack.env, **(env or {})}, capture_output=True, timeout=120)


@contextlib.contextmanager
def digest_persisters(stack: Stack, count: int) -> Iterator[list[Path]]:
    """`count` more `manage.py persister` processes, each sending digests every second;
    yields their log files, and stops them afterwards."""
    logs = [stack.tmp / f"digest-persister-{i}.log" for i in range(count)]
    env = {**stack.env, "COLLOQUY_DIGEST_INTERVAL_SECONDS": "1"}
    procs = []
    for i, log in enumerate(logs):
        with open(log, "wb") as out:  # the child keeps its own copy of the descriptor
            procs.append(subprocess.Popen(
                [sys.executable, "manage.py", "persister", "--name", f"digest-{i}"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    try:
        yield logs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


async def run_digests(stack: Stack, env: dict[str, str] | None = None) -> None:
    """At least one whole digest run after this call: the command (services), or two
    more periodic runs of the server's thread (embedded; one may have begun already)."""
    if stack.profile == "services":
        done = await asyncio.to_thread(manage, stack, "send_digests", env=env)
        assert done.returncode == 0 and done.stdout.startswith("digests: "), done
        return
    before = stack.log_text().count(RUN_LINE)
    await until(lambda: stack.log_text().count(RUN_LINE) >= before + 2, "two digest runs", 30)


async def mention_of(client: Client) -> dict[str, Any]:
    """The next notification.created of kind mention (room_added ones are skipped)."""
    while True:
        [event] = await client.events_of("notification.created", 1)
        if event["data"]["kind"] == "mention":
            return dict(event["data"])


async def wait_offline(watcher: Client, user_id: int) -> None:
    """Until presence announces `user_id` offline (after the offline delay)."""
    for _ in range(150):
        [state] = (await watcher.request("presence.query", users=[user_id]))["users"]
        if state["status"] == "offline":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"user {user_id} still shows {state['status']}")


async def room_of(writer: Recorder, members: list[str]) -> int:
    return int((await writer.request("rooms.create", name="Launch", members=members))
               ["room"]["id"])


# --- tests -----------------------------------------------------------------------------


async def test_an_offline_employee_gets_one_digest_and_the_connected_none(
        mail_stack: Stack) -> None:
    stack = mail_stack
    writer_name, away, here, caught_up, idle = (stack.new_user() for _ in range(5))
    box = Mailbox(stack, [writer_name, away, here, caught_up, idle])
    writer = await open_client(stack, writer_name, settled=True)
    present = await open_client(stack, here, settled=True)
    reader = await open_client(stack, caught_up, settled=True)
    room = await room_of(writer, [away, here, caught_up, idle])
    ack = await send(writer, room, f"@{away} @{here} @{caught_up} standup moves to 10:30", "d-1")
    note = await mention_of(reader)
    await reader.read_notifications(up_to=note["id"])
    await reader.close()
    await wait_offline(writer, reader.user["id"])

    await run_digests(stack)
    assert box.recipients() == [away]
    [digest] = box.new()
    assert digest["Subject"] == "Colloquy: 1 unread notification"
    assert digest["Auto-Submitted"] == "auto-generated"
    text = digest.get_content()
    assert f"Mention in Launch, from {writer.user['name']}:" in text
    assert f"@{away} @{here} @{caught_up} standup moves to 10:30" in text
    assert f"{BASE_URL}/?room={room}&message={ack['id']}\n" in text

    await run_digests(stack)  # nothing new since: nothing sent
    assert box.recipients() == [away]

    await send(writer, room, f"@{away} the room moved too", "d-2")
    await run_digests(stack)
    assert box.recipients() == [away, away]
    first, second = box.of(away)
    assert "the room moved too" in second and "standup" not in second
    assert "the room moved too" not in first
    # Read up, so that once offline this employee is due nothing in later tests' runs.
    unread = await present.notifications(unread_only=True)
    await present.read_notifications(up_to=unread["notifications"][0]["id"])
    await asyncio.gather(writer.close(), present.close())


async def test_no_digest_for_a_kind_turned_off_or_a_deactivated_employee(
        mail_stack: Stack) -> None:
    stack = mail_stack
    writer_name, muted, leaver, away = (stack.new_user() for _ in range(4))
    box = Mailbox(stack, [writer_name, muted, leaver, away])
    writer = await open_client(stack, writer_name, settled=True)
    quiet = await open_client(stack, muted, settled=True)
    going = await open_client(stack, leaver, settled=True)
    room = await room_of(writer, [muted, leaver, away])
    await send(writer, room, f"@{muted} @{leaver} @{away} budget review", "d-1")
    await asyncio.gather(mention_of(quiet), mention_of(going))
    # Both were online when mentioned; then one turns mentions off, one is deactivated.
    assert await quiet.notification_prefs(off=["mention"]) == ["mention"]
    await quiet.close()
    done = await asyncio.to_thread(stack.manage, "deactivate_employee", leaver)
    assert done.stdout.strip() == f"deactivated {leaver}"
    assert await going.wait_closed() == 4003
    await wait_offline(writer, quiet.user["id"])
    await wait_offline(writer, going.user["id"])

    await run_digests(stack)
    assert box.recipients() == [away]
    await writer.close()


async def _one_away(stack: Stack) -> tuple[Recorder, int, str, Mailbox]:
    """For the command's tests (services: in embedded the server's thread runs the
    job): a writer's client, its room with one colleague who stays away, their mail."""
    if stack.profile != "services":
        pytest.skip("the command runs in the services profile (embedded: its server's thread)")
    writer_name, away = stack.new_user(), stack.new_user()
    box = Mailbox(stack, [writer_name, away])
    writer = await open_client(stack, writer_name, settled=True)
    return writer, await room_of(writer, [away]), away, box


async def test_at_most_one_digest_per_interval(mail_stack: Stack) -> None:
    stack = mail_stack
    writer, room, away, box = await _one_away(stack)
    hourly = {"COLLOQUY_DIGEST_INTERVAL_SECONDS": "3600"}
    await send(writer, room, f"@{away} first", "d-1")
    await run_digests(stack, hourly)
    await send(writer, room, f"@{away} second", "d-2")
    await run_digests(stack, hourly)  # new, but within the hour: wait
    assert len(box.of(away)) == 1
    assert "every hour" in box.of(away)[0]
    await run_digests(stack, {"COLLOQUY_DIGEST_INTERVAL_SECONDS": "0"})
    first, second = box.of(away)
    assert ("first" in first, "second" in first) == (True, False)
    assert ("first" in second, "second" in second) == (False, True)
    await writer.close()


async def test_a_digest_that_could_not_be_sent_goes_with_the_next_run(
        mail_stack: Stack) -> None:
    stack = mail_stack
    writer, room, away, box = await _one_away(stack)
    await send(writer, room, f"@{away} are you there?", "d-1")
    nobody_listening = {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(free_port())}
    failed = await asyncio.to_thread(manage, stack, "send_digests", env=nobody_listening)
    assert failed.returncode == 1 and "ConnectionRefusedError" in failed.stderr, failed
    await run_digests(stack)
    assert box.recipients() == [away]
    assert "are you there?" in box.of(away)[0]
    await writer.close()


async def test_runs_at_the_same_time_send_each_digest_once(mail_stack: Stack) -> None:
    stack = mail_stack
    if stack.profile != "services":
        pytest.skip("several persisters and commands at once: services profile")
    writer_name, first, second = (stack.new_user() for _ in range(3))
    box = Mailbox(stack, [writer_name, first, second])
    writer = await open_client(stack, writer_name, settled=True)
    room = await room_of(writer, [first, second])

    # Two commands at once.
    await send(writer, room, f"@{first} standup", "d-1")
    runs = await asyncio.gather(*(asyncio.to_thread(manage, stack, "send_digests")
                                  for _ in range(2)))
    assert sorted(r.stdout.split(" sent")[0] for r in runs) == ["digests: 0", "digests: 1"], runs
    assert box.recipients() == [first]

    # Two persisters, each sending every second, both started after the mention.
    await send(writer, room, f"@{second} retro", "d-2")
    with digest_persisters(stack, 2) as logs:
        await until(lambda: box.recipients() == [first, second], "the persisters' digest", 30)
        counts = [log.read_text().count(RUN_LINE) for log in logs]
        await until(lambda: all(log.read_text().count(RUN_LINE) >= n + 2
                                for log, n in zip(logs, counts, strict=True)),
                    "two more runs of each persister", 30)
    assert box.recipients() == [first, second]
    assert "Traceback" not in "".join(log.read_text() for log in logs)
    await writer.close()


def test_the_command_refuses_in_the_embedded_profile(mail_stack: Stack) -> None:
    if mail_stack.profile != "embedded":
        pytest.skip("services runs it")
    done = manage(mail_stack, "send_digests")
    assert done.returncode == 1
    assert "sends digests from the server's persister thread" in done.stderr


CLAIM_SCRIPT = """
from datetime import timedelta
from django.utils import timezone
from core.models import Employee
from notifications.digest import claim
from notifications.models import Digest
uid = Employee.objects.get(username={username!r}).pk
Digest.objects.create(user_id=uid)
first, second = Digest.objects.get(user_id=uid), Digest.objects.get(user_id=uid)
now = timezone.now()
cutoff = now - timedelta(hours=1)
print("CLAIMS", claim(first, 10**12, now, cutoff, 1), claim(second, 10**12, now, cutoff, 1))
"""


def test_of_two_runs_that_read_the_same_state_only_one_claims(mail_stack: Stack) -> None:
    """The race itself, made certain: both runs read the employee's digest row before
    either claims it (an employee nothing is due for, so no periodic run interferes)."""
    username = mail_stack.new_user()
    out = mail_stack.manage("shell", "-c", CLAIM_SCRIPT.format(username=username)).stdout
    assert [line for line in out.splitlines() if line.startswith("CLAIMS")] == [
        "CLAIMS True False"], out
