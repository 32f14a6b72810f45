"""Browser tests: Debian's chromium driven by Playwright against a real daphne process.

The server is tests/stack.py's Stack in the embedded profile (COLLOQUY_BROWSER_PROFILE
picks another), started here rather than with Stack.start() so that it listens on a
port chosen first: the page's Origin (http://127.0.0.1:<port>) must be in
COLLOQUY_ALLOWED_ORIGINS for the session-cookie socket to be accepted, and a restart
must come back on the same port with the same environment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from colloquy_client import Client
from tests.stack import PASSWORD, PG_ADMIN, POOL_SCRIPT, Stack, free_port

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
except ImportError:  # the test extra is not installed: every browser test skips
    sync_playwright = None  # type: ignore[assignment]
    Browser = BrowserContext = Page = expect = Any  # type: ignore[assignment,misc]

CHROMIUM = os.environ.get("COLLOQUY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PROFILE = os.environ.get("COLLOQUY_BROWSER_PROFILE", "embedded")
DESKTOP = {"width": 1280, "height": 800}

if sync_playwright is not None:
    expect.set_options(timeout=10_000)


class BrowserStack:
    """One Colloquy server (or two, services profile) whose Origin the browser may use."""

    def __init__(self, profile: str) -> None:
        self.stack = Stack(profile)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # In the stack's own env, so Stack.restart_server keeps it.
        self.stack.env["COLLOQUY_ALLOWED_ORIGINS"] = self.base
        # Typing indicators expire sooner, so the expiry test is quick.
        self.stack.env["COLLOQUY_TYPING_EXPIRES_SECONDS"] = "3"

    def start(self) -> BrowserStack:
        s = self.stack
        if s.profile == "services":
            subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {s.dbname}"],
                           check=True, capture_output=True)
        s.manage("migrate", "--noinput", "-v0")
        self._make_pool_and_sessions()
        s.servers.append((s._launch(self.port), self.port))
        if s.profile == "services":
            s.start_persister()
        return self

    def _make_pool_and_sessions(self) -> None:
        # tests/stack.py's user pool (same names, roles and password), plus a signed-in
        # session per employee, in one process: signing in through the form costs a
        # password hash (~0.7 s) per browser, so only the sign-in test does that.
        script = POOL_SCRIPT + (
            "import json\n"
            "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
            "from django.contrib.sessions.backends.db import SessionStore\n"
            "out = {}\n"
            "people = list(Employee.objects.filter(role='employee').order_by('username')[:200])\n"
            "people += Employee.objects.filter(role__in=['executive', 'moderator'])\n"
            "for u in people:\n"
            "    s = SessionStore()\n"
            "    s[SESSION_KEY] = str(u.pk)\n"
            "    s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
            "    s[HASH_SESSION_KEY] = u.get_session_auth_hash()\n"
            "    s.create()\n"
            "    out[u.username] = s.session_key\n"
            "print(json.dumps(out))\n"
        )
        out = self.stack.manage("shell", "-c", script).stdout
        self.sessions: dict[str, str] = json.loads(out.strip().splitlines()[-1])

    def restart(self) -> None:
        """kill -9 the server, then start it again on the same port."""
        self.stack.restart_server(0)

    def kill(self) -> None:
        self.stack.kill_server(0)

    def relaunch(self) -> None:
        self.stack.servers[0] = (self.stack._launch(self.port), self.port)

    def new_user(self, role: str = "employee") -> str:
        """A fresh pool user with a signed-in session: an employee, or an executive
        (x0001…) or moderator (m0001…)."""
        return self.stack.new_user(role)

    @staticmethod
    def name(username: str) -> str:
        """The display name tests/stack.py gives a pool user: e0007 → "Employee 7",
        x0002 → "Executive 2", m0003 → "Moderator 3"."""
        role = {"e": "Employee", "x": "Executive", "m": "Moderator", "g": "Guest"}[username[0]]
        return f"{role} {int(username[1:])}"


@pytest.fixture(scope="package")
def server() -> Iterator[BrowserStack]:
    bs = BrowserStack(PROFILE).start()
    try:
        yield bs
    finally:
        bs.stack.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/browser.sh installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Session:
    """An employee in a browser context (its own cookie jar), with the pages it opened."""

    def __init__(self, context: BrowserContext, server: BrowserStack, username: str) -> None:
        self.context = context
        self.server = server
        self.username = username
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.pages: list[Page] = []

    def open(self) -> Page:
        """A new tab on the app, connected."""
        page = self.context.new_page()
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.goto(self.server.base + "/")
        wait_connected(page)
        self.pages.append(page)
        return page

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    @property
    def page(self) -> Page:
        return self.pages[0]


@pytest.fixture
def login(browser: Browser, server: BrowserStack) -> Iterator[Callable[..., Session]]:
    """login(username=None, viewport=DESKTOP, role="employee") → a Session with one
    connected tab; without a username, a fresh pool user of that role."""
    sessions: list[Session] = []

    def _login(username: str | None = None, viewport: dict[str, int] | None = None,
               route: Callable[[BrowserContext], None] | None = None,
               form: bool = False, role: str = "employee") -> Session:
        """Signed in with the session cookie made at start, or through the form."""
        username = username or server.new_user(role)
        context = browser.new_context(viewport=viewport or DESKTOP)
        if route is not None:
            route(context)
        session = Session(context, server, username)
        sessions.append(session)
        if not form:
            context.add_cookies([{"name": "sessionid", "value": server.sessions[username],
                                  "url": server.base}])
            session.open()
            return session
        page = context.new_page()
        page.on("dialog", session._on_dialog)
        page.on("pageerror", lambda e: session.errors.append(str(e)))
        page.goto(server.base + "/")
        expect(page).to_have_url(f"{server.base}/login/?next=/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
        expect(page.get_by_label("Username")).to_have_value(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.base}/")
        wait_connected(page)
        session.pages.append(page)
        return session

    yield _login
    for s in sessions:
        with contextlib.suppress(Exception):  # already closed by the test
            s.context.close()
    # No page of any test threw an uncaught error.
    assert [e for s in sessions for e in s.errors] == []


def wait_connected(page: Page, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "() => window.colloquy && window.colloquy.conn.state === 'open'"
        " && window.colloquy.store.listLoaded", timeout=timeout)


def run_async(factory: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 30) -> Any:
    """Run a coroutine on its own loop in a worker thread (Playwright's sync API owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, factory()).result(timeout)


@contextlib.contextmanager
def in_background(factory: Callable[[threading.Event], Coroutine[Any, Any, Any]]
                  ) -> Iterator[threading.Event]:
    """Run factory(stop) on its own loop in a thread while the block runs, then set
    `stop` and wait for it; whatever it raised is raised here."""
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(asyncio.run, factory(stop))
        try:
            yield stop
        finally:
            stop.set()
        future.result(30)


# --- what a person does in the UI ---------------------------------------------------


def room_item(page: Page, name: str) -> Any:
    return page.locator(".room-item").filter(
        has=page.locator(".room-name", has_text=name)).first


def open_room(page: Page, name: str) -> None:
    room_item(page, name).click()
    expect(page.locator("#room-title")).to_have_text(name)


def roundtable_item(page: Page, title: str) -> Any:
    return page.locator(".rt-item").filter(has=page.locator(".room-name", has_text=title)).first


def open_roundtable(page: Page, title: str) -> None:
    """Open a round table from the sidebar's "Round tables" section."""
    roundtable_item(page, title).click()
    expect(page.locator("#rt-title")).to_have_text(title)


def pick(page: Page, username: str) -> None:
    """Find a colleague in the open picker by username and tick them."""
    dialog = page.locator("dialog[open]")
    dialog.locator(".picker input[type=search]").fill(username)
    box = dialog.locator(f'input[data-username="{username}"]')
    box.check()


def create_group(page: Page, name: str, usernames: list[str]) -> None:
    page.get_by_role("button", name="New").click()
    dialog = page.locator("#dlg-new")
    dialog.get_by_text("Group room").click()
    dialog.get_by_label("Room name").fill(name)
    for u in usernames:
        pick(page, u)
    dialog.get_by_role("button", name="Create room").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#room-title")).to_have_text(name)


def send(page: Page, text: str) -> None:
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")


def sent(page: Page, text: str) -> None:
    """Send, then wait for the server's ack (the "Sending…" line goes): only then does
    another client's history hold the message."""
    send(page, text)
    shown = message(page, text)
    expect(shown).to_have_count(1)
    expect(shown.locator(".msg-state")).to_have_count(0)


def bodies(page: Page) -> list[str]:
    return page.locator("#messages .msg .msg-text").all_inner_texts()


def message(page: Page, text: str) -> Any:
    return page.locator("#messages .msg").filter(
        has=page.locator(".msg-text", has_text=text))


# Under the socket's burst of RATE_BURST (60) requests with rooms.create: a longer
# seed pauses, as a client over the limit must (it would get rate_limited).
SEED_BURST = 40


def room_with(server: BrowserStack, owner: str, member: str, name: str,
              bodies: tuple[str, ...] = (), **options: Any) -> dict[str, Any]:
    """A group room of the two made over the protocol, with `bodies` sent by the member;
    `options`: more fields of rooms.create (members_announce, say)."""
    async def make() -> dict[str, Any]:
        client = Client(server.stack.ws_url(), token=server.stack.token(member))
        await client.connect()
        room = (await client.request("rooms.create", name=name, members=[owner],
                                     **options))["room"]
        for i, body in enumerate(bodies):
            if i and i % SEED_BURST == 0:
                await asyncio.sleep(1.0)  # the socket's bucket refills (20 a second)
            await client.request("message.send", room=room["id"], body=body,
                                 client_id=f"seed-{i}")
        await client.close()
        return room
    return dict(run_async(make))


def group_of(server: BrowserStack, creator: str, members: list[str], name: str
             ) -> dict[str, Any]:
    """A group room of `creator` and `members`, made by the creator over the protocol."""
    async def make() -> dict[str, Any]:
        client = Client(server.stack.ws_url(), token=server.stack.token(creator))
        await client.connect()
        room = (await client.request("rooms.create", name=name, members=members))["room"]
        await client.close()
        return room
    return dict(run_async(make))


def two_tabs(login: Any, server: BrowserStack, name: str,
             bodies: tuple[str, ...] = ()) -> tuple[Any, Any, Any, Any]:
    """Sessions of two members, each with the room open."""
    a, b = login(), login()
    room_with(server, a.username, b.username, name, bodies)
    for session in (a, b):
        open_room(session.page, name)
    return a, b, a.page, b.page
