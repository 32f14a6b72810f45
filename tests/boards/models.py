"""Boards: a stream kind for tests. Members read `board:<id>`; cards are keyed state."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Board(models.Model):
    name = models.CharField(max_length=100)
    # The board's moderator: reads `boardmod:<id>`, who wrote each anonymous card.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")


class BoardMember(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["board", "user"],
                                               name="board_member_unique")]


class Card(models.Model):
    """One slot of a board, written by the persister from board.card.* events:
    set upserts it, cleared leaves a tombstone (`deleted`); `version` is the seq of
    the event that wrote it, so a redelivered older event changes nothing."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="cards")
    slot = models.CharField(max_length=64)
    text = models.TextField(null=True)  # null in a tombstone of a card never stored
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    version = models.BigIntegerField()
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["board", "slot"],
                                               name="card_unique_slot")]
