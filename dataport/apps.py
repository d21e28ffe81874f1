from django.apps import AppConfig


class DataportConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dataport"
    verbose_name = "Data import, export and retention"

    def ready(self) -> None:
        # The job runner's keeper (notify/runner.py) keeps the daily retention run
        # queued; notify may not import dataport, so dataport hands it the hook.
        from dataport import retention_jobs
        from notify import runner

        if retention_jobs.retention_ensure not in runner.PERIODIC_ENSURES:
            runner.PERIODIC_ENSURES.append(retention_jobs.retention_ensure)
