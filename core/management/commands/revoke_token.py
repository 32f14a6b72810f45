from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import actions
from core.models import ApiToken


class Command(BaseCommand):
    help = "Revoke an API token by its prefix (as shown in the admin); its sockets close."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, **o: Any) -> None:
        tokens = list(ApiToken.objects.filter(prefix=o["prefix"], revoked_at__isnull=True))
        if len(tokens) != 1:
            raise CommandError(f"{len(tokens)} live tokens have prefix {o['prefix']!r}; need 1")
        actions.revoke_token(tokens[0])
        self.stdout.write(f"revoked {tokens[0]}")
