"""django-otp's devices in the admin, for the one thing staff do with them: remove a
second factor someone lost (app and recovery codes), audited as mfa.remove with the
staff member as actor. Adding or editing a device there is off: a device is made only
by its owner's enrolment (which proves the app holds the secret)."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.identity import audit


class _RemoveOnly:
    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)  # type: ignore[misc]
            _audit(request, [obj.user])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            users = list(User.objects.filter(pk__in=queryset.values("user_id")))
            super().delete_queryset(request, queryset)  # type: ignore[misc]
            _audit(request, users)


def _audit(request: HttpRequest, users: list[User]) -> None:
    actor = request.user if isinstance(request.user, User) else None
    for user in users:
        audit.record(
            audit.SecurityEvent.MFA_REMOVE,
            actor=actor,
            target=user,
            reason="admin",
            request=request,
        )


class TOTPDeviceRemoveAdmin(_RemoveOnly, TOTPDeviceAdmin):  # type: ignore[misc]
    pass


class StaticDeviceRemoveAdmin(_RemoveOnly, StaticDeviceAdmin):  # type: ignore[misc]
    pass


for model, model_admin in (
    (TOTPDevice, TOTPDeviceRemoveAdmin),
    (StaticDevice, StaticDeviceRemoveAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
