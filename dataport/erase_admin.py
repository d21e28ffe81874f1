"""The admin's "Erase user" action on the users' list: a confirmation page (who, and
whether their messages go too), then dataport/erase.py for each. chat.admin's user
admin is extended here because chat may not import dataport."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from chat.admin import ChatUserAdmin
from chat.errors import ChatError
from dataport.erase import user_erase

CONFIRM_TEMPLATE = "admin/dataport/erase_confirm.html"


class ErasingUserAdmin(ChatUserAdmin):
    actions = [*ChatUserAdmin.actions, "erase_users"]

    @admin.action(description="Erase selected users (anonymise; optionally delete messages)")
    def erase_users(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase users",
                "users": list(queryset),
                "selected": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, CONFIRM_TEMPLATE, context)
        actor = request.user
        assert isinstance(actor, User)  # noqa: S101 - the admin requires a staff user
        delete_messages = request.POST.get("delete_messages") == "on"
        for user in queryset:
            try:
                erased = user_erase(user=user, actor=actor, delete_messages=delete_messages)
            except ChatError as error:
                self.message_user(request, f"{user}: {error.detail}", messages.ERROR)
                continue
            self.message_user(
                request,
                f"Erased account {user.pk} (now {erased.username}); "
                f"{erased.messages_deleted} messages deleted.",
            )
        return None


admin.site.unregister(User)
admin.site.register(User, ErasingUserAdmin)
