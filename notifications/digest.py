"""Offline digest e-mails: unread mentions and announcements, for employees with no
live socket.

`send_digests` is the one job. `manage.py send_digests` runs it once (cron,
services profile); every persister runs it each DIGEST_INTERVAL_SECONDS on a
thread of its own (`start_periodic`), so a slow mail server never holds up the
journal.

Who gets one: an active employee with an e-mail address, no live socket
(presence says offline), no digest within the interval, and unread
notifications of KINDS newer than their last digest, of a kind they have not
turned off, in a room they are still a member of.

Each employee's Digest row is claimed by one conditional UPDATE (from the state
this run read to the new one) before the e-mail goes out. Of two runs at once,
one UPDATE changes the row; the other matches nothing (Postgres re-checks the
WHERE once the first commits; SQLite runs one writer at a time) and sends
nothing. A failed send gives the claim back, so the next run tries again; a
process that dies between the claim and the send loses that one digest: at
most once, never twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import connections
from django.db.models import BigIntegerField, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from notifications.models import Digest, Notification, Prefs
from notifications.selectors import preview, previews_now
from realtime import runtime
from rooms.models import Membership

log = logging.getLogger(__name__)

# The kinds worth an e-mail: someone asked for me, or a message wants my
# acknowledgement. Strings, not Notification.Kind: "announcement" may not be
# one yet in every deployment, and the query is the same either way.
KINDS = ("mention", "announcement")
HEADINGS = {"mention": "Mention", "announcement": "Announcement, to acknowledge"}
# Employees looked up at once: one presence read (one Redis pipeline) and one
# query per chunk, however many are due.
CHUNK = 500


class PresenceUnknown(RuntimeError):
    """This process cannot tell who has a live socket, so it must not send."""


@dataclass(frozen=True)
class Item:
    """One notification as a digest lists it."""

    kind: str
    room: str
    actor: str
    preview: str
    link: str


@dataclass
class Report:
    """What one run did (logged, and printed by the command)."""

    due: int = 0
    online: int = 0
    sent: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (f"{self.sent} sent, {self.failed} failed; {self.due} due,"
                f" {self.online} of them online")


# --- the job -------------------------------------------------------------------------


def send_digests(now: datetime | None = None) -> Report:
    """Send every digest that is due. Safe to run in any number of processes at once."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=max(settings.DIGEST_INTERVAL_SECONDS, 0))
    report = Report()
    mail = get_connection()
    try:
        users = due(cutoff)
        for start in range(0, len(users), CHUNK):
            _send_chunk(users[start:start + CHUNK], now, cutoff, mail, report)
    finally:
        mail.close()
    return report


def due(cutoff: datetime) -> list[int]:
    """Active employees with an address, unread notifications of KINDS newer than
    their last digest, and no digest after `cutoff`; in id order."""
    up_to = Subquery(Digest.objects.filter(user_id=OuterRef("user_id")).values("up_to")[:1],
                     output_field=BigIntegerField())
    recent = Digest.objects.filter(sent_at__gt=cutoff).values("user_id")
    rows = (Notification.objects
            .filter(kind__in=KINDS, read_at__isnull=True, user__is_active=True)
            .exclude(user__email="").exclude(user_id__in=recent)
            .alias(up_to=Coalesce(up_to, Value(0), output_field=BigIntegerField()))
            .filter(id__gt=F("up_to"))
            .order_by("user_id").values_list("user_id", flat=True).distinct())
    return list(rows)


def _send_chunk(users: list[int], now: datetime, cutoff: datetime, mail: Any,
                report: Report) -> None:
    live = live_users(users)
    report.due += len(users)
    report.online += len(live)
    away = [u for u in users if u not in live]
    Digest.objects.bulk_create([Digest(user_id=u) for u in away], ignore_conflicts=True)
    for employee in get_user_model().objects.filter(pk__in=away, is_active=True).order_by("pk"):
        _send_one(employee, now, cutoff, mail, report)


