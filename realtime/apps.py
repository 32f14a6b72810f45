from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Real-time journal"

    def ready(self) -> None:
        from realtime import persister, writer

        # First: every stream event is stored before any app's rows of it.
        persister.register_table(writer.TABLE)
