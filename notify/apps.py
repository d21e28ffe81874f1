from django.apps import AppConfig


class NotifyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notify"

    def ready(self) -> None:
        from notify import receivers  # noqa: F401 - connects the receivers
