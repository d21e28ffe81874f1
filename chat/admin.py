"""Moderation in the Django admin. Every action goes through a service, so it is
audited and takes effect live (sockets closed, messages removed from open clients)."""

import weakref
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from chat import services
from chat.models import ApiToken, AuditLog, Membership, Message, MessageEdit, Room, Sanction


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - the admin requires a staff user
    return request.user


class MembershipInline(admin.TabularInline[Membership, Room]):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]
    readonly_fields = ["added_at"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin[Room]):
    list_display = [
        "name",
        "slug",
        "is_private",
        "is_direct",
        "is_locked",
        "is_default",
        "last_seq",
        "created_at",
    ]
    list_filter = ["is_private", "is_direct", "is_locked", "is_default"]
    search_fields = ["name", "slug", "topic"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["last_seq", "is_direct"]
    inlines = [MembershipInline]
    actions = ["lock_rooms", "unlock_rooms"]

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        lock_changed = change and "is_locked" in form.changed_data
        super().save_model(request, obj, form, change)
        if lock_changed:
            services.room_lock(room=obj, locked=obj.is_locked, actor=_actor(request))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        room = form.instance
        for removed in formset.deleted_objects:
            services.membership_remove(room=room, user=removed.user, actor=_actor(request))
        for added in formset.new_objects:
            services.membership_add(room=room, user=added.user, actor=_actor(request))

    @admin.action(description="Lock selected rooms (read-only for non-staff)")
    def lock_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            services.room_lock(room=room, locked=True, actor=_actor(request))

    @admin.action(description="Unlock selected rooms")
    def unlock_rooms(self, request: HttpRequest, queryset: QuerySet[Room]) -> None:
        for room in queryset:
            services.room_lock(room=room, locked=False, actor=_actor(request))


class MessageEditInline(admin.TabularInline[MessageEdit, Message]):
    model = MessageEdit
    extra = 0
    can_delete = False
    readonly_fields = ["body", "edited_at"]
    verbose_name_plural = "earlier versions (edits)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageModerationForm(forms.ModelForm[Message]):
    hide = forms.BooleanField(required=False, help_text="Remove it from every client.")
    reason = forms.CharField(required=False, max_length=500)

    class Meta:
        model = Message
        fields: list[str] = []


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    form = MessageModerationForm
    list_display = ["room", "seq", "author", "short_body", "created_at", "edited_at", "is_deleted"]
    list_filter = [
        "room",
        "created_at",
        ("deleted_at", admin.EmptyFieldListFilter),
        ("thread", admin.EmptyFieldListFilter),  # "not empty": thread replies
    ]
    search_fields = ["body", "author__username"]
    list_select_related = ["room", "author"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "room",
        "seq",
        "author",
        "body",
        "client_id",
        "thread",
        "also_to_room",
        "created_at",
        "edited_at",
        "deleted_at",
        "deleted_by",
    ]
    inlines = [MessageEditInline]
    actions = ["hide_messages"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Messages get their seq from services.message_post; the admin only moderates.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # moderation hides (audited, live); rows are never destroyed here

    def save_model(self, request: HttpRequest, obj: Message, form: Any, change: bool) -> None:
        if form.cleaned_data.get("hide") and obj.deleted_at is None:
            services.message_delete(
                message_id=obj.pk, user=_actor(request), reason=form.cleaned_data["reason"]
            )

    @admin.action(description="Delete (hide) selected messages")
    def hide_messages(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        hidden = 0
        for message in queryset.filter(deleted_at__isnull=True):
            services.message_delete(message_id=message.pk, user=_actor(request))
            hidden += 1
        self.message_user(request, f"{hidden} message(s) hidden.", messages.SUCCESS)

    @admin.display(description="body")
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"

    @admin.display(description="deleted", boolean=True)
    def is_deleted(self, obj: Message) -> bool:
        return obj.deleted_at is not None


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin[Sanction]):
    list_display = ["kind", "user", "room", "reason", "expires_at", "created_by", "lifted_at"]
    list_filter = [
        "kind",
        ("room", admin.EmptyFieldListFilter),
        ("lifted_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["user__username", "reason"]
    autocomplete_fields = ["user", "room"]
    fields = ["kind", "user", "room", "reason", "expires_at"]
    actions = ["lift_sanctions"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None  # a sanction is lifted, not edited: the record stays as it was

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Sanction, form: Any, change: bool) -> None:
        obj.created_by = _actor(request)
        super().save_model(request, obj, form, change)
        services.sanction_applied(sanction=obj, actor=_actor(request))

    @admin.action(description="Lift selected sanctions")
    def lift_sanctions(self, request: HttpRequest, queryset: QuerySet[Sanction]) -> None:
        for sanction in queryset.filter(lifted_at__isnull=True):
            services.sanction_lift(sanction=sanction, actor=_actor(request))


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin[AuditLog]):
    """Append-only: readable by staff, never added, changed or deleted here."""

    list_display = ["created_at", "actor", "action", "target", "target_user", "reason", "ip"]
    # By event, who did it, whom it was about, when, and from where (security events).
    list_filter = [
        "action",
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("target_user", admin.RelatedOnlyFieldListFilter),
        "created_at",
        "ip",
    ]
    search_fields = ["actor__username", "target_user__username", "target", "reason", "ip"]
    list_select_related = ["actor", "target_user"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiTokenForm(forms.ModelForm[ApiToken]):
    class Meta:
        model = ApiToken
        fields = ["user", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    """Staff create tokens for users (the secret is shown once) and revoke (delete) any."""

    form = ApiTokenForm
    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    search_fields = ["name", "user__username", "prefix"]
    autocomplete_fields = ["user"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    _secrets: "weakref.WeakKeyDictionary[HttpRequest, str]" = weakref.WeakKeyDictionary()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None  # a token is revoked and made anew, not edited

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        created = services.token_create(user=obj.user, name=obj.name, actor=_actor(request))
        obj.pk, obj.prefix = created.token.pk, created.token.prefix
        # Shown by response_add on this response only: never stored, not even in a
        # message cookie.
        self._secrets[request] = created.secret

    def response_add(
        self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = self._secrets.pop(request, "")
        context = {**self.admin_site.each_context(request), "token": obj, "secret": secret}
        return TemplateResponse(request, "admin/chat/apitoken/created.html", context)

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        # Through the service: revoked and audited once (token.revoke, actor: staff).
        services.token_revoke(token_id=obj.pk, user=obj.user, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            self.delete_model(request, token)


admin.site.unregister(User)


@admin.register(User)
class ChatUserAdmin(BaseUserAdmin[User]):
    actions = ["deactivate_users"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Each change of access is a security event, with the staff member who made it.
        changed = form.changed_data if change else []
        super().save_model(request, obj, form, change)
        if "is_active" in changed:
            if obj.is_active:
                services.user_reactivated(user=obj, actor=_actor(request))
            else:
                services.user_deactivated(user=obj, actor=_actor(request))
        if "is_staff" in changed:
            services.user_staff_changed(user=obj, actor=_actor(request))

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        # Django's view answers a saved password with a redirect to the user's change
        # page (and a refused form with the form or a redirect to itself).
        user = User.objects.filter(pk=id).first() if id.isdigit() else None
        done = user is not None and reverse("admin:auth_user_change", args=[user.pk])
        if (
            request.method == "POST"
            and response.status_code == 302
            and response["Location"] == done
        ):
            assert user is not None  # noqa: S101 - `done` needs it
            services.audit_record(
                actor=_actor(request),
                action="password.change",
                target=str(user),
                target_user=user,
                reason="by staff in the admin",
                security=True,
            )
        return response

    @admin.action(description="Deactivate selected users (closes their connections)")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.filter(is_active=True):
            services.user_deactivate(user=user, actor=_actor(request))
