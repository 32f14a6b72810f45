from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import actions
from core.models import Employee, Role


class Command(BaseCommand):
    help = "Create an employee who can log in."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", default=Role.EMPLOYEE, choices=Role.values)
        parser.add_argument("--name", default="")
        parser.add_argument("--title", default="")
        parser.add_argument("--department", default="")
        parser.add_argument("--token", action="store_true", help="also print an API token")

    def handle(self, *args: Any, **o: Any) -> None:
        if Employee.objects.filter(username=o["username"]).exists():
            raise CommandError(f"an employee named {o['username']!r} already exists")
        user = actions.create_employee(
            o["username"], o["password"], role=o["role"], name=o["name"], title=o["title"],
            department=o["department"],
        )
        self.stdout.write(f"created {user.username} ({user.role}), id {user.pk}")
        if o["token"]:
            self.stdout.write(f"token: {actions.issue_token(user, 'create_employee')}")
