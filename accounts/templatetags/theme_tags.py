"""The colour theme of the page (Profile.theme) for base.html's <html data-theme>: read
on the server so the first paint is already in the right theme (no flash)."""

from django import template
from django.template import Context

from accounts import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def page_theme(context: Context) -> str:
    """ "light", "dark" or "system" (anonymous pages, users who never chose)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "system"
    return selectors.profile_theme(user_id=user.pk)
