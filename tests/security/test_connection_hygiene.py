"""Connections that never finish their request are dropped; real ones still get in.

Under uvicorn and daphne alike: a connection has HANDSHAKE_TIMEOUT_SECONDS to
send its request line and headers, so silent and slowloris connections cannot
pile up until the server runs out of file descriptors.
"""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.stack import Stack, extra_server

pytestmark = pytest.mark.also_daphne

QUICK = 2.0  # the handshake timeout of the `quick` server, in seconds


@pytest.fixture
def quick(stack: Stack) -> Iterator[int]:
    with extra_server(stack, {"COLLOQUY_HANDSHAKE_TIMEOUT_SECONDS": str(QUICK)}) as index:
        yield index


def _address(stack: Stack, index: int) -> tuple[str, int]:
    url = urlsplit(stack.http(index))
    return url.hostname or "127.0.0.1", url.port or 80


def _seconds_until_dropped(sock: socket.socket, started: float,
                           dribble: bytes | None = None) -> float:
    """Seconds from `started` until the server closes `sock` (at most 20), sending
    `dribble` every half second meanwhile if given."""
    sock.settimeout(0.5)
    while time.monotonic() - started < 20:
        try:
            if dribble is not None:
                sock.sendall(dribble)
            if sock.recv(100) == b"":
                break
        except TimeoutError:
            continue
        except OSError:  # reset: daphne aborts the connection
            break
    return time.monotonic() - started


def test_a_silent_connection_is_dropped_after_the_timeout(stack: Stack, quick: int) -> None:
    started = time.monotonic()
    with socket.create_connection(_address(stack, quick)) as sock:
        waited = _seconds_until_dropped(sock, started)
    assert QUICK - 0.5 <= waited < 15, waited


def test_a_connection_dribbling_its_headers_is_dropped(stack: Stack, quick: int) -> None:
    started = time.monotonic()
    with socket.create_connection(_address(stack, quick)) as sock:
        sock.sendall(b"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        waited = _seconds_until_dropped(sock, started, dribble=b"X-Slow: 1\r\n")
    assert QUICK - 0.5 <= waited < 15, waited


async def test_an_open_socket_outlives_the_handshake_timeout(stack: Stack, quick: int) -> None:
    client = await stack.client(stack.new_user(), server=quick)
    await asyncio.sleep(QUICK * 2)  # the condition is the time passing
    assert (await client.request("ping"))["op"] == "ok"
    await client.close()


def _healthz(stack: Stack) -> int:
    with urllib.request.urlopen(stack.http(0) + "/healthz", timeout=10) as r:
        return int(r.status)


async def test_an_employee_connects_while_a_thousand_connections_are_pending(
        stack: Stack) -> None:
    host, port = _address(stack, 0)
    pending = [await asyncio.open_connection(host, port) for _ in range(1000)]
    try:
        client = await stack.client(stack.new_user())
        assert (await client.request("ping"))["op"] == "ok"
        assert await asyncio.to_thread(_healthz, stack) == 200
        await client.close()
    finally:
        for _, writer in pending:
            writer.close()
