from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import actions
from core.models import Employee


class Command(BaseCommand):
    help = "Deactivate an employee: tokens revoked, live sockets closed on every process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **o: Any) -> None:
        user = Employee.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f"no employee named {o['username']!r}")
        actions.deactivate_employee(user)
        self.stdout.write(f"deactivated {user.username}")
