from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        from chat import signals  # noqa: F401 - signals connects the receivers
        from chat.ops import observability

        # Here, not at import: every process that serves or records metrics (daphne,
        # a WSGI server, the job worker, manage.py, the tests) sets Django up first, so
        # the metrics exist before any hook runs, and made once per process.
        observability.setup()
