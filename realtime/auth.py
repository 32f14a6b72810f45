"""Who is on a socket: bearer token, one-time ticket, or session cookie + Origin.

Policy, in order:
  1. `Authorization: Bearer <token>`: desktop clients and bots; no Origin needed.
  2. `?ticket=<one-time ticket>`: single use, expires after TICKET_TTL_SECONDS.
  3. The Django session cookie, only with an Origin in settings.ALLOWED_ORIGINS:
     a cookie alone, or with a foreign Origin, is refused (cross-site socket
     hijacking: a page elsewhere cannot ride an employee's cookie).
Anything else: the handshake is refused (HTTP 403). Secrets are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from realtime.protocol import CloseCode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """The authenticated employee behind one socket."""

    id: int
    username: str
    name: str
    role: str
    method: str  # "token" | "ticket" | "session"
    token_id: int | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "name": self.name}


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _principal(user: Any, method: str, token_id: int | None = None) -> Principal:
    return Principal(user.pk, user.username, user.name, user.role, method, token_id)


def _authenticate_sync(scope: dict[str, Any]) -> Principal | None:
    from core import selectors

    headers = _headers(scope)
    auth = headers.get(b"authorization", b"").decode("latin1")
    if auth:
        scheme, _, secret = auth.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            return None
        found = selectors.user_for_token(secret.strip())
        return _principal(found[0], "token", found[1]) if found else None
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    if "ticket" in query:
        found = selectors.user_for_ticket(query["ticket"][0])
        # The ticket's token goes with the socket: revoking it closes this one too.
        return _principal(found[0], "ticket", found[1]) if found else None
    origin = headers.get(b"origin", b"").decode("latin1")
    if origin not in settings.ALLOWED_ORIGINS:
        return None
    return _session_user(headers)


def _session_user(headers: dict[bytes, bytes]) -> Principal | None:
    from http.cookies import SimpleCookie

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from core.models import Employee

    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin1"))
    except Exception:
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    session = SessionStore(session_key=morsel.value)
    user_id = session.get(SESSION_KEY)
    if user_id is None or BACKEND_SESSION_KEY not in session:
        return None
    user = Employee.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    # A password change invalidates sessions, as it does for HTTP.
    if session.get(HASH_SESSION_KEY) != user.get_session_auth_hash():
        return None
    return _principal(user, "session")


_handshakes: asyncio.Semaphore | None = None  # HANDSHAKE_CONCURRENCY at once


async def authenticate(scope: dict[str, Any]) -> Principal | None:
    from realtime.db import run_db

    global _handshakes
    if _handshakes is None:
        _handshakes = asyncio.Semaphore(settings.HANDSHAKE_CONCURRENCY)
    async with _handshakes:  # a storm waits here, in order, rather than failing
        return await run_db(_authenticate_sync, scope)


class WebSocketAuth:
    """ASGI middleware: put `principal` in the scope, or refuse the handshake."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            principal = await authenticate(scope)
        except Exception:
            # Not the client's fault: say "retry" (4503), not "bad credentials" (403).
            log.exception("authentication failed with an error")
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": int(CloseCode.UNAVAILABLE)})
            return
        if principal is None:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 4001})
            log.info("socket handshake refused: no valid credentials")
            return
        await self.app({**scope, "principal": principal}, receive, send)
