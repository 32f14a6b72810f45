"""The admin of rooms: a view of the data, and deletions through rooms.actions.

Deleting a room or a membership here is the same action an administrator's op
would run, so every live socket of the people concerned, on every process,
stops reading at once. What has no action yet (renaming, adding members,
editing messages) is read-only here: a write that skipped the actions would
leave live clients wrong and could wedge the persister.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from realtime.access import reader_for
from rooms import acks, actions
from rooms.models import Ack, Announcement, Membership, Message, Room


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _after_commit(action: Callable[..., Awaitable[Any]], request: HttpRequest,
                  **fields: Any) -> None:
    """Run `action` as the logged-in administrator once the admin's own transaction
    (it wraps every delete view, and writes its log entry first) has committed: the
    action writes from another thread, and SQLite lets one writer in at a time."""
    actor = reader_for(request.user, staff=True)
    transaction.on_commit(lambda: async_to_sync(action)(actor, **fields))


def _remove(request: HttpRequest, memberships: list[Membership]) -> None:
    for m in memberships:
        _after_commit(actions.remove_member, request, room_id=m.room_id, user_id=m.user_id)


class MembershipInline(_ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 0


@admin.register(Room)
class RoomAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "name", "kind", "created_at", "deleted_at")
    inlines = (MembershipInline,)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        # delete_room takes every member out and keeps the row and its messages, so
        # the confirmation lists the rooms alone (and needs no right to delete messages).
        rooms = list(objs)
        return [str(r) for r in rooms], {Room._meta.verbose_name_plural: len(rooms)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Room) -> None:
        _after_commit(actions.delete_room, request, room_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            self.delete_model(request, room)


@admin.register(Membership)
class MembershipAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("room", "user", "joined_at", "read_seq")

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        _remove(request, [obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        _remove(request, list(queryset))


@admin.register(Message)
class MessageAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "room", "author", "seq", "created_at")
    list_filter = ("room",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # no action deletes a message yet


class AckInline(_ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    model = Ack
    extra = 0
    fields = ("user", "version", "at")
    ordering = ("version", "at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the company's record: never withdrawn


@admin.register(Announcement)
class AnnouncementAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Who acknowledged which version, and when: the same data as the CSV export."""

    list_display = ("message_id", "room", "author", "created_at", "acknowledged")
    list_filter = ("room",)
    inlines = (AckInline,)

    @admin.display(description="acknowledged (current version)")
    def acknowledged(self, obj: Announcement) -> str:
        counted = acks.tally_of(obj.message_id)
        return f"{counted.acked} of {counted.total} (version {counted.version})"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Ack)
class AckAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("announcement", "user", "version", "at")
    list_filter = ("announcement__room",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
