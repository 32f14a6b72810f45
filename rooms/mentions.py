"""Who a message mentions: `@username` of a member, and `@room` (everyone in it).

Resolved by the server when the message is sent, so a client cannot mention
someone who is not in the room, and `@room` is refused in large rooms to anyone
but staff (an everyone-ping in a room of thousands is an incident, not a chat).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from rooms.models import Membership

# A username as Django allows it (letters, digits and @.+-_), after an @ that does
# not follow a word character (so an e-mail address mentions nobody). A trailing
# full stop or hyphen ends the sentence, not the name.
_MENTION = re.compile(r"(?<![\w@])@([\w.@+-]+)")
EVERYONE = "room"
# Roles that may use @room in a room of any size.
_ANNOUNCERS = ("moderator", "executive", "admin")


@dataclass(frozen=True)
class Mentions:
    users: list[int]  # members named, in id order (the author included, if named)
    everyone: bool  # @room, and it was allowed: every member is mentioned


def names_in(body: str) -> set[str]:
    return {m.group(1).rstrip(".-") for m in _MENTION.finditer(body)} - {""}


def resolve(body: str, room_id: int, role: str) -> Mentions:
    """The members `body` mentions (sync ORM; call through run_db). Names that are
    no member of the room are plain text."""
    names = names_in(body)
    if not names:
        return Mentions([], False)
    members = Membership.objects.filter(room_id=room_id)
    everyone = EVERYONE in names and (
        role in _ANNOUNCERS or members.count() <= settings.MENTION_ROOM_MAX_MEMBERS)
    named = names - {EVERYONE}
    users = sorted(members.filter(user__username__in=named, user__is_active=True)
                   .values_list("user_id", flat=True)) if named else []
    return Mentions(users, everyone)


def recipients(mentions: Mentions, room_id: int, author_id: int) -> list[int]:
    """Who gets a `mention` event: never the author (sync ORM)."""
    ids = (Membership.objects.filter(room_id=room_id).values_list("user_id", flat=True)
           if mentions.everyone else mentions.users)
    return sorted(set(ids) - {author_id})
