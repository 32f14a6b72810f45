"""Where `colloquy login` keeps the token: the OS keyring, else a private file.

The keyring (macOS Keychain, Windows Credential Locker, Secret Service on Linux)
holds the token under the service "colloquy" and the server's base URL. Where no
keyring exists (a headless server, a container) the token goes to
`credentials.json` in the user's config directory, created 0600 so no other
account on the machine can read it. Which server was used last, and as whom, is
kept in `config.json` beside it (no secret there).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import keyring
import keyring.errors
from keyring.backends import fail

SERVICE = "colloquy"


def config_dir() -> Path:
    """COLLOQUY_CONFIG_DIR, else $XDG_CONFIG_HOME/colloquy, else ~/.config/colloquy
    (on Windows, %APPDATA%\\colloquy)."""
    if os.environ.get("COLLOQUY_CONFIG_DIR"):
        return Path(os.environ["COLLOQUY_CONFIG_DIR"])
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "colloquy"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "colloquy"


def _has_keyring() -> bool:
    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and backend.priority > 0


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Opened 0600 from the first byte: never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.chmod(path, 0o600)  # an older file made with other modes


def save(server: str, username: str, token: str) -> str:
    """Keep the token for `server`; returns where it went ("keyring" or the file)."""
    where = ""
    if _has_keyring():
        try:
            keyring.set_password(SERVICE, server, token)
            where = "keyring"
        except keyring.errors.KeyringError:
            where = ""
    if not where:
        path = config_dir() / "credentials.json"
        tokens = _read(path)
        tokens[server] = token
        _write_private(path, tokens)
        where = str(path)
    settings = _read(config_dir() / "config.json")
    settings.update(server=server, username=username)
    _write_private(config_dir() / "config.json", settings)
    return where


def load(server: str | None = None) -> tuple[str, str] | None:
    """(server, token) for `server`, or for the last one logged in to; None if none."""
    server = server or _read(config_dir() / "config.json").get("server")
    if not server:
        return None
    token = None
    if _has_keyring():
        with contextlib.suppress(keyring.errors.KeyringError):
            token = keyring.get_password(SERVICE, server)
    token = token or _read(config_dir() / "credentials.json").get(server)
    return (server, token) if token else None
