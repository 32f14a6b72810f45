from django.apps import AppConfig


class RoundTablesConfig(AppConfig):
    """Round-table Q&A with leadership: its stream kinds, events and ops."""

    name = "roundtables"

    def ready(self) -> None:
        from roundtables import access, events, ops  # noqa: F401  (they register)
