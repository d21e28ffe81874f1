from django.apps import AppConfig


class DataportConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dataport"
    verbose_name = "Data import, export and retention"

    def ready(self) -> None:
        # notify's runner may not import dataport: dataport hands it its periodic jobs.
        from dataport.userexport_jobs import user_exports_purge_ensure
        from notify import runner

        if user_exports_purge_ensure not in runner.periodic:
            runner.periodic.append(user_exports_purge_ensure)
