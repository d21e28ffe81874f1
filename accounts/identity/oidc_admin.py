"""The admin's view of single sign-on links: who is linked to which provider identity,
searchable; deleting a row unlinks it (that person's next SSO log-in follows the account
rules again). Links are made only by log-ins, never by hand."""

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import SsoIdentity


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin[SsoIdentity]):
    list_display = ["user", "provider", "sub", "linked_at", "last_login"]
    list_filter = ["provider"]
    search_fields = ["user__username", "user__email", "sub"]
    list_select_related = ["user"]
    readonly_fields = ["user", "provider", "sub", "linked_at", "last_login"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SsoIdentity | None = None) -> bool:
        return False
