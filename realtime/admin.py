from django.contrib import admin

from realtime.models import StreamEvent


@admin.register(StreamEvent)
class StreamEventAdmin(admin.ModelAdmin):
    list_display = ("stream", "seq", "type", "persisted_at")
    list_filter = ("type",)
