"""Round tables: the state is written here first, then its event is appended
(database first): votes, moderation and answers change questions, and every
snapshot (`roundtable.get`) must show exactly what the events have said."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RoundTable(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled"
        LIVE = "live"
        ENDED = "ended"

    class Audience(models.TextChoices):
        EVERYONE = "everyone"  # every employee (not guests)
        DEPARTMENTS = "departments"  # employees of the listed departments
        ROOM = "room"  # the members of one room

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    premoderation = models.BooleanField(default=False)
    stream_url = models.URLField(blank=True)
    audience = models.CharField(max_length=12, choices=Audience.choices,
                                default=Audience.EVERYONE)
    departments = models.JSONField(default=list)
    audience_room = models.ForeignKey("rooms.Room", null=True, on_delete=models.SET_NULL,
                                      related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True)
    ended_at = models.DateTimeField(null=True)
    pinned = models.ForeignKey("Question", null=True, on_delete=models.SET_NULL,
                               related_name="+")  # "answering now"
    # The audience's side chat: an ordinary room, joined on opening the round table.
    chat_room = models.ForeignKey("rooms.Room", null=True, on_delete=models.SET_NULL,
                                  related_name="+")

    def __str__(self) -> str:
        return self.title


class Role(models.Model):
    class Kind(models.TextChoices):
        HOST = "host"  # answers
        MODERATOR = "moderator"  # keeps the queue

    roundtable = models.ForeignKey(RoundTable, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["roundtable", "user", "kind"],
                                               name="roundtable_role_once")]


class Viewer(models.Model):
    """Who opened the round table (`roundtable.get`): their sockets hold its stream,
    so a reconnecting client resumes it like a room."""

    roundtable = models.ForeignKey(RoundTable, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["roundtable", "user"],
                                               name="roundtable_viewer_once")]


class Question(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"  # pre-moderation: its author and the moderators see it
        APPROVED = "approved"
        REJECTED = "rejected"
        MERGED = "merged"  # into `merged_into`, which took its votes
        ANSWERED = "answered"
        WITHDRAWN = "withdrawn"

    id = models.BigAutoField(primary_key=True)
    roundtable = models.ForeignKey(RoundTable, on_delete=models.CASCADE,
                                   related_name="questions")
    # Kept even when anonymous, only for one vote per person and the rate limits;
    # never shown to anyone but the author (docs/protocol.md, "Anonymous questions").
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                               related_name="+")
    anonymous = models.BooleanField(default=False)
    body = models.TextField()
    client_id = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices)
    reason = models.TextField(blank=True)  # a rejection's, for the author
    merged_into = models.ForeignKey("self", null=True, on_delete=models.SET_NULL,
                                    related_name="+")
    votes = models.IntegerField(default=0)  # kept with the Vote rows, in one transaction
    asked_at = models.DateTimeField()
    edited_at = models.DateTimeField(null=True)
    answered_at = models.DateTimeField(null=True)
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    version = models.IntegerField(default=1)  # each change adds one: the newest wins

    class Meta:
        constraints = [models.UniqueConstraint(fields=["roundtable", "author", "client_id"],
                                               name="question_idempotent")]
        indexes = [models.Index(fields=["roundtable", "state"])]


class Vote(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["question", "user"],
                                               name="one_vote_per_person")]


class AuthorReveal(models.Model):
    """The audit record of an administrator learning who asked an anonymous question
    (the admin's "Reveal the author"): who, which question, why, when. Never edited or
    deleted from the admin."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="+")
    revealed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    reason = models.TextField()
    at = models.DateTimeField()
