"""Account changes announced to every server process (deactivation, revocation).

Synchronous on purpose: it is called from management commands, the admin and
signal handlers. Services: a Redis PUBLISH on P:ctl. Embedded: a row in the
journal file's `control` table, which the server polls (realtime.bus.LocalBus).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings


def channel() -> str:
    return f"{settings.REDIS_PREFIX}:ctl"


def journal_path() -> Any:
    return settings.DATA_DIR / "journal.sqlite3"


def announce(message: dict[str, Any]) -> None:
    payload = json.dumps(message)
    if settings.PROFILE == "services":
        import redis

        with redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5) as client:
            client.publish(channel(), payload)
    else:
        from realtime.journal_local import connect

        db = connect(journal_path())
        try:
            db.execute(
                "INSERT INTO control(payload, created) VALUES (?, ?)", (payload, time.time())
            )
        finally:
            db.close()