def _send_one(employee: Any, now: datetime, cutoff: datetime, mail: Any,
              report: Report) -> None:
    state = Digest.objects.get(user_id=employee.pk)
    if state.sent_at is not None and state.sent_at > cutoff:
        return  # another run sent one since `due` looked
    newest, items, more = unread(employee.pk, state.up_to)
    if newest is None:
        return
    if not items:
        # Nothing worth telling (kinds turned off, rooms left, messages deleted):
        # step past them quietly, so they are not looked at again every run.
        Digest.objects.filter(user_id=employee.pk, up_to=state.up_to).update(up_to=newest)
        return
    if not claim(state, newest, now, cutoff, len(items)):
        return  # another run claimed it first
    try:
        mail.open()  # once per run: later sends reuse the connection
    except Exception:
        give_back(state, newest, now)
        raise  # no mail server: stop the run here, not one timeout per employee
    try:
        mail.send_messages([message(employee, items, more)])
    except Exception:
        give_back(state, newest, now)
        report.failed += 1
        log.exception("digest for user %s not sent; the next run retries", employee.pk)
        with contextlib.suppress(Exception):
            mail.close()  # a broken SMTP connection: the next send opens a new one
        return
    report.sent += 1


def claim(state: Digest, newest: int, now: datetime, cutoff: datetime, items: int) -> bool:
    """Move the row from what this run read to the new digest; False if it moved already."""
    gate = Q(sent_at__isnull=True) | Q(sent_at__lte=cutoff)
    return Digest.objects.filter(gate, user_id=state.user_id, up_to=state.up_to).update(
        up_to=newest, sent_at=now, items=items) == 1


def give_back(state: Digest, newest: int, now: datetime) -> None:
    """Undo our claim, unless another run has moved the row on since (then it stays)."""
    Digest.objects.filter(user_id=state.user_id, up_to=newest, sent_at=now).update(
        up_to=state.up_to, sent_at=state.sent_at, items=state.items)


# --- what a digest says ----------------------------------------------------------------


def unread(user_id: int, after: int) -> tuple[int | None, list[Item], int]:
    """(the newest unread notification of KINDS after `after`, or None; the items to
    list, newest first; how many more there are than DIGEST_MAX_ITEMS)."""
    fresh = Notification.objects.filter(user_id=user_id, kind__in=KINDS,
                                        read_at__isnull=True, id__gt=after)
    newest = fresh.aggregate(top=Max("id"))["top"]
    if newest is None:
        return None, [], 0
    off = Prefs.objects.filter(user_id=user_id).values_list("off", flat=True).first() or []
    mine = Membership.objects.filter(user_id=user_id).values("room_id")
    wanted = (fresh.filter(id__lte=newest).exclude(kind__in=off)
              .filter(Q(room__isnull=True) | Q(room_id__in=mine)))
    total = wanted.count()
    page = list(wanted.select_related("room", "actor").order_by("-id")[
        :settings.DIGEST_MAX_ITEMS])
    bodies = previews_now({n.message_id for n in page if n.message_id})
    items = [_item(n, bodies) for n in page
             if not (n.message_id in bodies and bodies[n.message_id] is None)]  # deleted
    return newest, items, total - len(page)


def _item(n: Notification, bodies: dict[str, str | None]) -> Item:
    body = bodies.get(n.message_id) if n.message_id else None  # edited since: as it is now
    room = n.room.name if n.room and n.room.name else "a direct conversation"
    return Item(kind=n.kind, room=room, actor=n.actor.name if n.actor else "Someone",
                preview=preview(body) if body is not None else n.preview,
                link=link(n.room_id, n.message_id, n.thread_id))


def link(room: int | None, message: str | None, thread: str | None = None) -> str:
    """The browser client at this message (static/js/app.js reads ?room=&message=&thread=;
    a query, not a #hash, because it survives the log-in redirect's `next`)."""
    query = {k: v for k, v in (("room", room), ("message", message), ("thread", thread))
             if v is not None}
    return f"{settings.PUBLIC_BASE_URL}/" + (f"?{urlencode(query)}" if query else "")


