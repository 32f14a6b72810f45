"""A demo organisation: a few employees in a few rooms, with printed log-ins.

Rooms and members are made by the rooms actions, as an administrator's ops would
make them, so their journal streams start at room.created like any other room's.
"""

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from core import actions
from core.models import Employee, Role
from realtime import runtime
from realtime.access import reader_for
from rooms import actions as rooms
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
SEEDER = "margaret"  # the IT administrator, a member of every demo room, creates them


def _seed_rooms(users: dict[str, Employee]) -> None:
    """Create the missing rooms and add the missing members (idempotent)."""
    plans = []
    for name, members in ROOMS:
        room = Room.objects.filter(name=name, kind=Room.Kind.GROUP,
                                   deleted_at__isnull=True).first()
        present = set() if room is None else set(
            Membership.objects.filter(room=room).values_list("user__username", flat=True))
        plans.append((name, room, [u for u in members if u not in present and u != SEEDER]))
    seeder = reader_for(users[SEEDER], staff=True)

    async def run() -> None:
        runtime.use_journal_only()
        for name, room, missing in plans:
            if room is None:
                await rooms.create_room(seeder, name=name, kind=Room.Kind.GROUP,
                                        usernames=missing)
            elif missing:
                await rooms.invite(seeder, room_id=room.pk, usernames=missing)

    async_to_sync(run)()


class Command(BaseCommand):
    help = "Create the demo organisation (idempotent) and print its log-ins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--password", default=PASSWORD)

    def handle(self, *args: Any, **o: Any) -> None:
        users = {}
        for username, name, title, dept, role in PEOPLE:
            user = Employee.objects.filter(username=username).first()
            if user is None:
                user = actions.create_employee(username, o["password"], role=role, name=name,
                                               title=title, department=dept)
            users[username] = user
        _seed_rooms(users)
        self.stdout.write("Demo organisation ready. Log in at http://127.0.0.1:8000/ with:")
        for username, name, _title, _, role in PEOPLE:
            self.stdout.write(f"  {username:<10} password {o['password']:<14} {role:<9} {name}")
