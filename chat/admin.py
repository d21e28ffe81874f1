"""Moderation in the Django admin: rooms and messages, searchable and filterable."""

from django.contrib import admin
from django.http import HttpRequest

from chat.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin[Room]):
    list_display = ["name", "slug", "topic", "last_seq", "created_by", "created_at"]
    search_fields = ["name", "slug", "topic"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["last_seq"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ["room", "seq", "author", "short_body", "created_at"]
    list_filter = ["room", "created_at"]
    search_fields = ["body", "author__username"]
    list_select_related = ["room", "author"]
    date_hierarchy = "created_at"
    readonly_fields = ["room", "seq", "author", "client_id", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Messages get their seq from services.message_post; the admin only moderates.
        return False

    @admin.display(description="body")
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"
