"""Announcements that must be acknowledged: the bookkeeping (sync ORM, database first).

Who must acknowledge: the room's members now, but the author. What they
acknowledge: the message's current version (MessageState.version, 1 as
sent); an edit makes a new version, which everyone acknowledges again. An
acknowledgement is a row that is never changed or deleted, and only the
employee's own socket writes one (rooms.actions.ack_message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from rooms.models import Ack, Announcement, Membership, MessageState, Room

ANNOUNCER_ROLES = ("moderator", "executive", "admin")


def may_announce(role: str, room_id: int) -> bool:
    return role in ANNOUNCER_ROLES or Room.objects.filter(
        pk=room_id, members_announce=True).exists()


def create(message_id: str, room_id: int, author_id: int, at: datetime) -> None:
    Announcement.objects.get_or_create(message_id=message_id, defaults={
        "room_id": room_id, "author_id": author_id, "created_at": at})


def drop(message_id: str) -> None:
    """The row made for a send that turned out to repeat an earlier one."""
    Announcement.objects.filter(message_id=message_id).delete()


def is_announcement(message_id: str) -> bool:
    return Announcement.objects.filter(message_id=message_id).exists()


def version_of(message_id: str) -> int:
    found = MessageState.objects.filter(message_id=message_id).values_list("version",
                                                                          flat=True).first()
    return found or 1


def recipients(room_id: int, author_id: int) -> list[int]:
    return sorted(set(Membership.objects.filter(room_id=room_id).exclude(user_id=author_id)
                      .values_list("user_id", flat=True)))


@dataclass(frozen=True)
class Tally:
    version: int
    acked: int  # recipients who acknowledged this version
    total: int  # recipients

    def data(self) -> dict[str, int]:
        return {"version": self.version, "acked": self.acked, "total": self.total}


def tally(announcement: Announcement, version: int) -> Tally:
    members = recipients(announcement.room_id, announcement.author_id)
    acked = Ack.objects.filter(announcement=announcement, version=version,
                               user_id__in=members).count()
    return Tally(version, acked, len(members))


def record(message_id: str, user_id: int, at: datetime) -> tuple[Ack, bool, Tally]:
    """(the acknowledgement of the current version, whether it is new, the tally).
    Two devices acknowledging at once make one row: the unique constraint decides."""
    announcement = Announcement.objects.get(pk=message_id)
    version = version_of(message_id)
    try:
        with transaction.atomic():
            ack, created = Ack.objects.get_or_create(
                announcement=announcement, version=version, user_id=user_id,
                defaults={"at": at})
    except IntegrityError:  # the other device's insert won
        ack, created = Ack.objects.get(announcement=announcement, version=version,
                                       user_id=user_id), False
    return ack, created, tally(announcement, version)


def tally_of(message_id: str) -> Tally:
    announcement = Announcement.objects.get(pk=message_id)
    return tally(announcement, version_of(message_id))


def listing(message_id: str) -> dict[str, Any]:
    """Who has acknowledged the current version (with when), and who has not (with
    the last version they did acknowledge, if any)."""
    from core.models import Employee
    from rooms.selectors import ms

    announcement = Announcement.objects.get(pk=message_id)
    version = version_of(message_id)
    members = recipients(announcement.room_id, announcement.author_id)
    people = {e.pk: e.public() for e in Employee.objects.filter(pk__in=members)}
    latest: dict[int, Ack] = {}
    for ack in Ack.objects.filter(announcement=announcement, user_id__in=members).order_by(
            "version"):
        latest[ack.user_id] = ack
    acked, pending = [], []
    for uid in members:
        ack = latest.get(uid)
        if ack is not None and ack.version == version:
            acked.append({"user": people[uid], "at": ms(ack.at), "version": ack.version})
        else:
            pending.append({"user": people[uid],
                            "acked_version": ack.version if ack is not None else None})
    acked.sort(key=lambda a: (a["at"], a["user"]["id"]))
    return {"message": message_id, "version": version, "total": len(members),
            "acked": acked, "pending": pending}


CSV_HEADER = ["username", "name", "department", "status", "acknowledged_version",
              "acknowledged_at", "current_version"]


def csv_rows(message_id: str) -> list[list[str]]:
    """The export: one row per employee who must acknowledge, with the version
    they last acknowledged and when (UTC, ISO 8601)."""
    from core.models import Employee

    announcement = Announcement.objects.get(pk=message_id)
    version = version_of(message_id)
    members = recipients(announcement.room_id, announcement.author_id)
    latest: dict[int, Ack] = {}
    for ack in Ack.objects.filter(announcement=announcement, user_id__in=members).order_by(
            "version"):
        latest[ack.user_id] = ack
    rows = []
    for e in Employee.objects.filter(pk__in=members).order_by("username"):
        ack = latest.get(e.pk)
        status = ("acknowledged" if ack is not None and ack.version == version
                  else "pending")
        rows.append([e.username, e.name, e.department, status,
                     str(ack.version) if ack else "",
                     _iso(ack.at) if ack else "", str(version)])
    return rows


def _iso(at: datetime) -> str:
    """One fixed shape for every row (isoformat alone drops a zero fraction)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summaries(message_ids: list[str], reader_id: int) -> dict[str, dict[str, Any]]:
    """For restated messages: each announcement's tally, and whether the reader
    acknowledged its current version (`mine`)."""
    out: dict[str, dict[str, Any]] = {}
    for announcement in Announcement.objects.filter(message_id__in=message_ids):
        version = version_of(announcement.message_id)
        counted = tally(announcement, version)
        mine = Ack.objects.filter(announcement=announcement, version=version,
                                  user_id=reader_id).exists()
        out[announcement.message_id] = {**counted.data(), "mine": mine}
    return out
