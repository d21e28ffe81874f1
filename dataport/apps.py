from django.apps import AppConfig


class DataportConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dataport"
    verbose_name = "Data import, export and retention"

    def ready(self) -> None:
        # notify's runner may not import dataport: dataport hands its keeper the jobs
        # to keep queued (the daily retention run, the expired exports' purge).
        from dataport import retention_jobs
        from dataport.userexport_jobs import user_exports_purge_ensure
        from notify import runner

        for ensure in (retention_jobs.retention_ensure, user_exports_purge_ensure):
            if ensure not in runner.periodic:
                runner.periodic.append(ensure)
