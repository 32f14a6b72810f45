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
    # Whether any member may send announcements that require acknowledgement, not
    # only moderators, executives and administrators (rooms.create `members_announce`).
    members_announce = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name or f"{self.kind} room {self.pk}"


class Membership(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    read_seq = models.BigIntegerField(default=0)  # the read marker: last seq seen
    read_at = models.DateTimeField(null=True, blank=True)  # when the marker last moved
    # rooms.mute: "all" notifies as usual, "mentions" only of mentions, "nothing"
    # not at all; until `mute_until`, if set. Unread counts are kept either way.
    mute_level = models.CharField(max_length=10, default="all")
    mute_until = models.DateTimeField(null=True, blank=True)

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
    # The thread's root, for a reply (rooms.models.ThreadReply indexes replies).
    thread_id = models.CharField(max_length=32, null=True, blank=True)
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


# --- threads -----------------------------------------------------------------
# Written by rooms.actions when a reply is acked (database first, like edits):
# a thread page and the root's summary must include a reply the moment it is
# acked, before the persister has written its Message row.


class ThreadReply(models.Model):
    """One reply in a thread, with its seq on the room stream (for paging)."""

    message_id = models.CharField(primary_key=True, max_length=32)
    root_id = models.CharField(max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+", db_index=False)
    seq = models.BigIntegerField()
    at = models.DateTimeField()
    deleted = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["root_id", "seq"])]


class ThreadSummary(models.Model):
    """What a thread's root shows: replies not deleted, the last one's time, and
    the latest repliers. `version` grows with each change (clients keep the highest)."""

    root_id = models.CharField(primary_key=True, max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    replies = models.IntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True)
    participants = models.JSONField(default=list)  # user ids, latest replier first
    version = models.IntegerField(default=0)


class ThreadFollow(models.Model):
    """Whether an employee follows a thread. A row with `following` false is an
    explicit unfollow, which a later reply by someone else does not undo."""

    root_id = models.CharField(max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    following = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["root_id", "user"],
                                               name="thread_follow_unique")]


class Mention(models.Model):
    """A member mentioned by a message, written by the persister from the `mention`
    events on their user stream (the notification centre reads these)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+", db_index=False)
    message_id = models.CharField(max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    thread_id = models.CharField(max_length=32, null=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                           related_name="+", db_index=False)
    seq = models.BigIntegerField()  # of the event on user:<id>
    at = models.DateTimeField()
    everyone = models.BooleanField(default=False)  # through @room

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "message_id"],
                                               name="mention_unique")]
        indexes = [models.Index(fields=["user", "seq"])]


class Announcement(models.Model):
    """A message that requires acknowledgement (message.send `requires_ack`),
    written by the send action: rare, and acks must find it at once."""

    message_id = models.CharField(primary_key=True, max_length=32)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+",
                             db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                               related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["room", "created_at"])]

    def __str__(self) -> str:
        return f"announcement {self.message_id}"


class Ack(models.Model):
    """One employee acknowledged one version of an announcement. Never changed or
    deleted: the company's record of who read what, and when."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE,
                                     related_name="acks", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    version = models.IntegerField()  # of the message (MessageState.version) acknowledged
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["announcement", "version", "user"],
                                               name="ack_once_per_version")]

    def __str__(self) -> str:
        return f"{self.user_id} acknowledged {self.announcement_id} v{self.version}"
