"""Invitations, profiles and signed-in sessions in the Django admin. Invitations get
their secret from the service when added (shown once, in the confirmation message);
revoking is audited, and so is staff signing out a user's sessions."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts import profiles, services
from accounts.identity import (
    mfa_admin,  # noqa: F401 - the second factor's devices, registered
    oidc_admin,  # noqa: F401 - registers single sign-on links
    sessions,
)
from accounts.models import Invitation, InvitationUse, Profile, SessionRecord
from chat.errors import ChatError


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - the admin requires a staff user
    return request.user


class InvitationUseInline(admin.TabularInline[InvitationUse, Invitation]):
    model = InvitationUse
    extra = 0
    can_delete = False
    readonly_fields = ["username", "user", "used_at", "ip"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ["prefix", "note", "created_by", "created_at", "expires_at", "uses", "max_uses"]
    list_display_links = ["prefix", "note"]
    list_filter = ["revoked_at"]
    search_fields = ["note", "prefix"]
    fields = ["note", "expires_at", "max_uses", "rooms", "prefix", "uses", "created_by"]
    readonly_fields = ["prefix", "uses", "created_by", "revoked_at"]
    filter_horizontal = ["rooms"]
    inlines = [InvitationUseInline]
    actions = ["revoke"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"expires_at": timezone.now() + timedelta(days=7), "max_uses": 1}

    def save_model(self, request: HttpRequest, obj: Invitation, form: Any, change: bool) -> None:
        secret = ""
        if not change:
            secret = services.invitation_created_in_admin(invitation=obj, actor=_actor(request))
        super().save_model(request, obj, form, change)
        if secret:
            link = request.build_absolute_uri(reverse("signup_invited", args=[secret]))
            self.message_user(
                request, f"Invitation link (shown only now): {link}", level=messages.SUCCESS
            )

    @admin.action(description="Revoke the selected invitations")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        for invitation in queryset:
            services.invitation_revoke(invitation_id=invitation.pk, actor=_actor(request))
        self.message_user(request, f"Revoked {queryset.count()} invitation(s).")


class ProfileForm(forms.ModelForm[Profile]):
    class Meta:
        model = Profile
        fields = ["display_name"]

    def clean_display_name(self) -> str:
        try:
            return profiles.display_name_clean(self.cleaned_data["display_name"])
        except ChatError as error:
            raise forms.ValidationError(error.detail) from None


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin[Profile]):
    form = ProfileForm
    list_display = ["user", "display_name", "is_bot", "bot_owner", "updated_at"]
    list_filter = ["is_bot"]
    search_fields = ["user__username", "display_name"]
    # is_bot is set only by integrations.bots (a bot is made one, with no password).
    fields = ["user", "display_name", "avatar", "is_bot", "bot_owner", "version"]
    readonly_fields = ["user", "avatar", "is_bot", "version"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a profile is made when its user first edits it

    def save_model(self, request: HttpRequest, obj: Profile, form: Any, change: bool) -> None:
        # Through the service: validated, versioned, and live for everyone.
        profiles.profile_update(user=obj.user, display_name=obj.display_name)
        if "bot_owner" in form.changed_data:
            Profile.objects.filter(pk=obj.pk).update(bot_owner=obj.bot_owner)


@admin.register(SessionRecord)
class SessionRecordAdmin(admin.ModelAdmin[SessionRecord]):
    """Staff see who is signed in where and end a user's sessions (search by username,
    select, "Sign out"): their sockets close on every process, each audited with the
    staff member as actor. Records are written only by log-ins."""

    list_display = ["user", "device", "ip", "method", "provider", "created_at", "last_seen_at"]
    list_filter = ["method", "provider", "second_factor"]
    search_fields = ["user__username", "ip"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "user_agent",
        "ip",
        "method",
        "provider",
        "second_factor",
        "created_at",
        "last_seen_at",
    ]
    exclude = ["session_key"]  # a credential: never shown
    actions = ["sign_out"]

    @admin.display(description="device")
    def device(self, obj: SessionRecord) -> str:
        return sessions.device_describe(obj.user_agent)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # "Sign out" ends the session itself, not only its record

    @admin.action(description="Sign out the selected sessions (closes their connections)")
    def sign_out(self, request: HttpRequest, queryset: QuerySet[SessionRecord]) -> None:
        ended = sessions.sessions_sign_out_by_staff(
            records=list(queryset), actor=_actor(request), request=request
        )
        self.message_user(request, f"Signed out {ended} session(s).")
