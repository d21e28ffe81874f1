from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        from integrations import (
            receivers,  # noqa: F401 - connects the receivers
            signals,  # noqa: F401 - bot deactivation revokes
        )
