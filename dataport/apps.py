from django.apps import AppConfig


class DataportConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dataport"
    verbose_name = "Data import, export and retention"
