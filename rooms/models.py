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


# --- what changes about a message after it is sent ---------------------------
# Written by the actions before their event is appended (database first): the
# version a change gets is assigned here, atomically, so events that reach the
# journal in another order still converge (clients keep the highest version).
# A message's own row may not be persisted yet, so these refer to it by id only.


class MessageState(models.Model):
    """A message that was edited or deleted: its latest body and version."""

    message_id = models.CharField(primary_key=True, max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+")
    body = models.TextField(null=True)  # null once deleted
    version = models.IntegerField(default=1)  # 1: as sent; each edit adds one
    edited_at = models.DateTimeField(null=True)
    deleted_at = models.DateTimeField(null=True)
    # Who deleted it, when not the author (a moderator or administrator).
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"state of message {self.message_id}"


class MessageVersion(models.Model):
    """Every body a message had, from version 1 (as sent), while it is not deleted."""

    message_id = models.CharField(max_length=32)
    version = models.IntegerField()
    body = models.TextField()
    at = models.DateTimeField()
    # The author for version 1; whoever edited for the others (moderators may).
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                           related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message_id", "version"],
                                               name="message_version_unique")]


class Reaction(models.Model):
    """One employee's reaction with one emoji to one message."""

    message_id = models.CharField(max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    emoji = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message_id", "user", "emoji"],
                                               name="reaction_unique")]


class ReactionCount(models.Model):
    """How many reacted to a message with an emoji; `version` grows with each change,
    so a reaction event that reaches a client late never undoes a newer count."""

    message_id = models.CharField(max_length=32)
    emoji = models.CharField(max_length=64)
    count = models.IntegerField(default=0)
    version = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message_id", "emoji"],
                                               name="reaction_count_unique")]
