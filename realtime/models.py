"""The persisted journal: every stream event, as the frame clients saw."""

from __future__ import annotations

from django.db import models


class StreamEvent(models.Model):
    """One event of one stream; history and resume read it past the journal window."""

    stream = models.CharField(max_length=40)
    seq = models.BigIntegerField()
    type = models.CharField(max_length=40)
    frame = models.TextField()  # the exact JSON frame, replayed verbatim
    persisted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="stream_event_unique_seq")
        ]

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq} {self.type}"
