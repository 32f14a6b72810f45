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


class DeadLetter(models.Model):
    """A journal entry a table refused (its room or author gone, a value it cannot
    hold): kept here with the reason, so the persister goes on and an operator can
    see and replay it. Counted in /readyz."""

    stream = models.CharField(max_length=40)
    seq = models.BigIntegerField()
    table = models.CharField(max_length=100)  # the model label, "rooms.Message"
    type = models.CharField(max_length=40)
    frame = models.TextField()
    reason = models.CharField(max_length=500)
    failed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "seq", "table"],
                                               name="dead_letter_unique_entry")]

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq} → {self.table}: {self.reason}"
