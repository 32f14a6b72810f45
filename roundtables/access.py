"""The round tables' stream kinds.

`roundtable:<id>`: what the audience sees. Held by those who opened it
(`roundtable.get`), its hosts and its moderators, until ROUNDTABLE_HELD_AFTER_END_DAYS
after it ended (a client away at the end still resumes through it).
`rtmod:<id>`: the moderation view (questions waiting for approval), held by its
hosts and moderators only. Anonymous authors appear on neither.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from realtime.access import StreamKind, register


def _held() -> Any:
    """The round tables whose streams are still held: not ended, or ended lately."""
    from roundtables.models import RoundTable

    since = timezone.now() - timedelta(days=settings.ROUNDTABLE_HELD_AFTER_END_DAYS)
    return RoundTable.objects.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=since))


def _viewing(user_id: int) -> list[str]:
    from roundtables.models import Role, Viewer

    live = _held()
    ids = set(Viewer.objects.filter(user_id=user_id, roundtable__in=live)
              .values_list("roundtable_id", flat=True))
    ids |= set(Role.objects.filter(user_id=user_id, roundtable__in=live)
               .values_list("roundtable_id", flat=True))
    return [f"roundtable:{i}" for i in sorted(ids)]


def _moderating(user_id: int) -> list[str]:
    from roundtables.models import Role

    live = _held()
    return [f"rtmod:{i}" for i in sorted(set(
        Role.objects.filter(user_id=user_id, roundtable__in=live)
        .values_list("roundtable_id", flat=True)))]


ROUNDTABLE = register(StreamKind("roundtable", held_by=_viewing))
MODERATION = register(StreamKind("rtmod", held_by=_moderating))
