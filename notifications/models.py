"""An employee's notification centre: one row per notification, written by the
action before its event (database first: a read right after must find it)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention"
        REPLY = "reply"  # in a thread I follow
        REACTION = "reaction"  # to my message
        ROOM_ADDED = "room_added"
        ANNOUNCEMENT = "announcement"  # to acknowledge (message.send requires_ack)
        ROUNDTABLE = "roundtable"  # a round table I may join was announced, or went live

    id = models.BigAutoField(primary_key=True)  # ascending: `up_to` reads by it
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    room = models.ForeignKey("rooms.Room", null=True, on_delete=models.CASCADE,
                             related_name="+", db_index=False)
    message_id = models.CharField(max_length=32, null=True)
    thread_id = models.CharField(max_length=32, null=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                              related_name="+", db_index=False)
    emoji = models.CharField(max_length=64, blank=True)  # a reaction's
    roundtable_id = models.BigIntegerField(null=True)  # a round table's (no foreign key:
    # the notification centre reads no other app's tables)
    preview = models.TextField(blank=True)  # the message as it was; shown as it is now
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["user", "id"]),
                   models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class Prefs(models.Model):
    """The kinds of notification an employee turned off (notifications.prefs)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True,
                                on_delete=models.CASCADE, related_name="+")
    off = models.JSONField(default=list)


class Digest(models.Model):
    """The last digest e-mail an employee was sent (notifications.digest): when, and
    the newest notification it covered. One row per employee, claimed by a
    conditional update, so two runs at once never send the same digest twice."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True,
                                on_delete=models.CASCADE, related_name="+")
    up_to = models.BigIntegerField(default=0)  # Notification.id: what came after is new
    sent_at = models.DateTimeField(null=True)  # None: never sent one
    items = models.PositiveIntegerField(default=0)  # how many the last one listed

    def __str__(self) -> str:
        return f"digest of {self.user_id} up to {self.up_to}"
