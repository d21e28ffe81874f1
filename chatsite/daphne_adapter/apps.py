"""Django app of the daphne adapter: only so that its system check is registered
(chat.W101-W110 under `manage.py check --deploy`). It has no models and patches nothing."""

from django.apps import AppConfig


class DaphneAdapterConfig(AppConfig):
    name = "chatsite.daphne_adapter"
    label = "daphne_adapter"

    def ready(self) -> None:
        from chatsite.daphne_adapter import checks  # noqa: F401 - registers the check
