"""Reads of employees and credentials."""

from __future__ import annotations

from django.utils import timezone

from core.models import ApiToken, Employee, Ticket, digest


def user_for_token(secret: str) -> tuple[Employee, int] | None:
    """The active employee owning an unrevoked token, and the token's id."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    return (token.user, token.pk) if token else None


def user_for_ticket(secret: str) -> Employee | None:
    """Consume a ticket: the first caller gets the employee, every later one None."""
    ticket = Ticket.objects.select_related("user").filter(digest=digest(secret)).first()
    if ticket is None:
        return None
    deleted, _ = Ticket.objects.filter(pk=ticket.pk).delete()
    if deleted != 1 or ticket.expires_at <= timezone.now() or not ticket.user.is_active:
        return None
    return ticket.user


def employees_by_username(usernames: list[str]) -> dict[str, Employee]:
    return {e.username: e for e in Employee.objects.filter(username__in=usernames,
                                                            is_active=True)}


def search_employees(query: str, limit: int) -> list[dict[str, object]]:
    """Active employees whose username, name, title or department contains `query`."""
    from django.db.models import Q

    rows = Employee.objects.filter(is_active=True)
    if query:
        rows = rows.filter(
            Q(username__icontains=query) | Q(display_name__icontains=query)
            | Q(title__icontains=query) | Q(department__icontains=query)
        )
    return [
        {**e.public(), "title": e.title, "department": e.department}
        for e in rows.order_by("display_name", "username")[:limit]
    ]
