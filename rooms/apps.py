from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"

    def ready(self) -> None:
        from realtime.persister import register_table
        from rooms import access, events, signals, writer  # noqa: F401  (they register)

        register_table(writer.TABLE)
        register_table(writer.MENTIONS)
