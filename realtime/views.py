"""HTTP endpoints: token and ticket issue, health and readiness."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from core import actions, throttle
from realtime.http import bearer, error

USERNAME_MAX_CHARS = 150  # the column's width (AbstractUser.username)


def _credentials(raw: bytes) -> tuple[str, str, str] | None:
    """Username, password and label of a token request; None for anything else,
    whatever its shape (deep nesting, NUL bytes, numbers, lists, bad UTF-8)."""
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict):
        return None
    username, password, label = body.get("username"), body.get("password"), body.get("label")
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    if not 0 < len(username) <= USERNAME_MAX_CHARS or len(password) > settings.MAX_PASSWORD_CHARS:
        return None
    if "\x00" in username or "\x00" in password:  # Postgres text cannot hold NUL
        return None
    return username, password, label[:100] if isinstance(label, str) else ""


def _throttled(seconds: int) -> JsonResponse:
    response = error(429, "rate_limited",
                      f"too many failed log-ins; try again in {seconds} s")
    response["Retry-After"] = str(seconds)
    return response


@csrf_exempt
@require_POST
def issue_token(request: HttpRequest) -> JsonResponse:
    """POST {"username","password"} → {"token"}: a revocable bearer token."""
    found = _credentials(request.body)
    if found is None:
        return error(400, "bad_request", 'expected JSON {"username": "...", "password": "..."}')
    username, password, label = found
    wait = throttle.attempt(request, username)
    if wait:  # before hashing: a guesser costs one lookup
        return _throttled(wait)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return error(401, "unauthorized", "unknown username or wrong password")
    throttle.succeeded(request, username)
    return JsonResponse({"token": actions.issue_token(user, label)})


@csrf_exempt  # a bearer token is not ambient authority; the session path checks CSRF below
@require_POST
def issue_ticket(request: HttpRequest) -> JsonResponse:
    """POST (session or bearer) → {"ticket", "expires_in"}: one socket, within 30 s."""
    found = bearer(request)
    user, token_id = found if found else (None, None)
    if user is None and request.user.is_authenticated:
        from django.middleware.csrf import CsrfViewMiddleware

        reason = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if reason is not None:
            return error(403, "forbidden", "CSRF check failed")
        user = request.user
    if user is None or not user.is_active:
        return error(401, "unauthorized", "log in or send Authorization: Bearer <token>")
    return JsonResponse({"ticket": actions.issue_ticket(user, token_id),
                         "expires_in": settings.TICKET_TTL_SECONDS})


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving HTTP."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, Redis and persister lag within bounds: fit to take traffic."""
    checks: dict[str, Any] = {"profile": settings.PROFILE}
    ready = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
        ready = False
    try:
        count, age = _journal_lag()
        checks["redis"] = "ok" if settings.PROFILE == "services" else "not used"
        checks["persister_lag"] = {"entries": count, "oldest_seconds": round(age, 3)}
        if count > settings.READY_MAX_LAG_ENTRIES or age > settings.READY_MAX_LAG_SECONDS:
            ready = False
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
        ready = False
    # Reported, not a reason to refuse traffic: the persister went on past them.
    checks["dead_letters"] = _dead_letters()
    checks["status"] = "ready" if ready else "not ready"
    return JsonResponse(checks, status=200 if ready else 503)


def _dead_letters() -> int | str:
    from realtime.models import DeadLetter

    try:
        return DeadLetter.objects.count()
    except Exception as exc:  # the database check above reports the cause
        return f"error: {type(exc).__name__}"


def _journal_lag() -> tuple[int, float]:
    import time

    if settings.PROFILE == "services":
        import redis

        from realtime.journal_redis import key

        with redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2) as client:
            stream = key("journal")
            count = client.xlen(stream)
            first = client.xrange(stream, count=1) if count else []
        age = time.time() - int(first[0][0].split(b"-")[0]) / 1000 if first else 0.0
        return count, max(0.0, age)
    import sqlite3

    from realtime.control import journal_path

    path = journal_path()
    if not path.exists():
        return 0, 0.0
    db = sqlite3.connect(path, timeout=2)
    try:
        count, oldest = db.execute(
            "SELECT count(*), min(created) FROM journal WHERE persisted=0"
        ).fetchone()
    except sqlite3.OperationalError:  # no journal written yet
        return 0, 0.0
    finally:
        db.close()
    return count, (time.time() - oldest) if oldest else 0.0
