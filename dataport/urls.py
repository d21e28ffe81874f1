"""Pages of dataport/ (namespace "dataport"), mounted by chatsite/urls.py: the person's
own export lives under /accounts/ with the other account pages."""

from django.urls import path

from dataport import userexport_views

app_name = "dataport"

urlpatterns = [
    path("accounts/export/", userexport_views.export_page, name="export"),
    path(
        "accounts/export/<str:key>/download/",
        userexport_views.export_download,
        name="export-download",
    ),
]
