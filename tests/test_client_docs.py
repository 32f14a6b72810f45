"""docs/client.md's bot, run as written against a real server."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.stack import ROOT, Stack


def _bot_source() -> str:
    text = (ROOT / "docs" / "client.md").read_text()
    section = text.split("## A bot in ten lines", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_bot_is_ten_lines() -> None:
    assert len([line for line in _bot_source().splitlines() if line.strip()]) <= 10


async def test_the_documented_bot_answers_ping(stack: Stack, tmp_path: Path) -> None:
    bot_name, ada = stack.new_user(), stack.new_user()
    script = tmp_path / "bot.py"
    script.write_text(_bot_source())
    env = {**os.environ, "COLLOQUY_WS": stack.ws_url(), "COLLOQUY_TOKEN": stack.token(bot_name),
           "PYTHONPATH": str(ROOT)}
    client = await stack.client(ada)
    room = await client.create_room("Bot test", [bot_name])
    bot = await asyncio.create_subprocess_exec(sys.executable, str(script), env=env)
    try:
        [bot_id] = [m["id"] for m in await client.members(room["id"])
                    if m["username"] == bot_name]

        async def online() -> bool:
            [p] = await client.query_presence([bot_id])
            return p["status"] == "online"

        # Online once its socket is open; a ping sent before its first request is held
        # for it by the server, not lost.
        for _ in range(200):
            if await online():
                break
            await asyncio.sleep(0.1)
        await client.send(room["id"], "ping")
        events = await client.events_of("message.created", 2, timeout=30)
        assert [(e["data"]["author"]["username"], e["data"]["body"]) for e in events] == [
            (ada, "ping"), (bot_name, "pong")]
    finally:
        bot.terminate()
        await asyncio.wait_for(bot.wait(), 10)
        await client.close()
