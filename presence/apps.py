from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"

    def ready(self) -> None:
        from presence import events  # noqa: F401  (it registers its event types)
