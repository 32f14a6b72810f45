"""A membership deleted by any path stops the member's live sockets reading the room.

The rooms actions (leave, remove_member, delete_room) journal member.left and
room.removed, and every socket follows those. A delete that goes around them
(a shell, a script, a cascade) journals nothing; this tells every server process
to revoke the room on that member's sockets at once, and their next connect
does not hold it (realtime.access reads memberships afresh).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from realtime.events import announce
from rooms.access import ROOM
from rooms.models import Membership

_local = threading.local()


@contextlib.contextmanager
def journaled() -> Iterator[None]:
    """Deletes inside are the rooms actions' own: they journal member.left and
    room.removed themselves, which the member's sockets must still receive (a
    revocation announced first would cut them off before those events)."""
    _local.journaled = True
    try:
        yield
    finally:
        _local.journaled = False


@receiver(post_delete, sender=Membership)
def _membership_deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    if getattr(_local, "journaled", False):
        return
    user, stream = instance.user_id, ROOM.stream(instance.room_id)
    # After the commit: a process told earlier could read the membership again.
    transaction.on_commit(lambda: announce("revoke_stream", user=user, stream=stream))