def message(employee: Any, items: list[Item], more: int) -> EmailMessage:
    count = len(items) + more
    subject = f"Colloquy: {count} unread notification{'' if count == 1 else 's'}"
    # Auto-Submitted: out-of-office robots do not answer it (RFC 3834).
    return EmailMessage(subject, body(employee, items, more), settings.DEFAULT_FROM_EMAIL,
                        [employee.email], headers={"Auto-Submitted": "auto-generated"})


def body(employee: Any, items: list[Item], more: int) -> str:
    lines = [f"Hello {employee.name},", "",
             "This came in for you on Colloquy while you were away:", ""]
    for item in items:
        lines += [f"{HEADINGS.get(item.kind, item.kind)} in {item.room}, from {item.actor}:"]
        if item.preview:
            lines += [f"  {item.preview}"]
        lines += [f"  {item.link}", ""]
    if more:
        lines += [f"… and {more} more: {settings.PUBLIC_BASE_URL}/", ""]
    every = settings.DIGEST_INTERVAL_SECONDS
    lines += [(f"You get at most one of these e-mails every {_period(every)}, listing"
               if every > 0 else "Each of these e-mails lists")
              + " only what is new since the last one. Turn a kind of notification off"
              " in Colloquy to stop its e-mails too."]
    return "\n".join(lines) + "\n"


def _period(seconds: int) -> str:
    """3600 → "hour", 5400 → "90 minutes", 45 → "45 seconds"."""
    unit, size = next(((u, n) for u, n in (("hour", 3600), ("minute", 60)) if seconds % n == 0),
                      ("second", 1))
    count = seconds // size
    return unit if count == 1 else f"{count} {unit}s"


# --- who has a live socket --------------------------------------------------------------


def live_users(users: list[int]) -> set[int]:
    """Those of `users` with a live socket somewhere: presence last announced them
    online or away. (Offline is announced PRESENCE_OFFLINE_DELAY_SECONDS after the
    last socket closed, or once a dead process's sockets are swept.)"""
    found = asyncio.run(_presence(users))
    return {u for u, (status, _) in found.items() if status != "offline"}


async def _presence(users: list[int]) -> dict[int, tuple[str, int | None]]:
    if settings.PROFILE == "services":
        return await _presence_in_redis(users)
    # Embedded: presence lives in the server process's memory, and the persister
    # thread running this is in that process. The store's read only looks up
    # dicts the server's loop writes, so a thread may call it on a loop of its own.
    rt = runtime.current()
    if rt is None or rt.presence is None:
        raise PresenceUnknown("only the embedded server process knows who is connected;"
                              " it sends digests from its persister thread")
    found: dict[int, tuple[str, int | None]] = await rt.presence.store.read(users)
    return found


async def _presence_in_redis(users: list[int]) -> dict[int, tuple[str, int | None]]:
    import redis.asyncio as aredis

    from presence.store import RedisPresenceStore

    client = aredis.Redis.from_url(settings.REDIS_URL, socket_timeout=10,
                                   socket_connect_timeout=5)
    try:
        store = RedisPresenceStore(client, settings.REDIS_PREFIX, settings.PRESENCE_TTL_SECONDS)
        return await store.read(users)
    finally:
        await client.aclose()


# --- the persister's periodic run -----------------------------------------------------


def start_periodic(stop: threading.Event | None = None) -> threading.Thread | None:
    """Run the job every DIGEST_INTERVAL_SECONDS on a daemon thread until `stop`
    is set (never, if the interval is 0)."""
    if settings.DIGEST_INTERVAL_SECONDS <= 0:
        return None
    thread = threading.Thread(target=_every_interval, args=(stop or threading.Event(),),
                              name="digests", daemon=True)
    thread.start()
    return thread


def _every_interval(stop: threading.Event) -> None:
    # The first run waits one presence TTL: after a restart, sockets reconnect
    # (and a dead process's are swept) before anyone counts as away.
    wait = settings.PRESENCE_TTL_SECONDS
    while not stop.wait(wait):
        wait = settings.DIGEST_INTERVAL_SECONDS
        try:
            log.info("digest run: %s", send_digests())
        except Exception:
            log.exception("digest run failed; the next one retries")
        finally:
            connections.close_all()  # this thread's; an hour idle would outlive them anyway
