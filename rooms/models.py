"""Rooms (group chats and direct conversations), memberships, messages, read markers."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Room(models.Model):
    class Kind(models.TextChoices):
        GROUP = "group"
        DIRECT = "direct"

    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GROUP)
    # "<low id>:<high id>" for direct rooms, so each pair has exactly one.
    direct_key = models.CharField(max_length=50, unique=True, null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by rooms.actions.delete_room, which leaves no members; the row and its
    # messages stay for the company's records (and for entries still in flight).
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or f"{self.kind} room {self.pk}"


class Membership(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    read_seq = models.BigIntegerField(default=0)  # the read marker: last seq seen

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id}"


class Message(models.Model):
    """A chat message, written by the persister from the journal."""

    id = models.CharField(primary_key=True, max_length=32)
    # No single-column indexes on the keys: (room, seq) and (author, client_id)
    # below lead with them and serve the same lookups, and every index is paid
    # for on each row the persister writes.
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages",
                             db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages",
        db_index=False,
    )
    seq = models.BigIntegerField()
    body = models.TextField()
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_seq"),
        ]
        # Not unique: the journal dedupes a client_id for DEDUPE_TTL_SECONDS; after
        # that a reused one is a new message, and must not be dropped here.
        indexes = [models.Index(fields=["author", "client_id"])]

    def __str__(self) -> str:
        return f"message {self.pk} in room {self.room_id}"
