"""Who may open a socket: bearer token, one-time ticket, session cookie + Origin.

The handshake policy (realtime/auth.py) refuses anything else with HTTP 403.
Tokens are stored as digests, and no secret ever reaches the server logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from colloquy_client import Client
from tests.stack import (
    PASSWORD,
    Stack,
    extra_server,
    handshake_status,
    make_staff,
    session_login,
)

ALLOWED_ORIGIN = "http://127.0.0.1:8000"  # in settings.ALLOWED_ORIGINS by default
UNAUTHORIZED = {"error": "unauthorized", "message": "unknown username or wrong password"}


async def open_as(url: str, **kwargs: Any) -> Client:
    client = Client(url, **kwargs)
    await client.connect()
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_ticket(stack: Stack, username: str, index: int = 0) -> dict[str, Any]:
    status, body = stack.post("/api/auth/ticket", headers=bearer(stack.token(username)),
                              index=index)
    assert status == 200, body
    return body


# --- POST /api/auth/token --------------------------------------------------------


def test_token_with_right_password_is_issued(stack: Stack) -> None:
    status, body = stack.post("/api/auth/token",
                              {"username": stack.new_user(), "password": PASSWORD})
    assert status == 200
    assert set(body) == {"token"}
    assert isinstance(body["token"], str)
    assert body["token"].startswith("cq_") and len(body["token"]) > 32


def test_token_with_wrong_password_is_401(stack: Stack) -> None:
    status, body = stack.post("/api/auth/token",
                              {"username": stack.new_user(), "password": PASSWORD + "x"})
    assert (status, body) == (401, UNAUTHORIZED)


def test_token_for_unknown_username_is_the_same_401(stack: Stack) -> None:
    status, body = stack.post("/api/auth/token",
                              {"username": "nobody-by-this-name", "password": PASSWORD})
    assert (status, body) == (401, UNAUTHORIZED)


# --- bearer token ---------------------------------------------------------------


async def test_bearer_token_without_origin_is_accepted(stack: Stack) -> None:
    username = stack.new_user()
    client = await open_as(stack.ws_url(0), token=stack.token(username))
    assert client.hello is not None
    assert client.hello["op"] == "hello"
    assert client.hello["user"]["username"] == username
    assert (await client.request("ping"))["op"] == "ok"
    await client.close()


async def test_bad_bearer_token_is_refused_with_403(stack: Stack) -> None:
    url = stack.ws_url(0)
    with pytest.raises(InvalidStatus) as refused:
        await Client(url, token="cq_" + secrets.token_urlsafe(32)).connect()
    assert refused.value.response.status_code == 403
    assert bytes(refused.value.response.body or b"") == b""  # "with an empty body"


async def test_bad_bearer_token_does_not_fall_back_to_a_valid_ticket(stack: Stack) -> None:
    ticket = new_ticket(stack, stack.new_user())["ticket"]
    status = await handshake_status(stack.ws_url(0), ticket=ticket,
                                    token="cq_" + secrets.token_urlsafe(32))
    assert status == 403


async def test_no_credentials_is_refused_with_403(stack: Stack) -> None:
    assert await handshake_status(stack.ws_url(0)) == 403


async def test_authorization_scheme_other_than_bearer_is_refused(stack: Stack) -> None:
    token = stack.token(stack.new_user())
    status = await handshake_status(stack.ws_url(0), headers={"Authorization": f"Basic {token}"})
    assert status == 403


async def test_token_revoked_by_deactivation_is_refused(stack: Stack) -> None:
    username = stack.new_user()
    token = stack.token(username)
    assert await handshake_status(stack.ws_url(0), token=token) == 101
    stack.manage("deactivate_employee", username)
    assert await handshake_status(stack.ws_url(0), token=token) == 403


# --- one-time tickets -----------------------------------------------------------


def test_ticket_is_issued_for_a_bearer_token(stack: Stack) -> None:
    body = new_ticket(stack, stack.new_user())
    assert set(body) == {"ticket", "expires_in"}
    assert isinstance(body["ticket"], str) and len(body["ticket"]) >= 32
    assert body["expires_in"] == 30


TICKET_UNAUTHORIZED = {"error": "unauthorized",
                       "message": "log in or send Authorization: Bearer <token>"}


def test_ticket_without_credentials_is_401(stack: Stack) -> None:
    assert stack.post("/api/auth/ticket") == (401, TICKET_UNAUTHORIZED)


def test_ticket_with_a_bad_bearer_token_is_401(stack: Stack) -> None:
    status, body = stack.post("/api/auth/ticket",
                              headers=bearer("cq_" + secrets.token_urlsafe(32)))
    assert (status, body) == (401, TICKET_UNAUTHORIZED)


async def test_ticket_opens_one_socket_and_only_one(stack: Stack) -> None:
    username = stack.new_user()
    ticket = new_ticket(stack, username)["ticket"]
    client = await open_as(stack.ws_url(0), ticket=ticket)
    assert client.hello is not None
    assert client.hello["user"]["username"] == username
    # The second use, on any server process, is refused.
    assert await handshake_status(stack.ws_url(1), ticket=ticket) == 403
    assert (await client.request("ping"))["op"] == "ok"
    await client.close()


async def test_ticket_is_spent_by_a_handshake_that_fails(stack: Stack) -> None:
    # docs/protocol.md: a ticket works for exactly one handshake, whether that
    # handshake succeeds or not. Offering only an unknown subprotocol fails it.
    username = stack.new_user()
    ticket = new_ticket(stack, username)["ticket"]
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{stack.ws_url(0)}?ticket={ticket}", subprotocols=["colloquy.v0.xml"])
    assert refused.value.response.status_code == 403
    assert await handshake_status(stack.ws_url(0), ticket=ticket) == 403


async def test_expired_ticket_is_refused(stack: Stack) -> None:
    username = stack.new_user()
    with extra_server(stack, {"COLLOQUY_TICKET_TTL_SECONDS": "1"}) as short:
        fresh = new_ticket(stack, username, index=short)
        stale = new_ticket(stack, username, index=short)
        assert fresh["expires_in"] == stale["expires_in"] == 1
        # Control: a short-lived ticket used at once works.
        assert await handshake_status(stack.ws_url(0), ticket=fresh["ticket"]) == 101
        await asyncio.sleep(1.5)
        assert await handshake_status(stack.ws_url(0), ticket=stale["ticket"]) == 403


# --- session cookie + Origin ----------------------------------------------------


async def test_session_cookie_with_allowed_origin_is_accepted(stack: Stack) -> None:
    username, password = make_staff(stack)
    session, _ = session_login(stack, username, password)
    client = await open_as(stack.ws_url(0), headers={"Cookie": f"sessionid={session}",
                                                     "Origin": ALLOWED_ORIGIN})
    assert client.hello is not None
    assert client.hello["user"]["username"] == username
    assert (await client.request("ping"))["op"] == "ok"
    await client.close()


async def test_session_cookie_with_foreign_origin_is_refused(stack: Stack) -> None:
    username, password = make_staff(stack)
    session, _ = session_login(stack, username, password)
    status = await handshake_status(stack.ws_url(0), headers={
        "Cookie": f"sessionid={session}", "Origin": "http://evil.example"})
    assert status == 403


async def test_session_cookie_without_origin_is_refused(stack: Stack) -> None:
    username, password = make_staff(stack)
    session, _ = session_login(stack, username, password)
    status = await handshake_status(stack.ws_url(0), headers={"Cookie": f"sessionid={session}"})
    assert status == 403


def test_ticket_for_a_session_needs_the_csrf_token(stack: Stack) -> None:
    username, password = make_staff(stack)
    session, _ = session_login(stack, username, password)
    status, body = stack.post("/api/auth/ticket", headers={"Cookie": f"sessionid={session}"})
    assert (status, body) == (403, {"error": "forbidden", "message": "CSRF check failed"})


def test_ticket_for_a_session_with_the_csrf_token_is_issued(stack: Stack) -> None:
    username, password = make_staff(stack)
    session, csrf = session_login(stack, username, password)
    status, body = stack.post("/api/auth/ticket", headers={
        "Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf})
    assert status == 200, body
    assert set(body) == {"ticket", "expires_in"} and body["expires_in"] == 30


async def test_allowed_origin_without_a_session_is_refused(stack: Stack) -> None:
    status = await handshake_status(stack.ws_url(0), headers={
        "Cookie": f"sessionid={secrets.token_hex(16)}", "Origin": ALLOWED_ORIGIN})
    assert status == 403


# --- secrets at rest and in logs ------------------------------------------------


def test_tokens_are_stored_as_digests(stack: Stack) -> None:
    username = stack.new_user()
    status, body = stack.post("/api/auth/token", {"username": username, "password": PASSWORD})
    assert status == 200
    token = body["token"]
    rows = stack.sql("SELECT t.digest FROM core_apitoken t JOIN core_employee e"
                     " ON e.id = t.user_id WHERE e.username = ?", username)
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(),)]
    issued = {token, *stack.tokens.values()}
    for (digest,) in stack.sql("SELECT digest FROM core_apitoken"):
        assert digest not in issued
        assert not any(t in digest for t in issued)


async def test_no_token_ticket_session_or_password_in_server_logs(stack: Stack) -> None:
    username = stack.new_user()
    wrong = f"wrong-{secrets.token_hex(8)}"
    stack.post("/api/auth/token", {"username": username, "password": wrong})
    status, body = stack.post("/api/auth/token", {"username": username, "password": PASSWORD})
    assert status == 200
    token = body["token"]
    client = await open_as(stack.ws_url(0), token=token)
    await client.close()
    bad_token = "cq_" + secrets.token_urlsafe(32)
    assert await handshake_status(stack.ws_url(0), token=bad_token) == 403
    ticket = new_ticket(stack, username)["ticket"]
    assert await handshake_status(stack.ws_url(0), ticket=ticket) == 101
    assert await handshake_status(stack.ws_url(0), ticket=ticket) == 403
    staff, staff_password = make_staff(stack)
    session, _ = session_login(stack, staff, staff_password)
    assert await handshake_status(stack.ws_url(0), headers={
        "Cookie": f"sessionid={session}", "Origin": ALLOWED_ORIGIN}) == 101
    await asyncio.sleep(0.3)  # let the servers write their last lines
    logs = stack.log_text()
    assert "opened by user" in logs  # the logs are there, and they are the servers'
    secrets_used = {"password": PASSWORD, "wrong password": wrong, "staff password":
                    staff_password, "token": token, "bad token": bad_token, "ticket": ticket,
                    "session": session}
    secrets_used.update({f"token of {u}": t for u, t in stack.tokens.items()})
    leaked = sorted(name for name, value in secrets_used.items() if value in logs)
    assert leaked == []
