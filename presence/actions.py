"""Presence and typing state changes: check → do → notify."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from presence.events import TYPING
from realtime import runtime
from realtime.db import run_db
from realtime.events import send_event
from realtime.protocol import ErrorCode, ProtocolError, bad_request
from rooms.actions import Actor, require_member


def _visible_db(viewer: int, users: list[int]) -> set[int]:
    from rooms.models import Membership

    mine = Membership.objects.filter(user_id=viewer).values("room_id")
    return set(
        Membership.objects.filter(room_id__in=mine, user_id__in=users)
        .values_list("user_id", flat=True)
    ) | ({viewer} & set(users))


async def _check_visible(actor: Actor, users: list[int]) -> None:
    """Employees see the whole directory; guests only people they share a room with."""
    if len(users) > settings.PRESENCE_MAX_USERS:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"at most {settings.PRESENCE_MAX_USERS} users per call")
    if actor.principal.role != "guest":
        return
    hidden = sorted(set(users) - await run_db(_visible_db, actor.principal.id, users))
    if hidden:
        raise ProtocolError(ErrorCode.FORBIDDEN,
                            f"guests only see people they share a room with; not {hidden}")


async def set_status(actor: Any, status: str) -> dict[str, Any]:
    if status not in ("online", "away"):
        raise bad_request(f"field 'status' must be 'online' or 'away', got {status!r:.40}")
    actor.presence = status
    actor.away_by_choice = status == "away"
    await (await runtime.get()).presence.status_changed(actor)
    return {"status": status}


async def query(actor: Actor, users: list[int]) -> dict[str, Any]:
    await _check_visible(actor, users)
    found = await (await runtime.get()).presence.read(users)
    return {"users": [found[u] for u in users]}


async def subscribe(actor: Any, users: list[int]) -> dict[str, Any]:
    """Watch these users' presence (replacing the previous list); returns their state now."""
    await _check_visible(actor, users)
    rt = await runtime.get()
    rt.hub.watch(actor, set(users))
    found = await rt.presence.read(users)
    return {"users": [found[u] for u in users]}


async def revisit_watch(actor: Any, watched: set[int]) -> None:
    """Watch again those of `watched` a guest still shares a room with."""
    if watched:
        visible = await run_db(_visible_db, actor.principal.id, sorted(watched))
        rt = await runtime.get()
        rt.hub.watch(actor, set(rt.hub.watching.get(actor, set())) | (watched & visible))


async def typing(actor: Actor, room_id: int, thread: str, active: bool) -> dict[str, Any]:
    """Relay "typing" to the room's other members, at most once per window per sender."""
    require_member(actor, room_id)
    rt = await runtime.get()
    me = actor.principal.id
    window_ms = int(settings.TYPING_RELAY_SECONDS * 1000)
    if active:
        relayed = await rt.typing.open(me, room_id, thread, window_ms)
    else:
        await rt.typing.reset(me, room_id, thread)
        relayed = True
    if relayed:
        await send_event(f"room:{room_id}", TYPING, {
            "room": room_id, "thread": thread or None, "user": actor.principal.public(),
            "active": active, "expires_in_ms": int(settings.TYPING_EXPIRES_SECONDS * 1000),
        })
    return {"relayed": relayed}


async def message_sent(actor: Actor, room_id: int) -> None:
    """A sent message ends the sender's typing: the next keystroke relays at once."""
    await (await runtime.get()).typing.reset(actor.principal.id, room_id)
