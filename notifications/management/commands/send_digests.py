"""`manage.py send_digests`: send the offline digest e-mails that are due, once (cron)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifications.digest import send_digests


class Command(BaseCommand):
    help = ("Send the digest e-mails that are due, once: for cron (services profile). "
            "Every persister also sends them every COLLOQUY_DIGEST_INTERVAL_SECONDS.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PROFILE != "services":
            # Embedded presence lives in the server's memory: this process would
            # take everyone for offline.
            raise CommandError(
                "the embedded profile sends digests from the server's persister thread,"
                " the one process that knows who is connected (COLLOQUY_DIGEST_INTERVAL_SECONDS)")
        self.stdout.write(f"digests: {send_digests()}")
