"""`manage.py persister`: move the Redis journal into Postgres (services profile)."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime.persister import RedisPersister


class Command(BaseCommand):
    help = "Persist journal entries from Redis into the database (run any number)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", help="consumer name in the group (default host-pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PROFILE != "services":
            raise CommandError(
                "the embedded profile persists inside the server; set DATABASE_URL and REDIS_URL"
            )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        RedisPersister(options.get("name")).run(stop)
