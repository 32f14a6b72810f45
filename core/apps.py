from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from core import signals  # noqa: F401  (connects the standing receivers)
