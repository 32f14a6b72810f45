"""Last-seen times, written in batches by presence.tracker (never per heartbeat).

Live presence itself lives in Redis keys with TTLs (or process memory in the
embedded profile); this table only remembers when someone was last online.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LastSeen(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
        related_name="last_seen",
    )
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user_id} last seen {self.at:%Y-%m-%d %H:%M:%S}"
