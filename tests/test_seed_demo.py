"""seed_demo makes its rooms through the rooms actions, like any administrator."""

from __future__ import annotations

from tests.stack import PASSWORD, Stack


async def test_seeded_rooms_begin_with_room_created_and_seeding_again_adds_nothing(
        stack: Stack) -> None:
    stack.manage("seed_demo", "--password", PASSWORD)
    # Again: idempotent, the rooms and their members exist already.
    stack.manage("seed_demo", "--password", PASSWORD)
    alan = await stack.client("alan")
    rooms = {r["name"]: r["id"] for r in (await alan.request("rooms.list"))["rooms"]}
    assert sorted(rooms) == ["Company announcements", "Engineering"]
    history = await alan.request("history", stream=f"room:{rooms['Engineering']}", after=0)
    assert [(e["seq"], e["type"]) for e in history["events"]] == [(1, "room.created")]
    created = history["events"][0]["data"]
    assert created["by"]["username"] == "margaret"
    assert sorted(m["username"] for m in created["room"]["members"]) == [
        "alan", "grace", "margaret"]
    await alan.close()
