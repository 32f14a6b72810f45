from django.apps import AppConfig


class BoardsConfig(AppConfig):
    """A test-only app: the worked example of a stream kind added by one app alone."""

    name = "tests.boards"
    label = "boards"

    def ready(self) -> None:
        from realtime.persister import register_table
        from tests.boards import access, events, ops, writer  # noqa: F401  (they register)

        register_table(writer.TABLE)
