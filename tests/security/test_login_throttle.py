"""Password guessing is throttled before any hashing; malformed log-ins are 400.

Each throttle test runs on a server of its own with small limits (and, in the
services profile, a Redis prefix of its own), so counters from other tests never
reach it and its counters reach no other test.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.stack import PASSWORD, AdminBrowser, Stack, extra_server, until

BAD_REQUEST = {"error": "bad_request",
               "message": 'expected JSON {"username": "...", "password": "..."}'}
UNAUTHORIZED = {"error": "unauthorized", "message": "unknown username or wrong password"}


@pytest.mark.parametrize("body", [
    b"[" * 100_000,  # nested past the JSON parser's recursion limit
    b'{"username": "a\\u0000b", "password": "x"}',  # NUL: Postgres text cannot hold it
    b'{"username": "' + b"a" * 151 + b'", "password": "x"}',
    b'{"username": "ana", "password": "' + b"p" * 1025 + b'"}',
    b'{"username": {}, "password": "x"}',
    b'{"username": "", "password": "x"}',
    b'"just a string"', b"42", b"null", b"[1, 2]", b"\xff\xfe{", b"{",
], ids=["deep", "nul", "long-name", "long-password", "object-name", "empty-name",
        "string", "number", "null", "list", "bad-utf8", "truncated"])
def test_malformed_token_request_is_400(stack: Stack, body: bytes) -> None:
    status, _, answer = stack.post_raw("/api/auth/token", body)
    assert (status, answer) == (400, BAD_REQUEST)


def _throttle_env(stack: Stack, **limits: str) -> dict[str, str]:
    env = {f"COLLOQUY_{k.upper()}": v for k, v in limits.items()}
    if stack.profile == "services":
        env["COLLOQUY_REDIS_PREFIX"] = f"cqthrottle{uuid.uuid4().hex[:8]}"
    return env


@pytest.fixture
def strict(stack: Stack) -> Iterator[int]:
    """A server where two failures per username are free, then 2 s, 4 s, …"""
    with extra_server(stack, _throttle_env(
            stack, login_free_failures="2", login_backoff_base_seconds="2")) as index:
        yield index


def _log_in(stack: Stack, index: int, username: str, password: str
            ) -> tuple[int, dict[str, str], object]:
    return stack.post_raw("/api/auth/token",
                          json.dumps({"username": username, "password": password}).encode(),
                          index=index)


def test_failures_past_the_free_ones_refuse_even_the_right_password_with_429(
        stack: Stack, strict: int) -> None:
    user = stack.new_user()
    for _ in range(3):  # two free failures, and the third locks for 2 s
        assert _log_in(stack, strict, user, "wrong")[::2] == (401, UNAUTHORIZED)
    status, headers, answer = _log_in(stack, strict, user, PASSWORD)
    assert status == 429
    assert headers["retry-after"] in ("1", "2")
    assert answer == {"error": "rate_limited",
                      "message": f"too many failed log-ins; try again in "
                                 f"{headers['retry-after']} s"}


async def test_the_right_password_works_once_the_lock_has_passed(
        stack: Stack, strict: int) -> None:
    user = stack.new_user()
    for _ in range(3):
        _log_in(stack, strict, user, "wrong")
    await until(lambda: _log_in(stack, strict, user, PASSWORD)[0] == 200,
                "a log-in after the 2 s lock", timeout=15)


def test_another_employees_log_in_is_not_throttled_by_a_guessed_username(
        stack: Stack, strict: int) -> None:
    guessed, other = stack.new_user(), stack.new_user()
    for _ in range(4):
        _log_in(stack, strict, guessed, "wrong")
    assert _log_in(stack, strict, other, PASSWORD)[0] == 200


def test_one_address_guessing_many_usernames_is_throttled(stack: Stack) -> None:
    env = _throttle_env(stack, login_ip_free_failures="3", login_backoff_base_seconds="30")
    with extra_server(stack, env) as index:
        for n in range(4):  # a different username each time: only the address repeats
            assert _log_in(stack, index, f"nobody-{n}", "wrong")[0] == 401
        status, headers, _ = _log_in(stack, index, stack.new_user(), PASSWORD)
    assert (status, headers["retry-after"]) in ((429, "30"), (429, "29"))


def test_the_sign_in_form_is_throttled_too(stack: Stack, strict: int) -> None:
    user = stack.new_user()
    browser = AdminBrowser(stack, user, PASSWORD, index=strict)
    for _ in range(3):
        page = browser.submit("/login/", {"username": user, "password": "wrong"})
        assert "Wrong username or password." in page
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.submit("/login/", {"username": user, "password": PASSWORD})
    assert refused.value.code == 429
    assert refused.value.headers["retry-after"] in ("1", "2")
    assert "Too many failed sign-ins. Try again in" in refused.value.read().decode()
