"""Notification settings page (placeholder: the email helper replaces this module)."""

from django.http import HttpRequest, HttpResponse


def settings_page(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError
