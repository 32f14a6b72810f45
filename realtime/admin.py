from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from realtime.models import DeadLetter, StreamEvent


@admin.register(StreamEvent)
class StreamEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("stream", "seq", "type", "persisted_at")
    list_filter = ("type",)


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """What the persister could not write, and why: for an operator to look into."""

    list_display = ("stream", "seq", "table", "type", "reason", "failed_at")
    list_filter = ("table", "type")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
