from django.apps import AppConfig


class BoardsConfig(AppConfig):
    """A test-only app: the worked example of a stream kind added by one app alone."""

    name = "tests.boards"
    label = "boards"

    def ready(self) -> None:
        from tests.boards import access, events, ops  # noqa: F401  (they register)
