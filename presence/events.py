"""Presence and typing events: ephemeral, never journaled (docs/protocol.md, "Presence")."""

from __future__ import annotations

from realtime.schema import USER, Maybe, define_ephemeral

TYPING = define_ephemeral("typing", {
    "room": int, "thread": Maybe(str), "user": USER, "active": bool, "expires_in_ms": int,
}, kinds=("room",))
PRESENCE = define_ephemeral(
    "presence", {"user": int, "status": str, "last_seen": Maybe(int)}, kinds=("presence",))
