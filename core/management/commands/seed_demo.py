"""A demo organisation: a few employees in a few rooms, with printed log-ins."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from core import actions
from core.models import Employee, Role
from rooms.models import Membership, Room

PEOPLE = [
    # username, name, title, department, role
    ("ada", "Ada Lovelace", "Chief Executive Officer", "Leadership", Role.EXECUTIVE),
    ("grace", "Grace Hopper", "VP Engineering", "Engineering", Role.EXECUTIVE),
    ("alan", "Alan Turing", "Staff Engineer", "Engineering", Role.EMPLOYEE),
    ("katherine", "Katherine Johnson", "Data Scientist", "Analytics", Role.EMPLOYEE),
    ("linus", "Linus Pauling", "Community Moderator", "People", Role.MODERATOR),
    ("margaret", "Margaret Hamilton", "IT Administrator", "IT", Role.ADMIN),
    ("guest", "Visiting Auditor", "External auditor", "External", Role.GUEST),
]
ROOMS = [
    ("Company announcements", ["ada", "grace", "alan", "katherine", "linus", "margaret"]),
    ("Engineering", ["grace", "alan", "margaret"]),
    ("Audit 2026", ["katherine", "margaret", "guest"]),
]
PASSWORD = "colloquy-demo"


class Command(BaseCommand):
    help = "Create the demo organisation (idempotent) and print its log-ins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", default=PASSWORD)

    @transaction.atomic
    def handle(self, *args: Any, **o: Any) -> None:
        users = {}
        for username, name, title, dept, role in PEOPLE:
            user = Employee.objects.filter(username=username).first()
            if user is None:
                user = actions.create_employee(username, o["password"], role=role, name=name,
                                               title=title, department=dept)
            users[username] = user
        for name, members in ROOMS:
            room, _ = Room.objects.get_or_create(name=name, kind=Room.Kind.GROUP)
            for username in members:
                Membership.objects.get_or_create(room=room, user=users[username])
        self.stdout.write("Demo organisation ready. Log in at http://127.0.0.1:8000/ with:")
        for username, name, _title, _, role in PEOPLE:
            self.stdout.write(f"  {username:<10} password {o['password']:<14} {role:<9} {name}")
