"""Getting a token, and the addresses of a server.

A server is named by its base URL (`https://colloquy.example.com`); its socket is
`/ws/` under it and its token API `/api/auth/token` (docs/protocol.md,
"Authentication"). The standard library's HTTP client is enough for one POST.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit


class LoginFailed(Exception):
    """The server refused the username and password (or could not be reached)."""


def base_url(url: str) -> str:
    """`ws://h:p/ws/`, `http://h:p/` or `h:p` → `http://h:p` (https for wss)."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if path.endswith("/ws"):
        path = path[:-3]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def socket_url(url: str) -> str:
    """The WebSocket address of the server at `url`."""
    parts = urlsplit(base_url(url))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws/", "", ""))


def _post_token(url: str, username: str, password: str, label: str, timeout: float) -> str:
    body = json.dumps({"username": username, "password": password, "label": label}).encode()
    request = urllib.request.Request(
        base_url(url) + "/api/auth/token", data=body, method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return str(json.loads(reply.read())["token"])
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read()).get("message", err.reason)
        except ValueError:
            message = err.reason
        raise LoginFailed(f"{err.code}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        raise LoginFailed(f"cannot reach {base_url(url)}: {err}") from None


async def fetch_token(url: str, username: str, password: str, *, label: str = "colloquy",
                      timeout: float = 15.0) -> str:
    """A new revocable bearer token for the employee (POST /api/auth/token)."""
    return await asyncio.to_thread(_post_token, url, username, password, label, timeout)
