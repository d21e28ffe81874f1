"""The integrations in the Django admin: bots, incoming and outgoing webhooks, their
deliveries, slash commands. New bots and hooks are made through their services (the
secret is shown once, on the response that made it, never stored in a message)."""

import secrets
from typing import Any
from weakref import WeakKeyDictionary

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from chat import services
from chat.errors import ChatError
from integrations import bots, incoming
from integrations.models import (
    BotAccount,
    CommandResponse,
    Delivery,
    IncomingWebhook,
    OutgoingWebhook,
    SlashCommand,
)
from integrations.outgoing import HookSettings, hook_settings_check, outgoing_create

CREATED_TEMPLATE = "admin/integrations/created.html"


def _actor(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - the admin requires a staff user
    return request.user


def _created(
    admin_site: admin.AdminSite, request: HttpRequest, title: str, what: str, secret: str
) -> HttpResponse:
    context = {**admin_site.each_context(request), "title": title, "what": what, "secret": secret}
    return TemplateResponse(request, CREATED_TEMPLATE, context)


class BotCreateForm(forms.ModelForm[BotAccount]):
    display_name = forms.CharField(max_length=50, required=False)
    owner = forms.ModelChoiceField(User.objects.filter(is_active=True), required=False)

    class Meta:
        model = BotAccount
        fields = ["username"]


@admin.register(BotAccount)
class BotAdmin(admin.ModelAdmin[BotAccount]):
    """Unticking is_active deactivates the bot: integrations/signals.py revokes its
    tokens and hooks on that save, as for every other path."""

    list_display = ["username", "display_name", "owner", "is_active", "date_joined"]
    list_filter = ["is_active"]
    search_fields = ["username", "profile__display_name"]
    fields = ["username", "is_active", "date_joined"]
    readonly_fields = ["username", "date_joined"]
    _secrets: "WeakKeyDictionary[HttpRequest, str]" = WeakKeyDictionary()

    def get_queryset(self, request: HttpRequest) -> QuerySet[BotAccount]:
        return super().get_queryset(request).filter(profile__is_bot=True).select_related("profile")

    @admin.display(description="display name")
    def display_name(self, obj: BotAccount) -> str:
        return obj.profile.display_name

    @admin.display(description="owner")
    def owner(self, obj: BotAccount) -> str:
        owner = obj.profile.bot_owner
        return owner.get_username() if owner else ""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = BotCreateForm
            kwargs["fields"] = ["username", "display_name", "owner"]
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["username", "display_name", "owner"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: BotAccount, form: Any, change: bool) -> None:
        if change:
            active_changed = "is_active" in form.changed_data
            super().save_model(request, obj, form, change)
            if active_changed and not obj.is_active:  # audited, sockets closed, as for people
                services.user_deactivated(user=obj, actor=_actor(request))
            elif active_changed:
                services.user_reactivated(user=obj, actor=_actor(request))
            return
        try:
            bot, secret = bots.bot_create(
                username=form.cleaned_data["username"],
                display_name=form.cleaned_data["display_name"],
                owner=form.cleaned_data["owner"] or _actor(request),
            )
        except ChatError as error:
            raise forms.ValidationError(error.detail) from None
        obj.pk = bot.pk
        obj._state.adding = False
        self._secrets[request] = secret

    def response_add(
        self, request: HttpRequest, obj: BotAccount, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = self._secrets.pop(request, "")
        what = f"Bot {obj.get_username()}: its API token, for Authorization: Bearer <token>."
        return _created(self.admin_site, request, "Bot created", what, secret)


@admin.register(IncomingWebhook)
class IncomingWebhookAdmin(admin.ModelAdmin[IncomingWebhook]):
    list_display = ["name", "room", "bot", "prefix", "created_by", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "room__slug", "prefix"]
    filter_horizontal = ["other_rooms"]
    actions = ["revoke"]
    _secrets: "WeakKeyDictionary[HttpRequest, str]" = WeakKeyDictionary()

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "room", "other_rooms"]
        return [
            "name",
            "room",
            "other_rooms",
            "bot",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["room", "bot", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def save_model(
        self, request: HttpRequest, obj: IncomingWebhook, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        made = incoming.hook_create(room=obj.room, name=obj.name, actor=_actor(request))
        # The admin's form instance becomes the saved hook, so save_related sets its rooms.
        for field in ("pk", "bot_id", "digest", "prefix", "created_by_id", "created_at", "name"):
            setattr(obj, field, getattr(made.hook, field))
        obj._state.adding = False
        self._secrets[request] = made.key

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        incoming.hook_rooms_joined(hook=form.instance)  # private rooms it may now post to

    def response_add(
        self, request: HttpRequest, obj: IncomingWebhook, post_url_continue: str | None = None
    ) -> HttpResponse:
        key = self._secrets.pop(request, "")
        url = request.build_absolute_uri(incoming.hook_path(key)) if key else ""
        what = f"Incoming webhook {obj.name} for #{obj.room.slug}: its URL."
        return _created(self.admin_site, request, "Incoming webhook created", what, url)

    @admin.action(description="Revoke the selected hooks")
    def revoke(self, request: HttpRequest, queryset: QuerySet[IncomingWebhook]) -> None:
        count = 0
        for hook in queryset.filter(revoked_at__isnull=True).select_related("room"):
            incoming.hook_revoke(hook_id=hook.pk, room=hook.room, actor=_actor(request))
            count += 1
        self.message_user(request, f"Revoked {count} hook(s).")


class OutgoingCreateForm(forms.ModelForm[OutgoingWebhook]):
    """What making a hook asks; the service makes its bot and secret and checks the URL."""

    trigger_words = forms.CharField(
        required=False, help_text="Words a message may start with, separated by spaces."
    )

    class Meta:
        model = OutgoingWebhook
        fields = ["name", "room", "url", "on_mention", "on_all"]

    def settings(self) -> HookSettings:
        data = self.cleaned_data
        return HookSettings(
            url=data.get("url", ""),
            triggers=tuple(data.get("trigger_words", "").split()),
            on_mention=bool(data.get("on_mention")),
            on_all=bool(data.get("on_all")),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            hook_settings_check(self.settings())  # the URL's egress rule, the triggers
        except ChatError as error:
            raise forms.ValidationError(error.detail) from None
        return cleaned


@admin.register(OutgoingWebhook)
class OutgoingWebhookAdmin(admin.ModelAdmin[OutgoingWebhook]):
    # Made by integrations/outgoing.py (its bot, its secret, the URL's egress check);
    # saving a hook recounts Room.outgoing_hooks (integrations/receivers.py).
    list_display = ["name", "room", "bot", "url", "enabled", "failures_in_row", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "room__slug", "url"]
    readonly_fields = ["bot", "room", "secret", "failures_in_row", "created_by", "created_at"]
    exclude = ["enabled"]  # switched through the service, which keeps Room.outgoing_hooks
    _secrets: "WeakKeyDictionary[HttpRequest, str]" = WeakKeyDictionary()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        if obj is None:
            kwargs["form"] = OutgoingCreateForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "room", "url", "trigger_words", "on_mention", "on_all"]
        return super().get_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(
        self, request: HttpRequest, obj: OutgoingWebhook, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        hook, secret = outgoing_create(
            room=obj.room, name=obj.name, wanted=form.settings(), actor=_actor(request)
        )
        obj.pk, obj._state.adding = hook.pk, False
        self._secrets[request] = secret

    def response_add(
        self, request: HttpRequest, obj: OutgoingWebhook, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = self._secrets.pop(request, "")
        what = f"Outgoing webhook {obj.name} for #{obj.room.slug}: its signing secret."
        return _created(self.admin_site, request, "Outgoing webhook created", what, secret)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin[Delivery]):
    list_display = ["delivery_id", "hook", "state", "attempts", "status", "latency_ms"]
    list_filter = ["state"]
    search_fields = ["delivery_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SlashCommandForm(forms.ModelForm[SlashCommand]):
    token = forms.CharField(
        max_length=80, required=False, help_text="Sent with every call; blank: a random one."
    )

    class Meta:
        model = SlashCommand
        fields = ["name", "url", "token", "description", "usage", "enabled"]

    def clean_token(self) -> str:
        return str(self.cleaned_data["token"]) or secrets.token_urlsafe(24)


@admin.register(SlashCommand)
class SlashCommandAdmin(admin.ModelAdmin[SlashCommand]):
    form = SlashCommandForm
    list_display = ["name", "url", "enabled", "description", "created_by", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]

    def save_model(self, request: HttpRequest, obj: SlashCommand, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = _actor(request)
        super().save_model(request, obj, form, change)


@admin.register(CommandResponse)
class CommandResponseAdmin(admin.ModelAdmin[CommandResponse]):
    list_display = ["command", "user", "room", "uses", "expires_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
