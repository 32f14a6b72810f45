"""Employees, their API tokens and one-time socket tickets."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    EMPLOYEE = "employee"
    MODERATOR = "moderator"
    EXECUTIVE = "executive"
    ADMIN = "admin"
    GUEST = "guest"


class Employee(AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)
    title = models.CharField(max_length=150, blank=True)
    department = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.EMPLOYEE)

    @property
    def name(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    def public(self) -> dict[str, object]:
        """The fields every colleague may see, as they appear on the wire."""
        return {"id": self.pk, "username": self.username, "name": self.name}


def digest(secret: str) -> str:
    """Tokens and tickets are stored as SHA-256 digests, never in the clear."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A revocable bearer token for desktop clients and bots."""

    user = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)  # shown in the admin to tell tokens apart
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.username})"


class Ticket(models.Model):
    """A one-time socket credential, valid for settings.TICKET_TTL_SECONDS."""

    user = models.ForeignKey(Employee, on_delete=models.CASCADE, related_name="tickets")
    # The bearer token it was minted with (None: minted by a browser session). A
    # ticket dies with its token, and a socket it opened closes with it.
    token = models.ForeignKey("ApiToken", null=True, on_delete=models.CASCADE,
                              related_name="tickets")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"ticket for {self.user.username} until {self.expires_at:%H:%M:%S}"
