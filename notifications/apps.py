from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from notifications import events, restate  # noqa: F401  (they register)
        from realtime.access import USER_RESTATERS

        if restate.restate not in USER_RESTATERS:
            USER_RESTATERS.append(restate.restate)
