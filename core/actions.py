"""Every state change of employees and their credentials (sync: admin, commands, views)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import ApiToken, Employee, Role, Ticket, digest
from realtime.protocol import CloseCode

TOKEN_PREFIX = "cq_"


def create_employee(
    username: str, password: str, *, role: str = Role.EMPLOYEE, name: str = "",
    title: str = "", department: str = "",
) -> Employee:
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    user = Employee(
        username=username, display_name=name, title=title, department=department, role=role,
        is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN,
    )
    user.set_password(password)
    user.save()
    return user


def issue_token(user: Employee, label: str = "") -> str:
    """A new bearer token; only its digest is stored, so this is the one chance to see it."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, digest=digest(secret), prefix=secret[:10], label=label)
    return secret


def issue_ticket(user: Employee, token_id: int | None = None) -> str:
    """A one-time socket credential; `token_id`: the bearer token it is minted with."""
    secret = secrets.token_urlsafe(32)
    Ticket.objects.filter(expires_at__lt=timezone.now()).delete()
    Ticket.objects.create(
        user=user, token_id=token_id, digest=digest(secret),
        expires_at=timezone.now() + timedelta(seconds=settings.TICKET_TTL_SECONDS),
    )
    return secret


def revoke_tokens(user: Employee) -> int:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def revoke_token(token: ApiToken) -> None:
    """Revoke one token and close, on every process, the sockets opened with it."""
    from realtime.events import announce

    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        Ticket.objects.filter(token=token).delete()
    # After the commit (at once outside a transaction): a process told earlier
    # could still read the token as valid.
    transaction.on_commit(lambda: announce(
        "close_token", user=token.user_id, token=token.pk,
        code=int(CloseCode.UNAUTHORIZED), reason="token revoked"))


def deactivate_employee(user: Employee) -> None:
    """Cut an employee off at once: no log-in, no token, no live socket anywhere
    (core.signals does the cutting, for this and every other save that unticks
    is_active)."""
    user.is_active = False
    user.save(update_fields=["is_active"])


def change_role(user: Employee, role: str) -> None:
    """Give an employee another role; their open sockets reconnect under it
    (core.signals, for this and every other save that changes the role)."""
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}, got {role!r}")
    user.role = role
    user.is_staff = user.is_superuser = role == Role.ADMIN  # as create_employee sets them
    user.save(update_fields=["role", "is_staff", "is_superuser"])


def cut_off(user: Employee) -> None:
    """Revoke everything a deactivated employee holds, and close their sockets on
    every process once the deactivation is committed."""
    from realtime.events import announce

    with transaction.atomic():
        revoke_tokens(user)
        Ticket.objects.filter(user=user).delete()
    # After the commit, so no process re-reads the employee as still active (the
    # Django admin saves inside its own transaction).
    transaction.on_commit(lambda: announce(
        "close_user", user=user.pk, code=int(CloseCode.DEACTIVATED), reason="deactivated"))


def reauthorise(user: Employee) -> None:
    """The employee's standing changed (their role): close their sockets on every
    process once that is committed; the client reconnects, resumes, and is
    authorised afresh under what the database now says."""
    from realtime.events import announce

    transaction.on_commit(lambda: announce(
        "close_user", user=user.pk, code=int(CloseCode.REAUTHENTICATE), reason="role changed"))
