"""What every HTTP endpoint shares: who is asking, and the error body."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from core import selectors


def error(status: int, code: str, message: str) -> JsonResponse:
    """The same {error, message} an error frame carries, with the HTTP status."""
    return JsonResponse({"error": code, "message": message}, status=status)


def bearer(request: HttpRequest) -> tuple[Any, int] | None:
    """The employee and token id of an `Authorization: Bearer` header."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        return None
    return selectors.user_for_token(secret.strip())


def employee(request: HttpRequest) -> Any | None:
    """The active employee asking: by bearer token (desktop clients, scripts) or by
    the browser's session; None for anyone else."""
    found = bearer(request)
    user = found[0] if found else (request.user if request.user.is_authenticated else None)
    return user if user is not None and user.is_active else None
